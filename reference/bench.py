#!/usr/bin/env python3
"""PyTorch eager CPU on the encoder bench config: the baseline llatte's `bench encode` is compared with.

Same workload as `llatte bench encode`: the bench config (docs/performance.md) with random weights, every
user with exactly n events, the timed region from a tokenized batch in memory to int8 codes,
inference mode, scaled-dot-product attention, the given thread count, the best batch size of a
sweep. Prints one line per n in the same key=value form as the Swift bench.

    python3 reference/bench.py --threads 2 --n 256 1024 4096
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llatte_ref.config import Feature, ModelConfig  # noqa: E402
from llatte_ref.model import LLaTTE, Batch  # noqa: E402

TYPES = ["impression", "click", "like", "comment", "share", "save", "add_to_cart", "purchase", "lead", "app_install"]
SURFACES = ["feed", "reels", "stories", "marketplace", "search", "video"]


def bench_config(n_max: int) -> ModelConfig:
    return ModelConfig(model_version="bench", semantic_model="bench-sem", d=256, layers=4, heads=8, d_head=32, r_q=128,
                       r_kv=128, ffn=704, query_tokens=8, interests=4, interest_dim=64, d_sem=64, item_buckets=262144,
                       n_time=64, lora_rank=64, lora_hidden=512, n_max=n_max, types=TYPES, surfaces=SURFACES,
                       features=[Feature("country", "categorical", ["US", "BR", "IN", "ID", "JP", "GB"]),
                                 Feature("log_account_age_days", "dense")])


def flops(c: ModelConfig, n: int) -> tuple[float, float]:
    """(nominal, executed-by-llatte) FLOPs per user; the same formulas as `llatte bench encode`."""
    t, q = n + c.query_tokens, c.query_tokens
    hd = c.heads * c.d_head
    kv = 2 * (c.d * c.r_kv + 2 * c.r_kv * hd)
    rest = 2 * (c.d * c.r_q + c.r_q * hd + hd * c.d + 3 * c.d * c.ffn)
    embed = 2 * n * c.d_sem * c.d + 2 * c.d_f * c.d
    head = 2 * (q * c.d * c.lora_rank + 2 * c.lora_rank * c.lora_hidden + c.lora_rank * c.interests * c.interest_dim)
    nominal = embed + head + c.layers * (t * (kv + rest) + 4 * t * t * hd)
    if hd > c.heads * q:   # llatte's last layer attends in latent space (no k, v for the sequence rows)
        last = t * 2 * c.d * c.r_kv + q * rest + 4 * q * hd * c.r_kv + 4 * c.heads * q * t * c.r_kv
    else:
        last = t * kv + q * rest + 4 * hd * q * t
    executed = embed + head + (c.layers - 1) * (t * (kv + rest) + 4 * hd * (n * n + q * t)) + last
    return float(nominal), float(executed)


def random_batch(c: ModelConfig, n: int, b: int, g: torch.Generator) -> Batch:
    """A tokenized batch of b users with exactly n events (no padding)."""
    batch = Batch.__new__(Batch)
    batch.n = n
    batch.lengths = torch.full((b,), n, dtype=torch.long)
    batch.item = torch.randint(0, c.item_buckets, (b, n), generator=g)
    batch.type = torch.randint(0, len(c.types) + 1, (b, n), generator=g)
    batch.surface = torch.randint(0, len(c.surfaces) + 1, (b, n), generator=g)
    batch.time = torch.randint(0, c.n_time, (b, n), generator=g)
    batch.sem = torch.rand(b, n, c.d_sem, generator=g) * 2 - 1
    batch.sem_missing = torch.rand(b, n, generator=g) < 0.1
    batch.meta = torch.rand(b, n, 2, generator=g) * 4
    batch.f = torch.zeros(b, c.d_f)
    batch.f[:, 0] = 1
    return batch


def to_codes(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    scale = z.abs().amax(dim=-1, keepdim=True) / 127
    codes = torch.where(scale > 0, torch.round(z / scale), torch.zeros_like(z)).clamp(-127, 127).to(torch.int8)
    return codes, scale.squeeze(-1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[256, 1024, 4096])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    ap.add_argument("--seconds", type=float, default=4.0, help="minimum timed seconds per batch size")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, inference mode, fp32 eager, SDPA")
    for n in args.n:
        c = bench_config(n)
        torch.manual_seed(0)
        model = LLaTTE(c).eval()
        nominal, executed = flops(c, n)
        g = torch.Generator().manual_seed(n)
        best = (0.0, 0)
        for b in args.batches:
            if b * nominal > 5e11:   # keep the sweep's longest batch near a few seconds (and its memory bounded)
                break
            batch = random_batch(c, n, b, g)
            with torch.inference_mode():
                try:
                    to_codes(model(batch))   # warm-up
                    done, t0 = 0, time.perf_counter()
                    while True:
                        to_codes(model(batch))
                        done += b
                        if time.perf_counter() - t0 >= args.seconds:
                            break
                    rate = done / (time.perf_counter() - t0)
                except RuntimeError as e:  # out of memory at a large batch ends the sweep
                    print(f"n={n} batch={b}: {e}", file=sys.stderr)
                    break
            print(f"  n={n} batch={b}: users/s={rate:.4g}", file=sys.stderr)
            if rate > best[0]:
                best = (rate, b)
        rate, b = best
        print(f"n={n}: users/s={rate:.4g} nominal_GFLOP/s={nominal * rate / 1e9:.1f} batch={b} threads={args.threads}")


if __name__ == "__main__":
    main()
