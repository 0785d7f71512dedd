#!/usr/bin/env python3
"""Downstream lift: a conversion model with and without llatte's stored embeddings, side by side.

    python3 reference/downstream.py --out /tmp/llatte-study/downstream [--quick] [--llatte PATH]

The question is the one llatte exists for: does a ranking model predict conversions better when it
also reads the user's precomputed embedding? The protocol, on the committed sample (30 days) or on
data generated with `--sample`:

1. **Encoder**: `train.py` trains the offline model on days < 16 and `export.py` exports it, so the
   embeddings of the downstream training days are not fitted to their labels.
2. **Embeddings as served**: `replay.py` runs llatte on the data as production would from day 15
   on (a backfill, then each day an hourly conversion-triggered `refresh` and a `nightly`), and
   records every row llatte wrote, read as docs/store.md's reader reads them.
3. **Downstream model**: a non-sequential ranker of the kind the article describes (`Ranker`): one
   16-wide vector per feature (hashed item id; the item's catalog semantic vector through a linear
   map; the item's logged impressions, clicks, conversions and smoothed rates before the day;
   surface, hour, weekday; country, age bucket, device, account age), pairwise dot products between
   all of them, and an MLP over the vectors and the dots, with a conversion and a click output. With
   embeddings, the user's K interest vectors (int8 codes × scales, as stored) join as K more vectors,
   each with a "no row" flag. Trained on the logged impressions of days 16–22 (last-touch labels,
   docs/evaluation.md), the same examples, seeds, epochs and optimizer for every variant.
4. **Variants** of the embedding an impression at time t sees: *none*; *refreshed*: the newest row
   written before t (nightly plus the conversion-triggered refresh after each hour); *nightly*: the
   row as of t's midnight (no refresh during the day); *stale*: the row as of the midnight before
   that (one day old). Training and evaluation use the same variant.
5. **Evaluation**: the truth impressions of the held-out days 23–29 (realized `converted`), AUC and
   normalized entropy (log loss over the entropy of the held-out conversion rate; lower is better)
   of the mean over `--seeds` training seeds; 95% intervals by bootstrap over users, paired (the
   same resampled users for every variant and seed), for each variant and the differences, on every
   impression and separately on those whose embedding the refresh changed.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from evaluate import held_out  # noqa: E402
from llatte_ref import dataset  # noqa: E402
from llatte_ref.config import ModelConfig  # noqa: E402
from llatte_ref.metrics import replicates, resampled_weights, roc_auc  # noqa: E402
from llatte_ref.tokenizer import fmix  # noqa: E402
from llatte_ref.tower import ItemTower, score  # noqa: E402
import replay  # noqa: E402

DAY = 86400
VARIANTS = ["none", "refreshed", "nightly", "stale"]
POPULARITY = "item conversion rate alone"
CATEGORICAL = ["country", "age_bucket", "device"]
ITEM_BUCKETS = 4096


class ItemCounters:
    """Per item, its impressions, clicks and conversions logged before a given time (every user's
    events): the popularity counters a production ranker reads as item features."""

    def __init__(self, corpus: dataset.Corpus):
        types = corpus.cfg.types
        kinds = {types.index("impression") + 1: 0, types.index("click") + 1: 1}
        kinds.update({types.index(t) + 1: 2 for t in dataset.CONVERSIONS})
        items, ts, kind = [], [], []
        for u in corpus.users.values():
            k = np.array([kinds.get(int(t), -1) for t in u.type_index], np.int64)
            keep = k >= 0
            items.append(u.item[keep])
            ts.append(u.ts[keep])
            kind.append(k[keep])
        items, ts, kind = np.concatenate(items), np.concatenate(ts), np.concatenate(kind)
        self.items = np.unique(items)
        self.base = int(ts.min()) - 1
        key = np.searchsorted(self.items, items).astype(np.int64) << 32 | (ts - self.base)
        self.keys = [np.sort(key[kind == j]) for j in range(3)]
        total = [len(k) for k in self.keys]
        self.rates = (total[1] / total[0], total[2] / total[0])     # click and conversion rate overall

    def features(self, items: np.ndarray, before: np.ndarray) -> np.ndarray:
        """[N, 5]: log1p of the three counts, and the click and conversion rates smoothed towards the
        overall rates by 20 pseudo-impressions, as multiples of them."""
        ii = np.searchsorted(self.items, items)
        known = (ii < len(self.items)) & (self.items[np.minimum(ii, len(self.items) - 1)] == items)
        lo = ii.astype(np.int64) << 32
        hi = lo | np.clip(before - self.base, 0, (1 << 32) - 1)
        n = [np.where(known, np.searchsorted(k, hi) - np.searchsorted(k, lo), 0) for k in self.keys]
        ctr = (n[1] + 20 * self.rates[0]) / (n[0] + 20) / self.rates[0]
        cvr = (n[2] + 20 * self.rates[1]) / (n[0] + 20) / self.rates[1]
        return np.stack([np.log1p(n[0]), np.log1p(n[1]), np.log1p(n[2]), ctr, cvr], axis=1).astype(np.float32)


class Examples:
    """Impressions as feature tensors: item bucket, semantic row, item counters as of the day's start,
    surface, hour, weekday, user categoricals, account age, and per variant the user's embedding
    [N, K·D] with a has-row flag."""

    def __init__(self, users, ts, items, surfaces, labels, clicks, corpus: dataset.Corpus, vocab: dict[str, list[str]],
                 counters: ItemCounters):
        self.users = np.asarray(users, np.uint64)
        self.ts = np.asarray(ts, np.int64)
        self.labels = torch.tensor(np.asarray(labels, np.float32))
        self.clicks = torch.tensor(np.asarray(clicks, np.float32))
        self.items = items = np.asarray(items, np.uint64)
        self.bucket = torch.tensor([fmix(int(i)) % ITEM_BUCKETS for i in items.tolist()], dtype=torch.long)
        rows = np.array([corpus.sem_index.get(int(i), -1) for i in items.tolist()], np.int64)
        self.sem_missing = torch.from_numpy(rows < 0)
        self.sem = torch.from_numpy(corpus.sem_matrix[np.maximum(rows, 0)])
        self.counters = torch.from_numpy(counters.features(items, self.ts // DAY * DAY))
        self.surface = torch.tensor(np.asarray(surfaces, np.int64))
        self.hour = torch.from_numpy((self.ts // 3600) % 24)
        self.weekday = torch.from_numpy((self.ts // DAY + 3) % 7)   # 1970-01-01 was a Thursday; Monday = 0
        cats, dense = [], []
        for u in self.users.tolist():
            f = corpus.features.get(u, {})
            cats.append([1 + vocab[k].index(f[k]) if f.get(k) in vocab[k] else 0 for k in CATEGORICAL])
            age = f.get("log_account_age_days")
            dense.append([float(age) if isinstance(age, (int, float)) else 0.0, 0.0 if age is None else 1.0])
        self.cats = torch.tensor(cats, dtype=torch.long)
        self.dense = torch.tensor(dense, dtype=torch.float32)
        self.emb: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.ts)

    def attach(self, variant: str, rows: "EmbeddingLog") -> None:
        """Looks up each impression's embedding as the variant serves it."""
        day = self.ts // DAY * DAY
        cutoff = {"refreshed": self.ts, "nightly": day, "stale": day - DAY}[variant]
        emb, has = rows.at(self.users, cutoff)
        self.emb[variant] = (torch.from_numpy(emb), torch.from_numpy(has.astype(np.float32))[:, None])


class EmbeddingLog:
    """Every row llatte wrote during the replay, searchable by (user, time)."""

    def __init__(self, rec: dict):
        self.users = np.unique(rec["user"])
        uidx = np.searchsorted(self.users, rec["user"])
        self.base = int(rec["valid_from"].min()) - 2 * DAY
        key = uidx.astype(np.int64) << 32 | (rec["valid_from"] - self.base)
        order = np.argsort(key, kind="stable")          # rows of one run and one user: the last one wins
        self.key, self.uidx, self.emb = key[order], uidx[order], rec["emb"][order]

    def at(self, users: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each (user, t): the newest row written at or before t, and whether there is one."""
        ui = np.searchsorted(self.users, users)
        known = (ui < len(self.users)) & (self.users[np.minimum(ui, len(self.users) - 1)] == users)
        q = ui.astype(np.int64) << 32 | np.maximum(t - self.base, 0)
        pos = np.searchsorted(self.key, q, side="right") - 1
        has = known & (pos >= 0) & (self.uidx[np.maximum(pos, 0)] == ui)
        emb = np.where(has[:, None], self.emb[np.maximum(pos, 0)], 0.0).astype(np.float32)
        return emb, has


class Ranker(nn.Module):
    """The downstream conversion model: feature vectors, their pairwise dots, an MLP (DLRM-style)."""

    def __init__(self, d_sem: int, vocab: dict[str, list[str]], interests: int, interest_dim: int, dim: int = 16):
        super().__init__()
        self.item = nn.Embedding(ITEM_BUCKETS, dim)
        self.sem = nn.Linear(d_sem, dim)
        self.sem_missing = nn.Parameter(torch.zeros(dim))
        self.surface = nn.Embedding(8, dim)
        self.hour = nn.Embedding(24, dim)
        self.weekday = nn.Embedding(7, dim)
        self.cats = nn.ModuleList(nn.Embedding(1 + len(vocab[k]), dim) for k in CATEGORICAL)
        self.dense = nn.Linear(2, dim)
        self.counters = nn.Linear(5, dim)
        self.interests = interests
        self.interest = nn.Linear(interest_dim + 1, dim) if interests else None  # + the has-row flag
        for e in [self.item, self.surface, self.hour, self.weekday, *self.cats]:
            nn.init.normal_(e.weight, 0.0, 0.05)
        n = 6 + len(CATEGORICAL) + 1 + interests                     # vectors per impression
        self.pairs = torch.triu_indices(n, n, offset=1)
        self.top = nn.Sequential(nn.Linear(n * dim + self.pairs.shape[1], 128), nn.ReLU(),
                                 nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 2))

    def forward(self, ex: Examples, idx: torch.Tensor, variant: str) -> torch.Tensor:
        """Logits [len(idx), 2] of the impressions idx: conversion, click."""
        sem = torch.where(ex.sem_missing[idx, None], self.sem_missing[None], self.sem(ex.sem[idx]))
        vecs = [self.item(ex.bucket[idx]), sem, self.counters(ex.counters[idx]), self.surface(ex.surface[idx]),
                self.hour(ex.hour[idx]),
                self.weekday(ex.weekday[idx])]
        vecs += [emb(ex.cats[idx, j]) for j, emb in enumerate(self.cats)]
        vecs.append(self.dense(ex.dense[idx]))
        if self.interests:
            z, has = ex.emb[variant]
            z = z[idx].reshape(len(idx), self.interests, -1)
            flag = has[idx, None, :].expand(-1, self.interests, 1)
            vecs += list(self.interest(torch.cat([z, flag], dim=2)).unbind(1))
        v = torch.stack(vecs, dim=1)                                   # [B, n, dim]
        dots = torch.einsum("bid,bjd->bij", v, v)[:, self.pairs[0], self.pairs[1]]
        return self.top(torch.cat([v.flatten(1), dots], dim=1))


def train_ranker(train: Examples, variant: str, cfg: ModelConfig, vocab, seed: int, epochs: int,
                 batch: int = 64, lr: float = 5e-4, weight_decay: float = 0.01, click_weight: float = 1.0) -> Ranker:
    """AdamW with a one-cycle schedule, `epochs` passes; deterministic for a seed and thread count.

    The loss is conversions' binary cross-entropy plus click_weight times the clicks' (a second
    output): clicks are ~4x as frequent and carry the same user-item interest, as in multi-task rankers.
    """
    torch.manual_seed(seed)
    model = Ranker(cfg.d_sem, vocab, 0 if variant == "none" else cfg.interests, cfg.interest_dim)
    with torch.no_grad():                   # start at the base rate, not at 50%
        for j, y in enumerate([train.labels, train.clicks]):
            rate = float(y.mean())
            model.top[-1].bias[j] = math.log(rate / (1 - rate))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(len(train) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch,
                                                pct_start=0.1)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(train), generator=g)
        for s in range(0, len(train), batch):
            idx = perm[s:s + batch]
            logits = model(train, idx, variant)
            loss = F.binary_cross_entropy_with_logits(logits[:, 0], train.labels[idx])
            if click_weight > 0:
                loss = loss + click_weight * F.binary_cross_entropy_with_logits(logits[:, 1], train.clicks[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model


@torch.no_grad()
def predict(model: Ranker, ex: Examples, variant: str) -> np.ndarray:
    """Conversion probabilities of every impression of ex."""
    model.eval()
    idx = torch.arange(len(ex))
    return torch.sigmoid(model(ex, idx, variant)[:, 0]).double().numpy()


def normalized_entropy(p: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> float:
    """Weighted log loss over the entropy of the weighted base rate (1.0 = no better than the rate)."""
    w = np.ones_like(p) if w is None else w
    p = np.clip(p, 1e-7, 1 - 1e-7)
    ll = -(w * (y * np.log(p) + (1 - y) * np.log(1 - p))).sum() / w.sum()
    r = (w * y).sum() / w.sum()
    return float(ll / -(r * math.log(r) + (1 - r) * math.log(1 - r)))


def paired_bootstrap(users: np.ndarray, y: np.ndarray, preds: dict[str, list[np.ndarray]], reps: int,
                     pairs: list[tuple[str, str]]) -> dict:
    """Per variant: AUC and NE of the seed-mean metric with 95% intervals over users resampled with
    replacement, and the same for each (a − b) difference on the same resamples."""
    aucs = replicates(users, y, {(v, i): p for v, ps in preds.items() for i, p in enumerate(ps)}, reps)
    samples = {v: np.empty((reps, 2)) for v in preds}
    for v, ps in preds.items():
        samples[v][:, 0] = np.mean([aucs[(v, i)] for i in range(len(ps))], axis=0)
    for r, w in enumerate(resampled_weights(users, reps)):       # the same draws as the AUCs'
        for v, ps in preds.items():
            samples[v][r, 1] = np.mean([normalized_entropy(p, y, w) for p in ps])
    out: dict = {}
    for v, ps in preds.items():
        lo, hi = np.percentile(samples[v], [2.5, 97.5], axis=0)
        out[v] = {"auc": float(np.mean([roc_auc(p, y) for p in ps])), "auc_lo": lo[0], "auc_hi": hi[0],
                  "ne": float(np.mean([normalized_entropy(p, y) for p in ps])), "ne_lo": lo[1], "ne_hi": hi[1],
                  "auc_per_seed": [roc_auc(p, y) for p in ps], "ne_per_seed": [normalized_entropy(p, y) for p in ps]}
    for a, b in pairs:
        d = samples[a] - samples[b]
        lo, hi = np.percentile(d, [2.5, 97.5], axis=0)
        out[f"{a} - {b}"] = {"auc": out[a]["auc"] - out[b]["auc"], "auc_lo": lo[0], "auc_hi": hi[0],
                             "ne": out[a]["ne"] - out[b]["ne"], "ne_lo": lo[1], "ne_hi": hi[1]}
    return {k: {kk: (float(vv) if isinstance(vv, (float, np.floating)) else vv) for kk, vv in v.items()}
            for k, v in out.items()}


def train_examples(corpus: dataset.Corpus, start: int, end: int, vocab, counters: ItemCounters) -> Examples:
    """Logged impressions in [start, end) with last-touch labels from events before end."""
    users, ts, items, surfaces, labels, clicks = [], [], [], [], [], []
    for uid in sorted(corpus.users):
        u = corpus.users[uid]
        sel = u.is_impression & (u.ts >= start) & (u.ts < end)
        t, it, lab, clk = corpus.impressions(uid, start, end, end)
        users += [uid] * len(t)
        ts += t.tolist()
        items += it.tolist()
        surfaces += u.surface_index[sel].tolist()
        labels += lab.tolist()
        clicks += clk.tolist()
    return Examples(users, ts, items, surfaces, labels, clicks, corpus, vocab, counters)


def run(out_dir: str, quick: bool = False, llatte: str = ".build/release/llatte", data: str = "sample-data",
        seeds: int = 3, encoder_days: int = 16, split_day: int = 23, reps: int = 1000,
        sample: list[str] | None = None, val_day: int | None = None, epochs: int = 3, click_weight: float = 1.0,
        reuse: bool = False, log=print) -> dict:
    """The whole protocol of the module docstring; writes out_dir/downstream.json and returns it.

    With `sample`, the data is generated first into out_dir/data by `llatte sample` with those options.
    With `val_day`, the ranker trains on [encoder_days, val_day) and is scored on the logged impressions
    of [val_day, split_day) with last-touch labels: the recipe is chosen there, not on the held-out days.
    With `reuse`, the data, encoder and replay of an earlier run into out_dir are used again.
    """
    t0 = time.time()
    os.makedirs(out_dir, exist_ok=True)
    state_path, ckpt = os.path.join(out_dir, "encoder.pt"), os.path.join(out_dir, "checkpoint")
    replay_path = os.path.join(out_dir, "replay.npz")
    if sample is not None:
        data = os.path.join(out_dir, "data")
    if reuse and os.path.exists(replay_path):
        rec = dict(np.load(replay_path))
        log(f"downstream: reusing {data}, the encoder and the replay in {out_dir}")
    else:
        if sample is not None:
            shutil.rmtree(data, ignore_errors=True)
            subprocess.run([llatte, "sample", "--out", data, *sample], check=True, stdout=subprocess.DEVNULL)
            log(f"downstream: generated {data} (llatte sample {' '.join(sample)})")
        subprocess.run([sys.executable, os.path.join(HERE, "train.py"), "--data", data, "--out", state_path,
                        "--split-day", str(encoder_days), "--cut-every", "1", "--epochs", "1" if quick else "2",
                        "--weight-decay", "0.1", "--threads", "1", "--model-version", f"study-d{encoder_days}"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([sys.executable, os.path.join(HERE, "export.py"), "--state", state_path, "--data", data,
                        "--out", ckpt, "--dtype", "f16"], check=True, stdout=subprocess.DEVNULL)
        log(f"downstream: encoder trained on days < {encoder_days} and exported ({time.time() - t0:.0f} s)")
        # From the day before the first training day, so that the stale variant has a row there too.
        rec = replay.replay(data, ckpt, encoder_days - 1, os.path.join(out_dir, "replay"), llatte, log=lambda *_: None)
        np.savez_compressed(replay_path, **rec)
    rows = EmbeddingLog(rec)
    log(f"downstream: llatte replay from day {encoder_days - 1}: {len(rec['runs'])} runs, {len(rec['user'])} rows "
        f"({rec['runs'].sum():.0f} s in llatte)")
    seeds, reps = (1, 100) if quick else (seeds, reps)

    state = torch.load(state_path, weights_only=False)
    cfg = ModelConfig.from_json(state["config"])
    corpus = dataset.load(data, cfg)
    vocab = {f.name: f.vocab for f in cfg.features if f.kind == "categorical"}
    start, split = corpus.start_ts + encoder_days * DAY, corpus.start_ts + split_day * DAY
    counters = ItemCounters(corpus)
    if val_day is None:
        train = train_examples(corpus, start, split, vocab, counters)
        hold = held_out(data, split)
        surfaces = {s: i + 1 for i, s in enumerate(cfg.surfaces)}
        test = Examples([r["user_id"] for r in hold], [r["ts"] for r in hold], [r["item_id"] for r in hold],
                        [surfaces.get(r["surface"], 0) for r in hold], [float(r["converted"]) for r in hold],
                        [float(r["clicked"]) for r in hold], corpus, vocab, counters)
    else:
        val = corpus.start_ts + val_day * DAY
        train = train_examples(corpus, start, val, vocab, counters)
        test = train_examples(corpus, val, split, vocab, counters)
    for v in VARIANTS[1:]:
        train.attach(v, rows)
        test.attach(v, rows)
    coverage = {v: float(test.emb[v][1].mean()) for v in VARIANTS[1:]}
    differs = (test.emb["refreshed"][0] != test.emb["nightly"][0]).any(dim=1).numpy()
    changed = float(differs.mean())
    log(f"downstream: train {len(train)} impressions ({int(train.labels.sum())} converted), "
        f"{'validation' if val_day else 'held out'} {len(test)} ({int(test.labels.sum())} converted); "
        f"refreshed differs from nightly for {changed:.1%} of them")
    # The encoder's own score of each variant's embeddings (against the item tower it was trained
    # with, no downstream model): whether the rows themselves carry more, apart from the ranker.
    tower = ItemTower(cfg.d_sem, cfg.interest_dim, state["tower_buckets"])
    tower.load_state_dict(state["tower"])
    tower.eval()
    with torch.no_grad():
        t = tower(test.sem, test.sem_missing, tower.id_bucket(test.items))
        tower_auc = {v: roc_auc(score(test.emb[v][0].reshape(len(test), cfg.interests, -1), t, state["score"]).numpy(),
                                test.labels.numpy()) for v in VARIANTS[1:]}

    torch.set_num_threads(1)
    preds: dict[str, list[np.ndarray]] = {v: [] for v in VARIANTS}
    for seed in range(1, seeds + 1):
        for v in VARIANTS:
            preds[v].append(predict(train_ranker(train, v, cfg, vocab, seed, epochs, click_weight=click_weight), test, v))
        log(f"downstream: seed {seed}: " + ", ".join(f"{v} {roc_auc(preds[v][-1], test.labels.numpy()):.4f}"
                                                   for v in VARIANTS))
    y = test.labels.numpy().astype(np.float64)
    # Reference row: the item's smoothed conversion rate alone, as a probability (no model).
    preds[POPULARITY] = [test.counters[:, 4].double().numpy() * counters.rates[1]]
    pairs = [(v, "none") for v in VARIANTS[1:]] + [("none", POPULARITY), ("refreshed", "nightly"),
                                                  ("refreshed", "stale")]
    result = {
        "data": data, "sample": sample, "encoder_days": encoder_days, "split_day": split_day, "val_day": val_day,
        "seeds": seeds, "epochs": epochs, "click_weight": click_weight, "encoder_tower_auc": tower_auc,
        "reps": reps, "train_impressions": len(train), "train_converted": int(train.labels.sum()),
        "held_out_impressions": len(test), "held_out_users": int(len(np.unique(test.users))),
        "held_out_converted": int(y.sum()), "coverage": coverage, "refreshed_differs": changed,
        "llatte_runs": len(rec["runs"]), "llatte_rows": len(rec["user"]),
        "llatte_seconds": float(rec["runs"].sum()),
        "model_version": cfg.model_version,
        "bootstrap": paired_bootstrap(test.users, y, preds, reps, pairs),
        # Where the refresh changed what the ranker sees, and where it did not: separates what the
        # fresher embedding buys from the difference of two rankers fit to different training rows.
        "bootstrap_refresh_changed": paired_bootstrap(test.users[differs], y[differs],
                                                      {v: [p[differs] for p in ps] for v, ps in preds.items()},
                                                      reps, pairs),
        "bootstrap_refresh_unchanged": paired_bootstrap(test.users[~differs], y[~differs],
                                                        {v: [p[~differs] for p in ps] for v, ps in preds.items()},
                                                        reps, pairs),
        "seconds": time.time() - t0,
    }
    with open(os.path.join(out_dir, "downstream.json"), "w") as fh:
        json.dump(result, fh, indent=2)
    return result


def table(result: dict, key: str = "bootstrap") -> str:
    """The markdown tables of docs/study.md: every held-out impression (or the subset `key` names)."""
    b = result[key]
    lines = ["| embedding | AUC | 95% CI | NE | 95% CI |", "|---|---|---|---|---|"]
    for v in VARIANTS + [POPULARITY]:
        r = b[v]
        lines.append(f"| {v} | {r['auc']:.4f} | [{r['auc_lo']:.4f}, {r['auc_hi']:.4f}] | {r['ne']:.4f} | "
                     f"[{r['ne_lo']:.4f}, {r['ne_hi']:.4f}] |")
    lines += ["", "| difference | AUC | 95% CI | NE | 95% CI |", "|---|---|---|---|---|"]
    for k, r in b.items():
        if " - " in k:
            lines.append(f"| {k.replace(' - ', ' − ')} | {r['auc']:+.4f} | [{r['auc_lo']:+.4f}, {r['auc_hi']:+.4f}] | "
                         f"{r['ne']:+.4f} | [{r['ne_lo']:+.4f}, {r['ne_hi']:+.4f}] |")
    return "\n".join(lines).replace("-0.", "−0.")     # minus signs as the docs print them


def main() -> None:
    """Parses the arguments, runs the protocol, prints the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="work and result directory")
    ap.add_argument("--data", default="sample-data")
    ap.add_argument("--llatte", default=".build/release/llatte")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--sample", help="generate the data with these `llatte sample` options instead of --data, "
                                     "e.g. \"--users 4000 --returning-share 0.5\"")
    ap.add_argument("--val-day", type=int, help="recipe search: train the ranker on days < VAL_DAY, score the "
                                                 "logged impressions up to the split (never the held-out days)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--click-weight", type=float, default=1.0)
    ap.add_argument("--reuse", action="store_true", help="reuse the data, encoder and replay of an earlier run in --out")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 seed, fewer replicates")
    args = ap.parse_args()
    res = run(args.out, args.quick, args.llatte, args.data, args.seeds, reps=args.reps,
              sample=None if args.sample is None else shlex.split(args.sample), val_day=args.val_day,
              epochs=args.epochs, click_weight=args.click_weight, reuse=args.reuse)
    print("encoder's own score (item tower): " + ", ".join(f"{v} {a:.4f}" for v, a in res["encoder_tower_auc"].items()))
    print(table(res))
    for key in ["bootstrap_refresh_changed", "bootstrap_refresh_unchanged"]:
        print(f"\n{key}:\n" + table(res, key))
    print(f"({res['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
