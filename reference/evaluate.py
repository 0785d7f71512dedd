#!/usr/bin/env python3
"""Held-out conversion AUC of int8 user embeddings, with user-bootstrap confidence intervals.

    python3 reference/evaluate.py --data sample-data --checkpoint sample-data/checkpoint \
        --state /tmp/llatte-run/sample-v1.pt --untrained /tmp/llatte-run/untrained.pt

The held-out set is every impression in truth/impressions.jsonl.lz4 at or after the split (the
generator's last days), labelled by its realized `converted`. Each user is encoded from the events
with ts < split only, the embedding is quantized (llatte_ref.model.quantize) and dequantized
(code * scale), and each impression is scored with the tower trained alongside the encoder.
Compared with: item popularity from the training days, the same architecture with its random
encoder frozen (only the tower trained), and the generator's own p_convert (oracle).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llatte_ref import checkpoint, data, dataset  # noqa: E402
from llatte_ref.config import ModelConfig  # noqa: E402
from llatte_ref.metrics import bootstrap, roc_auc  # noqa: E402
from llatte_ref.model import LLaTTE, Batch, quantize  # noqa: E402
from llatte_ref.tower import ItemTower, score  # noqa: E402

DAY = dataset.DAY


def held_out(data_dir: str, split: int) -> list[dict]:
    """Truth impressions at or after the split."""
    rows = []
    for line in data.read_bytes(os.path.join(data_dir, "truth", "impressions.jsonl.lz4")).splitlines():
        if line.strip():
            r = json.loads(line)
            if r["ts"] >= split:
                rows.append(r)
    return rows


def encode(model: LLaTTE, corpus: dataset.Corpus, uids: list[int], cut: int, batch: int = 32) -> dict[int, np.ndarray]:
    """uid -> dequantized int8 embedding [K, D] of the history before cut."""
    out = {}
    order = sorted(uids, key=lambda u: corpus.tokens(u, cut).n)
    model.eval()
    with torch.no_grad():
        for s in range(0, len(order), batch):
            part = order[s:s + batch]
            z = model(Batch([corpus.tokens(u, cut) for u in part], corpus.cfg)).numpy()
            for u, zu in zip(part, z):
                codes, scales = quantize(zu)
                out[u] = codes.astype(np.float32) * scales[:, None]
    return out


def tower_scores(state: dict, corpus: dataset.Corpus, emb: dict[int, np.ndarray], rows: list[dict]) -> np.ndarray:
    """Score of every held-out impression: the run's score mode over its tower."""
    cfg = corpus.cfg
    tower = ItemTower(cfg.d_sem, cfg.interest_dim, state["tower_buckets"])
    tower.load_state_dict(state["tower"])
    tower.eval()
    items = np.array([r["item_id"] for r in rows], np.uint64)
    idx = np.array([corpus.sem_index.get(int(i), -1) for i in items])
    sem = torch.from_numpy(corpus.sem_matrix[np.maximum(idx, 0)])
    with torch.no_grad():
        t = tower(sem, torch.from_numpy(idx < 0), tower.id_bucket(items))
        z = torch.from_numpy(np.stack([emb[r["user_id"]] for r in rows]))
        return score(z, t, state["score"]).numpy().astype(np.float64)


def popularity(corpus: dataset.Corpus, split: int, rows: list[dict]) -> dict[str, np.ndarray]:
    """Item popularity from events before the split: conversions, clicks, impressions, smoothed conversion rate."""
    imp, clk, conv = collections.Counter(), collections.Counter(), collections.Counter()
    types = corpus.cfg.types
    for u in corpus.users.values():
        before = u.ts < split
        for it, ty in zip(u.item[before].tolist(), u.type_index[before].tolist()):
            name = types[ty - 1] if ty > 0 else None
            if name == "impression":
                imp[it] += 1
            elif name == "click":
                clk[it] += 1
            elif name in dataset.CONVERSIONS:
                conv[it] += 1
    rate = sum(conv.values()) / max(1, sum(imp.values()))
    prior = 20.0  # pseudo-impressions: shrinks the rate of rarely shown items towards the global rate
    items = [r["item_id"] for r in rows]
    return {
        "popularity: conversions": np.array([conv[i] for i in items], np.float64),
        "popularity: clicks": np.array([clk[i] for i in items], np.float64),
        "popularity: impressions": np.array([imp[i] for i in items], np.float64),
        "popularity: conversion rate": np.array([(conv[i] + prior * rate) / (imp[i] + prior) for i in items]),
    }


def category_share(data_dir: str, corpus: dataset.Corpus, split: int, rows: list[dict]) -> np.ndarray:
    """Diagnostic, not a deployable baseline (it reads truth/items.jsonl): the share of the user's
    pre-split events whose item is in the impressed item's category, lightly smoothed."""
    cat = {}
    with open(os.path.join(data_dir, "truth", "items.jsonl")) as fh:
        for line in fh:
            r = json.loads(line)
            cat[r["item_id"]] = r["category"]
    hist: dict[int, collections.Counter] = {}
    out = np.zeros(len(rows))
    for j, r in enumerate(rows):
        uid = r["user_id"]
        if uid not in hist:
            u = corpus.users.get(uid)
            hist[uid] = collections.Counter(cat.get(i, -1) for i in (u.item[u.ts < split].tolist() if u else []))
        h = hist[uid]
        out[j] = (h[r["category"]] + 0.1) / (sum(h.values()) + 2.4)
    return out


def main() -> None:
    """Parses the arguments, scores the held-out impressions and prints the AUC table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="sample-data")
    ap.add_argument("--checkpoint", help="exported checkpoint directory (the encoder evaluated, as stored)")
    ap.add_argument("--state", required=True, help="train.py output whose tower scores the embeddings")
    ap.add_argument("--untrained", help="train.py --freeze-encoder output: random encoder + trained tower")
    ap.add_argument("--split-day", type=int, default=23)
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json-out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    state = torch.load(args.state, weights_only=False)
    cfg = ModelConfig.from_json(state["config"])
    corpus = dataset.load(args.data, cfg)
    if state["args"].get("ids_only"):
        corpus = dataset.without_semantics(corpus)
    split = corpus.start_ts + args.split_day * DAY
    rows = held_out(args.data, split)
    users = np.array([r["user_id"] for r in rows], np.uint64)
    labels = np.array([r["converted"] for r in rows], np.float64)
    uids = sorted(set(int(u) for u in users))
    # Data-derived labels: the training rule (last-touch attribution of the user's conversion events).
    derived = np.zeros(len(rows))
    for j, r in enumerate(rows):
        u = corpus.users.get(r["user_id"])
        if u is not None:
            at = np.flatnonzero(u.is_impression & (u.ts == r["ts"]) & (u.item == np.uint64(r["item_id"])))
            if len(at):
                derived[j] = dataset.converted(u, r["ts"], r["item_id"], int(u.next_same_ts[at[0]]),
                                               np.iinfo(np.int64).max)
    print(f"held out: {len(rows)} impressions of {len(uids)} users, {int(labels.sum())} converted "
          f"({int(derived.sum())} by the data-derived rule)", flush=True)

    scorers: dict[str, np.ndarray] = {}
    if args.checkpoint:
        model = checkpoint.load(args.checkpoint)
        if model.cfg.to_json() != cfg.to_json():
            raise SystemExit("checkpoint config differs from the training state's")
        scorers["llatte int8 (checkpoint)"] = tower_scores(state, corpus, encode(model, corpus, uids, split), rows)
    m32 = LLaTTE(cfg)
    m32.load_state_dict(state["encoder"])
    scorers["llatte int8 (f32 weights)"] = tower_scores(state, corpus, encode(m32, corpus, uids, split), rows)
    if args.untrained:
        ustate = torch.load(args.untrained, weights_only=False)
        mu = LLaTTE(cfg)
        mu.load_state_dict(ustate["encoder"])
        scorers["untrained encoder + trained tower"] = tower_scores(ustate, corpus, encode(mu, corpus, uids, split), rows)
    scorers.update(popularity(corpus, split, rows))
    scorers["diagnostic: history category share"] = category_share(args.data, corpus, split, rows)
    scorers["oracle p_convert"] = np.array([r["p_convert"] for r in rows])

    main_name = "llatte int8 (checkpoint)" if args.checkpoint else "llatte int8 (f32 weights)"
    pops = [k for k in scorers if k.startswith("popularity")]
    best_pop = max(pops, key=lambda k: roc_auc(scorers[k], labels))
    diffs = [(main_name, best_pop)] + ([(main_name, "untrained encoder + trained tower")] if args.untrained else [])
    res = bootstrap(users, labels, scorers, reps=args.reps, seed=0, diffs=diffs)
    res_derived = {k: roc_auc(s, derived) for k, s in scorers.items()}
    print(f"{'scorer':40s} {'AUC':>7s}  95% CI (users resampled, {args.reps} reps)   AUC on data-derived labels")
    for k in scorers:
        r = res[k]
        print(f"{k:40s} {r['auc']:.4f}  [{r['lo']:.4f}, {r['hi']:.4f}]   {res_derived[k]:.4f}")
    for a, b in diffs:
        r = res[f"{a} - {b}"]
        print(f"{a} - {b}: {r['diff']:+.4f}  [{r['lo']:+.4f}, {r['hi']:+.4f}]")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump({"n_impressions": len(rows), "n_users": len(uids), "n_converted": int(labels.sum()),
                       "bootstrap": res, "auc_derived_labels": res_derived,
                       "checkpoint_identity": checkpoint.identity(args.checkpoint) if args.checkpoint else None},
                      fh, indent=2)


if __name__ == "__main__":
    main()
