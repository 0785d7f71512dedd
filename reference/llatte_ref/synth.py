"""Deterministic raw inputs for goldens and self-tests: event lines, feature records, catalog rows.

They exercise what the tokenizer must get right: string and integer event ids (including ids equal
only under Unicode normalization), ts ties, duplicates whose later copy differs, out-of-order lines,
types and surfaces outside the vocabulary, items missing from the catalog, null/absent metadata,
user ids above 2^63, users with features but no events and events but no features.
"""
from __future__ import annotations

import json
import random

import numpy as np

from .config import ModelConfig

TS0 = 1790812800  # 2026-10-01T00:00:00Z, inside the sample data's ts range


def inputs(cfg: ModelConfig, lengths: list[int], seed: int, feature_users: int = 2):
    """-> (lines, features, catalog): one user per entry of `lengths` (its number of distinct events)."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    items = [rng.getrandbits(64) for _ in range(max(8, sum(lengths) // 6 + 4))]
    catalog = {it: nrng.normal(0, 1, cfg.d_sem).astype(np.float32) for it in items if rng.random() < 0.8}
    types = cfg.types + ["never_seen_type"]
    surfaces = cfg.surfaces + ["elsewhere"]
    lines: list[tuple[float, str]] = []
    features: list[dict] = []
    users = []
    for u, n in enumerate(lengths):
        uid = rng.getrandbits(64) if u % 3 == 0 else 1000 + u * 7919
        users.append(uid)
        ts = TS0 + rng.randrange(0, 86400)
        for k in range(n):
            if rng.random() < 0.85:
                ts += int(rng.expovariate(1 / 3000))  # gaps from seconds to days: many time buckets
            if k % 11 == 5:
                eid = ["é", "e\u0301", f"s-{k}", f"{k}"][k % 4]
            else:
                eid = rng.getrandbits(rng.choice([16, 40, 63]))
            rec = {"event_id": eid, "ts": ts, "user_id": uid, "item_id": rng.choice(items),
                   "type": rng.choice(types), "surface": rng.choice(surfaces)}
            r = rng.random()
            if r < 0.3:
                rec["dwell_ms"] = round(rng.expovariate(1 / 4000), 3)
            elif r < 0.4:
                rec["dwell_ms"] = None
            if rng.random() < 0.1:
                rec["value"] = round(rng.uniform(0, 90), 2)
            line = json.dumps(rec, separators=(",", ":"), ensure_ascii=rng.random() < 0.5)
            lines.append((rng.random(), line))
            if rng.random() < 0.03:  # a re-delivered copy with different content: the first one wins
                dup = dict(rec, item_id=rng.choice(items), ts=ts + 1)
                lines.append((rng.random() + 1.0, json.dumps(dup, separators=(",", ":"))))
        if u % 4 != 1:
            features.append(feature_record(cfg, uid, rng))
    for u in range(feature_users):  # features, no events
        features.append(feature_record(cfg, 5_000_000 + u, rng))
    lines.sort(key=lambda p: p[0])  # arrival order is not time order
    return [line for _, line in lines], features, catalog


def feature_record(cfg: ModelConfig, uid: int, rng: random.Random) -> dict:
    rec: dict = {"user_id": uid}
    for f in cfg.features:
        r = rng.random()
        if r < 0.1:
            continue  # absent
        if f.kind == "categorical":
            rec[f.name] = rng.choice(f.vocab) if r < 0.85 else ("zz-unknown" if r < 0.95 else 3)
        else:
            rec[f.name] = round(rng.uniform(0, 9), 3) if r < 0.95 else None
    return rec
