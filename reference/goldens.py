#!/usr/bin/env python3
"""Writes the parity goldens the Swift tests run against: per config, a checkpoint with random
weights (seeded) and a case set computed by the reference from raw event lines.

    python3 reference/goldens.py --out Tests/TestSupport/Goldens
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llatte_ref import cases, checkpoint, synth  # noqa: E402
from llatte_ref.config import Feature, ModelConfig  # noqa: E402
from llatte_ref.model import LLaTTE  # noqa: E402

TYPES = ["impression", "click", "add_to_cart", "purchase", "lead", "app_install", "like"]
SURFACES = ["feed", "reels", "stories", "marketplace", "search", "video"]
FEATURES = [Feature("country", "categorical", ["US", "BR", "IN", "JP"]),
            Feature("age_bucket", "categorical", ["18-24", "25-34", "35-44"]),
            Feature("log_account_age_days", "dense")]


def config(name: str, **sizes) -> ModelConfig:
    base = dict(model_version=f"golden-{name}", semantic_model="golden-sem-v1", d=32, layers=2, heads=4, d_head=8,
                r_q=16, r_kv=16, ffn=88, query_tokens=4, interests=4, interest_dim=8, d_sem=8, item_buckets=1024,
                n_time=32, lora_rank=8, lora_hidden=32, n_max=64, types=TYPES, surfaces=SURFACES, features=FEATURES)
    base.update(sizes)
    return ModelConfig(**base)


# name -> (config, storage dtype, user history lengths, seed)
GOLDENS = {
    # Ragged batch around n_max (64): empty, short, exactly n_max, longer (truncated to the latest 64).
    "small": (config("small"), "f32", [0, 1, 2, 5, 17, 33, 63, 64, 65, 90, 150, 7, 3, 40], 1),
    # Q, K, H, L all different from the sample's; r_q != r_kv; F16 storage.
    "shapes": (config("shapes", d=48, layers=3, heads=6, d_head=8, r_q=24, r_kv=12, ffn=128, query_tokens=2,
                      interests=3, interest_dim=5, lora_rank=6, lora_hidden=24, n_max=128,
                      features=[Feature("device", "categorical", ["ios", "android", "web"])]),
               "f16", [0, 4, 9, 100, 128, 129, 200, 31], 2),
    # Tiny width at the longest history: n = 4096.
    "tiny4096": (config("tiny4096", d=8, layers=1, heads=2, d_head=4, r_q=4, r_kv=4, ffn=16, query_tokens=2,
                        interests=2, interest_dim=4, d_sem=4, item_buckets=256, n_time=64, lora_rank=4,
                        lora_hidden=8, n_max=4096, features=[]),
                 "f32", [4200, 4096, 1000, 0, 3], 3),
    # BF16 storage.
    "bf16": (config("bf16", n_max=32, types=TYPES[:4], surfaces=SURFACES[:2]), "bf16", [0, 3, 31, 32, 45, 12], 4),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    for name, (cfg, dtype, lengths, seed) in GOLDENS.items():
        if args.only and name not in args.only:
            continue
        torch.manual_seed(seed)
        model = LLaTTE(cfg)
        # Gains away from 1 so a kernel that ignores them fails.
        with torch.no_grad():
            for n in model.names:
                if n.endswith("norm"):
                    model.tensor(n).uniform_(0.5, 1.5)
        out = os.path.join(args.out, name)
        checkpoint.save(model, out, dtype)
        lines, features, catalog = synth.inputs(cfg, lengths, seed)
        cases.write(os.path.join(out, "selftest.json"), model, lines, features, catalog,
                    note=f"reference/goldens.py: config {name}, {dtype} weights, seed {seed}")
        print(f"{name}: {len(lines)} event lines, {len(features)} feature records -> {out}")


if __name__ == "__main__":
    main()
