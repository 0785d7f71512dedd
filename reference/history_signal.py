#!/usr/bin/env python3
"""Does the data carry long-range signal? Held-out AUC of the category-count diagnostic as it sees
more of each user's history.

    python3 reference/history_signal.py --data sample-data

The held-out set and the diagnostic are docs/evaluation.md's: every truth impression at or after the
split day, labelled by its realized `converted`, scored by the share of the user's pre-split events
whose item is in the impressed item's category, `(count + 0.1) / (events + 2.4)`. Here the diagnostic
sees only part of the pre-split history:

- `last n`: the user's newest n events before the split (all of them when the user has fewer);
- `spread n`: n events spaced evenly over the whole pre-split history (same count as `last n`).

If conversions depend on how the user behaved weeks ago, `last n` keeps rising with n well past the
last few dozen events. If `spread n` matches `last n` at every n, recency carries nothing: what rises
is only the precision of a count of a fixed interest mix, not information about the past.
A count cannot see *when* a category comes back, so `phase last n` adds timing: for an impression on
day d, the larger of the plain share and the share among the events on days at the same phase of a
14-, 21- or 28-day period (the periods of `llatte sample --periodic-share`).
`item last n` reads items: the score is how many of the events given are of the impressed item
(plus the plain share, which orders the rest), the repurchase of a named item that
`llatte sample --returning-share` puts weeks back; the report also says how far back the newest
earlier event of the item lies.
Also scored: the user's true interest weight in the category (truth/users.jsonl, the limit of the
count as n grows when interests do not change; with `--periodic-share` also the interest of the
impression's day) and the generator's `p_convert` (the ceiling).
Intervals: bootstrap over users (llatte_ref.metrics.bootstrap). Needs numpy and lz4, not torch.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llatte_ref import data  # noqa: E402
from llatte_ref.metrics import bootstrap  # noqa: E402
from llatte_ref.tokenizer import user_history  # noqa: E402

DAY = 86400
LENGTHS = (8, 16, 32, 64, 128, 256, 512, 1024)
MARKET_DAYS = 2  # PeriodicInterest.marketDays in Sources/Sample
PERIODS = (14, 21, 28)  # PeriodicInterest.draw's periods
N_CATEGORIES = 24


def histories(data_dir: str, split: int, start_ts: int,
              cat: dict[int, int]) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """uid -> (categories, days, item ids) of the user's deduplicated events with ts < split, in history
    order (category -1 for an item missing from truth/items.jsonl; day 0 is the generator's first day)."""
    lo, hi = data.ts_range(data_dir)
    by_user: dict[int, list] = collections.defaultdict(list)
    for ev in data.read_events(os.path.join(data_dir, "events"), lo, hi, collections.Counter()):
        if ev.ts < split:
            by_user[ev.user_id].append(ev)
    out = {}
    for u, evs in by_user.items():
        h = user_history(evs)
        out[u] = (np.array([cat.get(e.item_id, -1) for e in h], np.int64),
                  np.array([(e.ts - start_ts) // DAY for e in h], np.int64),
                  np.array([e.item_id for e in h], np.uint64))
    return out


def share(hist: np.ndarray, c: int) -> float:
    """docs/evaluation.md's diagnostic: the smoothed share of the events in category c."""
    return (float(np.count_nonzero(hist == c)) + 0.1) / (len(hist) + 2.4)


def shares(cats: np.ndarray) -> np.ndarray:
    """share() of every category at once: [N_CATEGORIES]."""
    counts = np.bincount(cats[cats >= 0], minlength=N_CATEGORIES).astype(np.float64)
    return (counts + 0.1) / (len(cats) + 2.4)


def phase_shares(cats: np.ndarray, days: np.ndarray, day: int) -> np.ndarray:
    """Timing-aware diagnostic for an impression on `day`, per category: the larger of the share over
    the events given and, for each period of PERIODS, the share over the events on days at the same
    phase (one period back, give or take a day: market days come in pairs). A category the user came
    back to exactly one, two or three periods ago scores high; the plain share cannot see that."""
    best = shares(cats)
    for period in PERIODS:
        off = (day - days) % period
        at = (off <= 1) | (off == period - 1)
        if at.any():
            best = np.maximum(best, shares(cats[at]))
    return best


def spread(hist: np.ndarray, n: int) -> np.ndarray:
    """n events evenly spaced over the history (the newest always included); all when it has n or fewer."""
    if len(hist) <= n:
        return hist
    return hist[np.round(np.linspace(len(hist) - 1, 0, n)).astype(np.int64)]


def day_interest(base: list[float], schedules: list[dict], c: int, day: int) -> float:
    """The user's interest in category c on the day (docs/data.md, `--periodic-share` and
    `--returning-share`): the base mix; each category in the market that day takes its `weight` of the
    mix so far, in the order periodic, then returning."""
    x = base[c]
    for q in schedules:
        if (day + q["phase"]) % q["period_days"] < MARKET_DAYS:
            x = q["weight"] if c == q["category"] else (1 - q["weight"]) * x
    return x


def item_score(cats: np.ndarray, items: np.ndarray, c: int, item: int) -> float:
    """How many of the events are of `item`, plus the plain share of category c (it orders the rest)."""
    return float(np.count_nonzero(items == item)) + share(cats, c)


def main() -> None:
    """Reads the data set, scores the held-out impressions with every variant and prints the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="sample-data")
    ap.add_argument("--split-day", type=int, help="first held-out day (default: the last 7 days)")
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--json-out")
    args = ap.parse_args()
    t0 = time.time()

    with open(os.path.join(args.data, "manifest.json")) as fh:
        manifest = json.load(fh)
    options = manifest["options"]
    if len(manifest["categories"]) != N_CATEGORIES:
        raise SystemExit(f"{len(manifest['categories'])} categories in the manifest; history_signal.py knows {N_CATEGORIES}")
    split_day = args.split_day if args.split_day is not None else options["days"] - 7
    split = int(options["start_ts"]) + split_day * DAY
    cat = {}
    with open(os.path.join(args.data, "truth", "items.jsonl")) as fh:
        for line in fh:
            r = json.loads(line)
            cat[r["item_id"]] = r["category"]
    interests, periodic = {}, {}
    with open(os.path.join(args.data, "truth", "users.jsonl")) as fh:
        for line in fh:
            r = json.loads(line)
            interests[r["user_id"]] = r["interests"]
            schedules = ([r["periodic"]] if r.get("periodic") else []) + (r.get("returning") or [])
            if schedules:
                periodic[r["user_id"]] = schedules
    rows = []
    for line in data.read_bytes(os.path.join(args.data, "truth", "impressions.jsonl.lz4")).splitlines():
        if line.strip():
            r = json.loads(line)
            if r["ts"] >= split:
                rows.append((r["user_id"], r["category"], r["converted"], r["p_convert"],
                             (r["ts"] - int(options["start_ts"])) // DAY, r["item_id"]))
    if not rows:
        raise SystemExit(f"no truth impressions at or after day {split_day}")
    both = histories(args.data, split, int(options["start_ts"]), cat)
    hist = {u: h[0] for u, h in both.items()}
    empty = np.zeros(0, np.int64)
    no_items = np.zeros(0, np.uint64)

    users = np.array([r[0] for r in rows], np.uint64)
    labels = np.array([r[2] for r in rows], np.float64)
    lengths = np.array([len(hist.get(r[0], empty)) for r in rows])
    scorers: dict[str, np.ndarray] = {}
    for n in LENGTHS:
        scorers[f"last {n}"] = np.array([share(hist.get(u, empty)[-n:], c) for u, c, *_ in rows])
    scorers["all"] = np.array([share(hist.get(u, empty), c) for u, c, *_ in rows])
    for n in LENGTHS:
        scorers[f"spread {n}"] = np.array([share(spread(hist.get(u, empty), n), c) for u, c, *_ in rows])
    phase_cache: dict[tuple[int, int, int], np.ndarray] = {}

    def phase(u: int, c: int, d: int, n: int) -> float:
        key = (u, d, n)
        if key not in phase_cache:
            cats, days, _ = both.get(u, (empty, empty, no_items))
            phase_cache[key] = phase_shares(cats[-n:], days[-n:], d) if n else phase_shares(cats, days, d)
        return float(phase_cache[key][c])

    for n in LENGTHS:
        scorers[f"phase last {n}"] = np.array([phase(u, c, d, n) for u, c, _, _, d, _ in rows])
    scorers["phase all"] = np.array([phase(u, c, d, 0) for u, c, _, _, d, _ in rows])

    def user_items(u: int) -> np.ndarray:
        return both[u][2] if u in both else no_items

    for n in LENGTHS:
        scorers[f"item last {n}"] = np.array([item_score(hist.get(u, empty)[-n:], user_items(u)[-n:], c, i)
                                              for u, c, _, _, _, i in rows])
    scorers["item all"] = np.array([item_score(hist.get(u, empty), user_items(u), c, i) for u, c, _, _, _, i in rows])
    # How far back the newest earlier event of the impressed item lies: events and days (-1: not in the history).
    events_back = np.full(len(rows), -1, np.int64)
    days_back = np.full(len(rows), -1, np.int64)
    for k, (u, _, _, _, d, i) in enumerate(rows):
        at = np.flatnonzero(user_items(u) == i)
        if len(at):
            events_back[k] = len(user_items(u)) - at[-1]
            days_back[k] = d - both[u][1][at[-1]]
    scorers["true interest"] = np.array([interests[u][c] for u, c, *_ in rows])
    if periodic:
        scorers["true interest of the day"] = np.array([day_interest(interests[u], periodic.get(u, []), c, d)
                                                        for u, c, _, _, d, _ in rows])
    scorers["oracle p_convert"] = np.array([r[3] for r in rows])
    diffs = ([("all", f"last {n}") for n in LENGTHS] + [(f"last {n}", f"spread {n}") for n in LENGTHS]
             + [("phase all", f"phase last {n}") for n in LENGTHS] + [("phase all", "all")]
             + [("item all", f"item last {n}") for n in LENGTHS] + [("item all", "all")])
    res = bootstrap(users, labels, scorers, reps=args.reps, seed=0, diffs=diffs)

    n_users = len(set(r[0] for r in rows))
    print(f"{args.data}: held out from day {split_day}: {len(rows)} impressions of {n_users} users, "
          f"{int(labels.sum())} converted; pre-split history of those users: median "
          f"{int(np.median([len(hist.get(u, empty)) for u in set(r[0] for r in rows)]))} events")
    print(f"AUC, 95% CI over users ({args.reps} bootstrap replicates)")
    print(f"{'n':>6s}  {'impressions of users with > n events':>37s}  {'last n':>24s}  "
          f"{'all - last n':>25s}  {'spread n':>24s}  {'last n - spread n':>25s}")

    def auc(k):
        r = res[k]
        return f"{r['auc']:.4f} [{r['lo']:.4f}, {r['hi']:.4f}]"

    def diff(k):
        r = res[k]
        return f"{r['diff']:+.4f} [{r['lo']:+.4f}, {r['hi']:+.4f}]"

    for n in LENGTHS:
        print(f"{n:>6d}  {np.mean(lengths > n):>37.1%}  {auc(f'last {n}'):>24s}  {diff(f'all - last {n}'):>25s}  "
              f"{auc(f'spread {n}'):>24s}  {diff(f'last {n} - spread {n}'):>25s}")
    print(f"{'all':>6s}  {'':>37s}  {auc('all'):>24s}")
    print("timing-aware diagnostic (share at the same phase of 14, 21, 28 days, or the plain share if higher)")
    print(f"{'n':>6s}  {'phase last n':>24s}  {'phase all - phase last n':>25s}")
    for n in LENGTHS:
        print(f"{n:>6d}  {auc(f'phase last {n}'):>24s}  {diff(f'phase all - phase last {n}'):>25s}")
    print(f"{'all':>6s}  {auc('phase all'):>24s}  phase all - all: {diff('phase all - all')}")
    print("item return (events of the impressed item among the events given, plus the plain share)")
    print(f"{'n':>6s}  {'item last n':>24s}  {'item all - item last n':>25s}")
    for n in LENGTHS:
        print(f"{n:>6d}  {auc(f'item last {n}'):>24s}  {diff(f'item all - item last {n}'):>25s}")
    print(f"{'all':>6s}  {auc('item all'):>24s}  item all - all: {diff('item all - all')}")
    seen = events_back >= 0
    conv = labels > 0
    print(f"impressed item in the pre-split history: {seen.mean():.1%} of impressions, converting "
          f"{labels[seen].mean() if seen.any() else 0:.2%} (others {labels[~seen].mean():.2%}); "
          f"{(seen & conv).sum()} of {int(conv.sum())} conversions")
    if (seen & conv).any():
        eb, db = events_back[seen & conv], days_back[seen & conv]
        print(f"  converted impressions of such items: newest earlier event of the item median {int(np.median(eb))} "
              f"events back ({np.mean(eb > 64):.0%} more than 64, {np.mean(eb > 128):.0%} more than 128), "
              f"median {int(np.median(db))} days back ({np.mean(db >= 7):.0%} 7 days or more)")
    print(f"true interest weight of the category: {auc('true interest')}")
    if periodic:
        print(f"true interest of the impression's day: {auc('true interest of the day')}")
    print(f"oracle p_convert:                     {auc('oracle p_convert')}")
    print(f"({time.time() - t0:.0f} s)")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump({"data": args.data, "split_day": split_day, "n_impressions": len(rows), "n_users": n_users,
                       "n_converted": int(labels.sum()),
                       "share_longer": {n: float(np.mean(lengths > n)) for n in LENGTHS},
                       "item_in_history": float(np.mean(events_back >= 0)),
                       "bootstrap": res}, fh, indent=2)


if __name__ == "__main__":
    main()
