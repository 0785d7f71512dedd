"""Raw events + user features + catalog rows -> model inputs, exactly as docs/checkpoint.md defines them.

Everything here is integer or float64 arithmetic in plain Python, so it is the specification as
code: the Swift tokenizer is tested against what this writes.
"""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Iterable, Mapping

import numpy as np

from .config import ModelConfig

MASK64 = (1 << 64) - 1


def fmix(z: int) -> int:
    """The splitmix64 finalizer alone (no increment first), in wrapping unsigned 64-bit arithmetic."""
    z &= MASK64
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & MASK64
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & MASK64
    z ^= z >> 31
    return z


def bucket(item_id: int, buckets: int) -> int:
    """Item id -> embedding row: fmix(id) mod buckets (a power of two)."""
    return fmix(item_id) % buckets


def time_bucket(as_of: int, ts: int, n_time: int) -> int:
    """min(bitLength(max(as_of - ts, 0)), n_time - 1)."""
    return min(max(as_of - ts, 0).bit_length(), n_time - 1)


@dataclasses.dataclass
class RawEvent:
    """One event as a log line carries it (identity, time, item, vocabulary strings, metadata)."""
    user_id: int
    event_id: int | str
    ts: int
    item_id: int
    type: str
    surface: str
    dwell_ms: float
    value: float

    def order_key(self) -> tuple:
        """History order: by ts; ties integer ids before string ids, integers by value, strings by UTF-8 bytes."""
        if isinstance(self.event_id, int):
            return (self.ts, 0, self.event_id, b"")
        return (self.ts, 1, 0, self.event_id.encode("utf-8"))


def parse_event_line(line: str) -> RawEvent:
    """A valid event line (goldens only carry valid lines; validation is the Swift reader's job)."""
    o = json.loads(line)
    eid = o["event_id"]
    if isinstance(eid, bool) or not isinstance(eid, (int, str)):
        raise ValueError(f"event_id {eid!r}")
    return RawEvent(int(o["user_id"]), eid, int(o["ts"]), int(o["item_id"]), o["type"], o["surface"],
                    float(o.get("dwell_ms") or 0), float(o.get("value") or 0))


def user_history(events: Iterable[RawEvent]) -> list[RawEvent]:
    """Deduplicated by event id (the first ingested wins) and put in history order."""
    seen: set[tuple] = set()
    out = []
    for e in events:
        key = (isinstance(e.event_id, int), e.event_id)
        if key in seen:
            continue
        seen.add(key)
        out.append(e)
    out.sort(key=RawEvent.order_key)
    return out


@dataclasses.dataclass
class Tokens:
    """One user's model inputs: n sequence tokens (n may be 0) and the user vector f."""
    item_bucket: np.ndarray   # [n] int64
    type_index: np.ndarray    # [n] int64, 0 = unknown
    surface_index: np.ndarray  # [n] int64, 0 = unknown
    time_bucket: np.ndarray   # [n] int64
    sem: np.ndarray           # [n, d_sem] float32 (rows of missing items are zero; see sem_missing)
    sem_missing: np.ndarray   # [n] bool
    meta: np.ndarray          # [n, 2] float32
    f: np.ndarray             # [d_f] float32
    as_of: int | None

    @property
    def n(self) -> int:
        return int(self.item_bucket.shape[0])


def user_vector(cfg: ModelConfig, features: Mapping[str, Any] | None, as_of: int | None) -> np.ndarray:
    """f: each declared feature in order (categorical one-hot [unknown, v1..vk]; dense scalar), then
    a 24-slot hour and a 7-slot weekday one-hot of as_of (all zero when the user has no events).

    A categorical feature whose value is absent, not a string or outside the vocabulary sets slot 0;
    a dense feature that is absent or not a number contributes 0; a non-finite dense value is an error.
    """
    f = np.zeros(cfg.d_f, dtype=np.float32)
    at = 0
    features = features or {}
    for feat in cfg.features:
        v = features.get(feat.name)
        if feat.kind == "categorical":
            slot = 0
            if isinstance(v, str):
                try:
                    slot = 1 + feat.vocab.index(v)
                except ValueError:
                    slot = 0
            f[at + slot] = 1.0
        else:
            x = 0.0
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                x = float(v)
                if not math.isfinite(x):
                    raise ValueError(f"dense feature {feat.name} is not finite")
            f[at] = np.float32(x)
        at += feat.width()
    if as_of is not None:
        hour = (as_of // 3600) % 24
        dow = (as_of // 86400 + 3) % 7
        f[at + hour] = 1.0
        f[at + 24 + dow] = 1.0
    return f


def tokenize(cfg: ModelConfig, history: list[RawEvent], features: Mapping[str, Any] | None,
             catalog: Mapping[int, np.ndarray]) -> Tokens:
    """docs/checkpoint.md's inputs for one user whose history is already deduplicated and ordered."""
    events = history[-cfg.n_max:] if cfg.n_max > 0 else []
    as_of = history[-1].ts if history else None
    n = len(events)
    types = {s: i + 1 for i, s in enumerate(cfg.types)}
    surfaces = {s: i + 1 for i, s in enumerate(cfg.surfaces)}
    sem = np.zeros((n, cfg.d_sem), dtype=np.float32)
    missing = np.zeros(n, dtype=bool)
    for t, e in enumerate(events):
        vec = catalog.get(e.item_id)
        if vec is None:
            missing[t] = True
        else:
            sem[t] = vec
    return Tokens(
        item_bucket=np.array([bucket(e.item_id, cfg.item_buckets) for e in events], dtype=np.int64),
        type_index=np.array([types.get(e.type, 0) for e in events], dtype=np.int64),
        surface_index=np.array([surfaces.get(e.surface, 0) for e in events], dtype=np.int64),
        time_bucket=np.array([time_bucket(as_of, e.ts, cfg.n_time) for e in events], dtype=np.int64),
        sem=sem,
        sem_missing=missing,
        meta=np.array([[np.float32(math.log1p(e.dwell_ms)), np.float32(math.log1p(e.value))] for e in events],
                      dtype=np.float32).reshape(n, 2),
        f=user_vector(cfg, features, as_of),
        as_of=as_of,
    )
