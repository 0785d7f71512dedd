#!/usr/bin/env python3
"""Exports a trained encoder as a llatte checkpoint directory: config.json, model.safetensors, selftest.json.

    python3 reference/export.py --state /tmp/llatte-run/sample-v1.pt --data sample-data \
        --out sample-data/checkpoint --dtype f16

The self-test carries real users' raw event lines from the data (valid lines only, duplicates and
late lines included, in file order), their feature records, a user whose feature record is left
out, a user with features and no events, and the catalog rows of the items those events use.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llatte_ref import cases, checkpoint, data  # noqa: E402
from llatte_ref.config import ModelConfig  # noqa: E402
from llatte_ref.model import LLaTTE  # noqa: E402
from llatte_ref.tokenizer import parse_event_line  # noqa: E402


def user_lines(data_dir: str) -> dict[int, list[str]]:
    """user_id -> that user's valid raw event lines, in ingest order."""
    lo, hi = data.ts_range(data_dir)
    out: dict[int, list[str]] = {}
    for path in data.event_files(os.path.join(data_dir, "events")):
        for raw in data.read_bytes(path).split(b"\n"):
            raw = raw[:-1] if raw.endswith(b"\r") else raw
            if not raw.strip():
                continue
            try:
                ev = data.parse_line(raw, lo, hi)
            except data.Bad:
                continue
            out.setdefault(ev.user_id, []).append(raw.decode("utf-8"))
    return out


def pick_cases(lines: dict[int, list[str]], features: dict[int, dict], catalog: dict, max_lines: int = 40):
    """Deterministic choice of self-test users: a duplicate line, string event ids, an item missing
    from the catalog, a longer history, one without a feature record, one with features only."""
    def parsed(uid):
        return [parse_event_line(l) for l in lines[uid]]
    short = sorted(u for u, ls in lines.items() if 5 <= len(ls) <= max_lines)
    chosen: list[int] = []
    def take(pred):
        for u in short:
            if u not in chosen and pred(u):
                chosen.append(u)
                return u
        return None
    take(lambda u: len({(type(e.event_id), e.event_id) for e in parsed(u)}) < len(lines[u]))  # a duplicate
    take(lambda u: any(isinstance(e.event_id, str) for e in parsed(u)))
    take(lambda u: any(e.item_id not in catalog for e in parsed(u)))
    take(lambda u: len(lines[u]) >= max_lines - 5)
    no_features = take(lambda u: u in features)
    no_events = min(u for u in features if u not in lines)
    recs = [{"user_id": u, **features[u]} for u in chosen if u != no_features and u in features]
    recs.append({"user_id": no_events, **features[no_events]})
    case_lines = [l for u in chosen for l in lines[u]]
    return chosen + [no_events], case_lines, recs


def main() -> None:
    """Parses the arguments and writes the checkpoint directory."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state", required=True, help="train.py output")
    ap.add_argument("--data", default="sample-data")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", choices=list(checkpoint.DTYPES), default="f16")
    args = ap.parse_args()

    state = torch.load(args.state, weights_only=False)
    cfg = ModelConfig.from_json(state["config"])
    model = LLaTTE(cfg)
    model.load_state_dict(state["encoder"])
    checkpoint.save(model, args.out, args.dtype)  # rounds the weights in place to what is stored

    catalog, meta = data.read_catalog(os.path.join(args.data, "catalog.db"))
    if meta["semantic_model"] != cfg.semantic_model:
        raise SystemExit(f"catalog semantic model {meta['semantic_model']}, checkpoint {cfg.semantic_model}")
    lines = user_lines(args.data)
    features = data.read_features(os.path.join(args.data, "users.jsonl"))
    users, case_lines, recs = pick_cases(lines, features, catalog)
    items = {parse_event_line(l).item_id for l in case_lines}
    rows = {i: catalog[i] for i in items if i in catalog}
    note = (f"reference/export.py: {cfg.model_version}, {args.dtype} weights; real users {users} of "
            f"{os.path.normpath(args.data)} (the last one has features and no events; one has events and no features)")
    cases.write(os.path.join(args.out, "selftest.json"), model, case_lines, recs, rows, note)
    sizes = {n: os.path.getsize(os.path.join(args.out, n)) for n in ("config.json", "model.safetensors", "selftest.json")}
    print(json.dumps({"out": args.out, "identity": checkpoint.identity(args.out), "bytes": sizes,
                      "cases": len(users), "event_lines": len(case_lines), "catalog_rows": len(rows)}))


if __name__ == "__main__":
    main()
