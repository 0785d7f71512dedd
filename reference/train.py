#!/usr/bin/env python3
"""Trains the LLaTTE encoder with a downstream conversion objective, jointly with an item tower.

    python3 reference/train.py --data sample-data --out /tmp/llatte-run/sample-v1.pt \
        --cut-every 1 --epochs 2 --weight-decay 0.1 --threads 1

Examples are (user, cut) pairs: the encoder reads the user's events with ts < cut (as llatte would
tokenize them) and its K interest vectors score each impression of the next `--window-days` days
against the item tower, max_k <z_k, tower(item)>. The loss is binary cross-entropy on conversion
labels (last touch: the user converted on the item within a day after the impression with no other
impression of it in between, before the end of the training days) plus an auxiliary click loss on
the same score. Cuts are day boundaries of the training days only, so nothing at or after the split
enters training, neither as history nor as a label. Deterministic for a given seed, thread count
and machine.

--n-max, --layers, --width and --ids-only change the model from the shipped one for the scaling
study (docs/study.md, "Scaling"); the saved state records the run's training FLOPs (training_flops).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llatte_ref import dataset  # noqa: E402
from llatte_ref.config import Feature, ModelConfig  # noqa: E402
from llatte_ref.metrics import roc_auc  # noqa: E402
from llatte_ref.model import LLaTTE, Batch, forward_flops  # noqa: E402
from llatte_ref.tower import ItemTower, score, tower_flops  # noqa: E402

DAY = dataset.DAY
TYPES = ["impression", "click", "like", "comment", "share", "save", "hide", "add_to_cart", "purchase", "lead",
         "app_install"]
SURFACES = ["feed", "reels", "stories", "marketplace", "search", "video", "notifications"]
SIZES = dict(d=64, layers=2, heads=4, d_head=16, r_q=32, r_kv=32, ffn=176, query_tokens=4, interests=4,
             interest_dim=16, d_sem=64, item_buckets=16384, n_time=64, lora_rank=16, lora_hidden=128, n_max=512)


def width_sizes(d: int) -> dict[str, int]:
    """The sizes that follow the model width d (a multiple of 16), in the shipped ratios at d = 64:
    heads = d/16 of d_head 16, r_q = r_kv = d/2, ffn = 11·d/4 rounded up to a multiple of 16,
    LoRA rank d/4 and hidden 2·d. Query tokens, K × D, d_sem, item buckets and n_time do not change."""
    if d < 16 or d % 16:
        raise ValueError(f"width {d}: must be a positive multiple of 16")
    return dict(d=d, heads=d // 16, d_head=16, r_q=d // 2, r_kv=d // 2, ffn=16 * math.ceil(11 * d / 64),
                lora_rank=d // 4, lora_hidden=2 * d)


def sample_config(data_dir: str, model_version: str, **sizes: int) -> ModelConfig:
    """The shipped config: SIZES (with `sizes` overriding them), every type and surface of the generator,
    feature vocabularies from users.jsonl."""
    vocab: dict[str, set] = {"country": set(), "age_bucket": set(), "device": set()}
    with open(os.path.join(data_dir, "users.jsonl")) as fh:
        for line in fh:
            rec = json.loads(line)
            for k in vocab:
                if isinstance(rec.get(k), str):
                    vocab[k].add(rec[k])
    features = [Feature(k, "categorical", sorted(v)) for k, v in vocab.items()]
    features.append(Feature("log_account_age_days", "dense"))
    return ModelConfig(model_version=model_version, semantic_model="llatte-sample-sem-v1", types=TYPES,
                       surfaces=SURFACES, features=features, **{**SIZES, **sizes})


def _width(text: str) -> int:
    """--width's type: a positive multiple of 16 (d_head is 16)."""
    d = int(text)
    try:
        width_sizes(d)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return d


def config_sizes(args: argparse.Namespace) -> dict[str, int]:
    """The sizes --width, --layers and --n-max set (empty when none is given: the shipped SIZES)."""
    sizes: dict[str, int] = {}
    if args.width is not None:
        sizes.update(width_sizes(args.width))
    if args.layers is not None:
        sizes["layers"] = args.layers
    if args.n_max is not None:
        sizes["n_max"] = args.n_max
    return sizes


class ItemTable:
    """Per item id: catalog row (or missing) and tower bucket, resolved once."""

    def __init__(self, corpus: dataset.Corpus, tower: ItemTower):
        self.corpus = corpus
        self.tower = tower
        self.sem = torch.from_numpy(corpus.sem_matrix)
        self.cache: dict[int, tuple[int, int]] = {}

    def lookup(self, items: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (sem [N, d_sem], missing [N], bucket [N])."""
        rows, buckets = [], []
        for it in items.tolist():
            got = self.cache.get(it)
            if got is None:
                got = (self.corpus.sem_index.get(it, -1), int(self.tower.id_bucket(np.array([it], np.uint64))[0]))
                self.cache[it] = got
            rows.append(got[0])
            buckets.append(got[1])
        rows_t = torch.tensor(rows, dtype=torch.long)
        missing = rows_t < 0
        sem = self.sem[rows_t.clamp(min=0)]
        return sem, missing, torch.tensor(buckets, dtype=torch.long)


def examples(corpus: dataset.Corpus, cuts: list[int], window: int, label_end: int):
    """(uid, cut, items, conversion labels, click labels) for every user and cut with at least one
    impression in [cut, min(cut+window, label_end))."""
    out = []
    for uid in sorted(corpus.users):
        for cut in cuts:
            _, items, labels, clicks = corpus.impressions(uid, cut, min(cut + window, label_end), label_end)
            if len(items):
                out.append((uid, cut, items, labels, clicks))
    return out


def batches(exs, corpus: dataset.Corpus, size: int, rng: random.Random):
    """Shuffled batches of examples with similar history lengths (less padding)."""
    order = list(range(len(exs)))
    rng.shuffle(order)
    def length(i):
        uid, cut = exs[i][0], exs[i][1]
        return min(int(np.searchsorted(corpus.users[uid].ts, cut)), corpus.cfg.n_max)
    out = []
    chunk = size * 32
    for s in range(0, len(order), chunk):
        part = sorted(order[s:s + chunk], key=length)
        out += [part[j:j + size] for j in range(0, len(part), size)]
    rng.shuffle(out)
    return out


def forward(model: LLaTTE, tower: ItemTower, table: ItemTable, corpus, exs, idx, mode: str):
    """-> (scores [N], conversion labels [N], click labels [N]) for the impressions of a batch of examples."""
    toks = [corpus.tokens(exs[i][0], exs[i][1]) for i in idx]
    z = model(Batch(toks, corpus.cfg))
    owner = torch.cat([torch.full((len(exs[i][2]),), j, dtype=torch.long) for j, i in enumerate(idx)])
    items = np.concatenate([exs[i][2] for i in idx])
    labels = torch.from_numpy(np.concatenate([exs[i][3] for i in idx]))
    clicks = torch.from_numpy(np.concatenate([exs[i][4] for i in idx]))
    sem, missing, ids = table.lookup(items)
    return score(z[owner], tower(sem, missing, ids), mode), labels, clicks


@torch.no_grad()
def rescale_inputs(model: LLaTTE) -> None:
    """Starts training with the semantic vector dominating each sequence token.

    Under the reference's N(0, 1/in) initialization, m_t W_meta^T (log1p(dwell_ms) is ~8) is about
    40x the semantic term s_t W_sem^T (unit-length s_t), so after the pre-norms a token is mostly its
    dwell time and the encoder learned interests far more slowly than a mean of semantic vectors did.
    """
    model.tensor("embed.sem").mul_(math.sqrt(model.cfg.d_sem))  # per-dimension std 1 for a unit vector
    model.tensor("embed.meta").mul_(0.02 / model.tensor("embed.meta").std())


def training_flops(cfg: ModelConfig, corpus: dataset.Corpus, exs, tower: ItemTower, epochs: int) -> int:
    """FLOPs of training: 3 × forward (the backward pass is about twice the forward), summed over the
    examples of every epoch. An example's forward is forward_flops with the tokens it actually reads,
    min(events before the cut, n_max), plus tower_flops for each of its target impressions."""
    per_epoch = 0
    for uid, cut, items, _, _ in exs:
        u = corpus.users.get(uid)
        n = 0 if u is None else min(int(np.searchsorted(u.ts, cut, side="left")), cfg.n_max)
        per_epoch += forward_flops(cfg, n) + len(items) * tower_flops(tower, cfg.interests)
    return 3 * epochs * per_epoch


def parser() -> argparse.ArgumentParser:
    """train.py's options; the defaults are the shipped recipe of docs/evaluation.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="sample-data")
    ap.add_argument("--out", required=True, help="trained state (.pt): encoder, tower, config, training record")
    ap.add_argument("--model-version", default="sample-v1")
    ap.add_argument("--split-day", type=int, default=23, help="first held-out day (days since the data's start)")
    ap.add_argument("--first-cut-day", type=int, default=2)
    ap.add_argument("--cut-every", type=int, default=1, help="days between cuts")
    ap.add_argument("--window-days", type=int, default=7)
    ap.add_argument("--val-day", type=int, default=None,
                    help="model selection inside the training days: train on days < val-day, report AUC on "
                         "[val-day, split-day) with histories cut at val-day")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--score", choices=["max", "softmax"], default="max")
    ap.add_argument("--tower-buckets", type=int, default=4096)
    ap.add_argument("--freeze-encoder", action="store_true", help="keep the random encoder; train the tower only")
    ap.add_argument("--click-weight", type=float, default=1.0,
                    help="weight of the auxiliary click loss (same score, its own scale and bias); 0 = conversions only")
    ap.add_argument("--reference-init", action="store_true",
                    help="keep llatte_ref's initialization (no input rescaling; see rescale_inputs)")
    ap.add_argument("--freeze-item-table", action="store_true",
                    help="keep embed.item at its random initialization (memorizing 4,000 items from ~5k positives overfits)")
    ap.add_argument("--n-max", type=int, default=None,
                    help=f"events the encoder reads, the newest ones (default {SIZES['n_max']})")
    ap.add_argument("--layers", type=int, default=None, help=f"transformer layers (default {SIZES['layers']})")
    ap.add_argument("--width", type=_width, default=None,
                    help=f"model width d, a multiple of 16 (default {SIZES['d']}); the sizes that follow it are "
                         "width_sizes(d)'s")
    ap.add_argument("--ids-only", action="store_true",
                    help="no semantic item features: the encoder and the item tower see every item's semantic "
                         "vector as zero (dataset.without_semantics); hashed item ids and the other token fields remain")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    return ap


def train(args: argparse.Namespace, corpus: dataset.Corpus | None = None, log=print) -> dict:
    """Trains per args and returns the state train.py saves. corpus: the data directory already loaded
    (with any config; it is re-pointed at this run's config), so that many runs can share one load."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    t0 = time.time()
    cfg = sample_config(args.data, args.model_version, **config_sizes(args))
    if corpus is None:
        corpus = dataset.load(args.data, cfg)
        log(f"loaded {len(corpus.users)} users, {corpus.stats['distinct_events']} events "
            f"({sum(v for k, v in corpus.stats.items() if k not in ('valid', 'distinct_events'))} lines quarantined) "
            f"in {time.time() - t0:.0f}s")
    else:
        corpus = dataclasses.replace(corpus, cfg=cfg)
    if args.ids_only:
        corpus = dataset.without_semantics(corpus)

    end_day = args.val_day if args.val_day is not None else args.split_day
    label_end = corpus.start_ts + end_day * DAY
    cuts = [corpus.start_ts + d * DAY for d in range(args.first_cut_day, end_day, args.cut_every)]
    train_exs = examples(corpus, cuts, args.window_days * DAY, label_end)
    val = []
    if args.val_day is not None:
        val_cut = corpus.start_ts + args.val_day * DAY
        val = examples(corpus, [val_cut], (args.split_day - args.val_day) * DAY, corpus.start_ts + args.split_day * DAY)
    n_imp = sum(len(e[2]) for e in train_exs)
    n_pos = sum(float(e[3].sum()) for e in train_exs)
    n_clk = sum(float(e[4].sum()) for e in train_exs)
    log(f"train: {len(train_exs)} (user, cut) examples, {n_imp} impressions, {n_pos:.0f} converted, "
        f"{n_clk:.0f} clicked; val: {len(val)}")

    model = LLaTTE(cfg)
    g = torch.Generator().manual_seed(args.seed)
    model.reset_parameters(g)
    if not args.reference_init:
        rescale_inputs(model)
    tower = ItemTower(cfg.d_sem, cfg.interest_dim, args.tower_buckets)
    table = ItemTable(corpus, tower)
    params = list(tower.parameters()) + ([] if args.freeze_encoder else list(model.parameters()))
    if args.freeze_encoder:
        model.requires_grad_(False)
    elif args.freeze_item_table:
        model.tensor("embed.item").requires_grad_(False)
        params = [p for p in params if p.requires_grad]
    bias = torch.nn.Parameter(torch.tensor(-3.5))  # conversion base rate ~3%; only the loss sees it
    # Clicks share the score (both are monotone in the generator's affinity) with their own affine map;
    # they are ~4x as frequent as conversions, so they carry most of the interest signal early on.
    click_affine = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = torch.optim.AdamW(params + [bias, click_affine], lr=args.lr, weight_decay=args.weight_decay)
    steps = args.epochs * len(batches(train_exs, corpus, args.batch, random.Random(0)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    history = []
    for epoch in range(args.epochs):
        model.train()
        tot, n = 0.0, 0
        for bi, idx in enumerate(batches(train_exs, corpus, args.batch, rng)):
            logits, labels, clicks = forward(model, tower, table, corpus, train_exs, idx, args.score)
            loss = F.binary_cross_entropy_with_logits(logits + bias, labels)
            if args.click_weight > 0:
                loss = loss + args.click_weight * F.binary_cross_entropy_with_logits(
                    click_affine[0] * logits + click_affine[1], clicks)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            tot += loss.item() * len(labels)
            n += len(labels)
        rec = {"epoch": epoch + 1, "train_loss": tot / n, "seconds": round(time.time() - t0)}
        if val:
            model.eval()
            with torch.no_grad():
                s, y = [], []
                for j in range(0, len(val), 128):
                    lg, lb, _ = forward(model, tower, table, corpus, val, list(range(j, min(j + 128, len(val)))),
                                        args.score)
                    s.append(lg.numpy())
                    y.append(lb.numpy())
            rec["val_auc"] = roc_auc(np.concatenate(s), np.concatenate(y))
        history.append(rec)
        log(json.dumps(rec))

    return {"config": cfg.to_json(), "encoder": model.state_dict(), "tower": tower.state_dict(),
            "tower_buckets": args.tower_buckets, "score": args.score, "args": vars(args), "history": history,
            "training_flops": training_flops(cfg, corpus, train_exs, tower, args.epochs),
            "seconds": time.time() - t0}


def main() -> None:
    """Parses the arguments, trains, and writes the state file."""
    args = parser().parse_args()
    state = train(args, log=lambda msg: print(msg, flush=True))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(state, args.out)
    print(f"wrote {args.out} ({state['seconds']:.0f}s, {state['training_flops']:.3g} training FLOPs)")


if __name__ == "__main__":
    main()
