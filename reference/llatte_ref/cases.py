"""Expected outputs for raw-event cases: the self-test of a checkpoint and the parity goldens.

A case set carries its own raw event lines, user-feature records and catalog rows, and for each
user the reference's embedding computed in float64 from the stored (f32-widened) weights, with the
int8 codes and scales quantized from it in f32.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from .config import ModelConfig
from .model import LLaTTE, Batch, quantize
from .tokenizer import parse_event_line, user_history, tokenize, RawEvent

FORMAT = "llatte-cases-v1"


def expected(model: LLaTTE, lines: list[str], features: list[dict[str, Any]], catalog: dict[int, np.ndarray],
             users: list[int] | None = None) -> list[dict[str, Any]]:
    """Per user (every user with events or features, ascending id, unless `users` names them)."""
    cfg = model.cfg
    by_user: dict[int, list[RawEvent]] = OrderedDict()
    for line in lines:
        e = parse_event_line(line)
        by_user.setdefault(e.user_id, []).append(e)
    feats: dict[int, dict[str, Any]] = {}
    for rec in features:
        feats[int(rec["user_id"])] = {k: v for k, v in rec.items() if k != "user_id"}
    ids = sorted(set(by_user) | set(feats)) if users is None else users
    m64 = LLaTTE(cfg).double()
    m64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    out = []
    with torch.no_grad():
        for uid in ids:
            hist = user_history(by_user.get(uid, []))
            tok = tokenize(cfg, hist, feats.get(uid), catalog)
            z = m64(Batch([tok], cfg, dtype=torch.float64))[0].numpy()
            z32 = z.astype(np.float32)
            codes, scales = quantize(z32)
            out.append({
                "user_id": uid,
                "n_events": tok.n,
                "as_of": tok.as_of,
                "z": [[float(x) for x in row] for row in z32],
                "codes": codes.astype(int).tolist(),
                "scales": [float(s) for s in scales],
            })
    return out


def write(path: str, model: LLaTTE, lines: list[str], features: list[dict[str, Any]],
          catalog: dict[int, np.ndarray], note: str) -> None:
    cfg = model.cfg
    doc = {
        "format": FORMAT,
        "note": note,
        "model_version": cfg.model_version,
        "semantic_model": cfg.semantic_model,
        "d_sem": cfg.d_sem,
        "events": lines,
        # Feature records as JSON lines, read by the same parser as feature ingest.
        "features": [json.dumps(r, separators=(",", ":")) for r in features],
        "catalog": [{"item_id": k, "vector": [float(x) for x in np.asarray(v, dtype=np.float32)]}
                    for k, v in sorted(catalog.items())],
        "expected": expected(model, lines, features, catalog),
    }
    with open(path, "w") as fh:
        json.dump(doc, fh, separators=(",", ":"))
        fh.write("\n")
