#!/usr/bin/env python3
"""The study of docs/study.md: downstream lift of llatte's embeddings, and the offline model's scaling.

    python3 reference/study.py --out out/study [--quick] [--llatte .build/release/llatte]

(`make study` builds llatte and runs this.) Writes, under --out: `downstream-{sample,returning}/downstream.json`
and `downstream-*.png` (reference/downstream.py, on the committed sample and on generated data with
returning users), the scaling results, tables and figures
(reference/scaling.py), and `study.md` with every table. Seeds are fixed, so a rerun on the same
machine and thread count gives the same numbers. `--quick` is a smoke test of every step (minutes,
not the figures of docs/study.md).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import downstream  # noqa: E402


# The downstream data sets: the committed sample (interests that never change), and a generated one
# where half the users return to a few categories and items every 2-4 weeks (docs/data.md).
DOWNSTREAM_SETS = [
    ("sample", "the committed sample", None),
    ("returning", "half the users returning",
     ["--users", "4000", "--days", "30", "--seed", "7", "--activity-scale", "0.25", "--activity-sigma", "1.4",
      "--truth-impression-days", "7", "--returning-share", "0.5"]),
]


def downstream_figure(result: dict, path: str) -> None:
    """Held-out AUC and NE of each embedding variant, seed mean with its 95% interval."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b = result["bootstrap"]
    names = downstream.VARIANTS
    labels = ["no embedding", "refreshed on\nconversion", "nightly\n(as of midnight)", "one day stale"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, key, title in [(axes[0], "auc", "held-out AUC (higher is better)"),
                           (axes[1], "ne", "normalized entropy (lower is better)")]:
        mid = [b[v][key] for v in names]
        err = [[m - b[v][f"{key}_lo"] for v, m in zip(names, mid)], [b[v][f"{key}_hi"] - m for v, m in zip(names, mid)]]
        ax.bar(range(len(names)), mid, yerr=err, capsize=4,
               color=["#999999", "#1f77b4", "#6baed6", "#c6dbef"], edgecolor="black", linewidth=0.5)
        ax.set_xticks(range(len(names)), labels, fontsize=8)
        lo = min(b[v][f"{key}_lo"] for v in names)
        hi = max(b[v][f"{key}_hi"] for v in names)
        ax.set_ylim(lo - 0.2 * (hi - lo), hi + 0.2 * (hi - lo))
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"Downstream conversion model, {result['held_out_impressions']:,} held-out impressions of "
                 f"{result['held_out_users']:,} users; mean of {result['seeds']} seeds, 95% CI over users", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    """Parses the arguments, runs both parts, and writes study.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/study")
    ap.add_argument("--llatte", default=".build/release/llatte")
    ap.add_argument("--quick", action="store_true", help="smoke test of every step, small and fast")
    ap.add_argument("--only", choices=["downstream", "scaling"], help="run one part")
    args = ap.parse_args()
    t0 = time.time()
    os.makedirs(args.out, exist_ok=True)
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    parts = []
    if args.only in (None, "downstream"):
        for name, title, sample in DOWNSTREAM_SETS:
            if sample is not None and args.quick:
                sample = [("1000" if prev == "--users" else v) for prev, v in zip([""] + sample, sample)]
            res = downstream.run(os.path.join(args.out, f"downstream-{name}"), args.quick, args.llatte,
                                 sample=sample, log=log)
            downstream_figure(res, os.path.join(args.out, f"downstream-{name}.png"))
            parts.append(f"## Downstream lift: {title}\n\n" + downstream.table(res)
                         + "\n\nWhere the conversion-triggered refresh changed the embedding:\n\n"
                         + downstream.table(res, "bootstrap_refresh_changed")
                         + f"\n\n![downstream](downstream-{name}.png)\n")
            log(f"study: downstream on {name} done ({time.time() - t0:.0f} s)")
    if args.only in (None, "scaling"):
        import scaling
        scaling.run(os.path.join(args.out, "scaling"), args.quick, args.llatte, log=log)
        with open(os.path.join(args.out, "scaling", "scaling.md")) as fh:
            parts.append("## Scaling (figures in scaling/)\n\n" + fh.read() + "\n")
        log(f"study: scaling done ({time.time() - t0:.0f} s)")
    with open(os.path.join(args.out, "study.md"), "w") as fh:
        fh.write(f"# Study results{' (quick)' if args.quick else ''}\n\n" + "\n".join(parts))
    log(f"study: wrote {args.out}/study.md ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
