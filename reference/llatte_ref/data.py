"""Reading the sample data as llatte's ingest does: event lines validated with the quarantine rules of
docs/data.md (a bad line is skipped, with its reason counted), user features and the SQLite catalog.

Deduplication and history order are llatte_ref.tokenizer.user_history's job; this module yields valid
events in ingest order (files in byte order of their paths, lines in file order), which is what the
"first ingested wins" rule needs.
"""
from __future__ import annotations

import collections
import decimal
import glob
import json
import math
import os
import sqlite3
from typing import Any, Iterator

import numpy as np

from .tokenizer import RawEvent

U64_MAX = (1 << 64) - 1
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
MAX_LINE = 1 << 20
REQUIRED = ("event_id", "ts", "user_id", "item_id", "type", "surface")
LZ4_MAGIC = b"\x04\x22\x4d\x18"


class Bad(Exception):
    """A quarantined line: .reason is one of docs/data.md's reason codes."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.field = field


def _no_constants(name: str):
    # NaN, Infinity and -Infinity are not JSON; Python's json accepts them by default.
    raise ValueError(f"not JSON: {name}")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A duplicate key at any depth quarantines the line; the hook runs for every nested object.
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DupKey(k)
        out[k] = v
    return out


class _DupKey(Exception):
    """Raised by the object hook on a repeated key."""


def _has_lone_surrogate(v: Any) -> bool:
    if isinstance(v, str):
        try:
            v.encode("utf-8")
            return False
        except UnicodeEncodeError:
            return True
    if isinstance(v, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(x) for k, x in v.items())
    if isinstance(v, list):
        return any(_has_lone_surrogate(x) for x in v)
    return False


def _as_integer(v: Any, field: str) -> int:
    # Any exactly integral JSON number is an integer ("1e3" is 1000); strings, bools, null are not.
    if isinstance(v, bool) or v is None or not isinstance(v, (int, decimal.Decimal)):
        raise Bad("wrong_type", field)
    if isinstance(v, decimal.Decimal):
        # Judged on the decimal spelling: 13082216415684383202.5 must not round to an integral double.
        if v != v.to_integral_value():
            raise Bad("wrong_type", field)
        if v.adjusted() > 40:  # far beyond 64 bits; spare int() a huge expansion
            raise Bad("integer_out_of_range", field)
        v = int(v)
    return v


def _metadata(v: Any, field: str) -> float:
    if v is None:
        return 0.0
    if isinstance(v, bool) or not isinstance(v, (int, decimal.Decimal)):
        raise Bad("wrong_type", field)
    x = float(v)  # 1e999 overflows to infinity, as in the Swift reader
    if not math.isfinite(x) or x < 0:
        raise Bad("bad_metadata", field)
    return x


def parse_line(raw: bytes, min_ts: int, max_ts: int) -> RawEvent:
    """One physical line (without its newline) -> RawEvent, or raises Bad with the quarantine reason."""
    if len(raw) > MAX_LINE:
        raise Bad("not_json_object")
    # Syntax first: parse with invalid bytes smuggled through, then judge the UTF-8 separately.
    text = raw.decode("utf-8", errors="surrogateescape")
    try:
        obj = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constants, parse_float=decimal.Decimal)
    except _DupKey:
        obj = None
        dup = True
    except (ValueError, RecursionError):
        raise Bad("not_json_object")
    else:
        dup = False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Bad("invalid_utf8")
    if dup:
        raise Bad("duplicate_key")
    if not isinstance(obj, dict):
        raise Bad("not_json_object")
    if _has_lone_surrogate(obj):
        raise Bad("invalid_utf8")
    vals: dict[str, Any] = {}
    # Bad fields in line order (dicts keep it), then missing fields in table order, then the ts range.
    for key, v in obj.items():
        if key in ("ts", "user_id", "item_id"):
            n = _as_integer(v, key)
            lo, hi = (I64_MIN, I64_MAX) if key == "ts" else (0, U64_MAX)
            if not lo <= n <= hi:
                raise Bad("integer_out_of_range", key)
            vals[key] = n
        elif key == "event_id":
            if isinstance(v, str):
                vals[key] = v
            else:
                n = _as_integer(v, key)
                if not 0 <= n <= U64_MAX:
                    raise Bad("integer_out_of_range", key)
                vals[key] = n
        elif key in ("type", "surface"):
            if not isinstance(v, str):
                raise Bad("wrong_type", key)
            vals[key] = v
        elif key in ("dwell_ms", "value"):
            vals[key] = _metadata(v, key)
    for key in REQUIRED:
        if key not in vals:
            raise Bad("missing_field", key)
    if not min_ts <= vals["ts"] <= max_ts:
        raise Bad("ts_out_of_range", "ts")
    return RawEvent(vals["user_id"], vals["event_id"], vals["ts"], vals["item_id"], vals["type"],
                    vals["surface"], vals.get("dwell_ms", 0.0), vals.get("value", 0.0))


def read_bytes(path: str) -> bytes:
    """A file's content, LZ4-frame decompressed when it starts with a frame magic."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:4] == LZ4_MAGIC or (len(data) >= 4 and data[1:4] == b"\x2a\x4d\x18" and data[0] & 0xF0 == 0x50):
        import lz4.frame
        data = lz4.frame.decompress(data)
    return data


def event_files(root: str) -> list[str]:
    """Event files under root in byte order of their paths, as ingest visits them."""
    if os.path.isfile(root):
        return [root]
    found = []
    for pat in ("*.jsonl", "*.jsonl.lz4", "*.ndjson", "*.ndjson.lz4"):
        found += glob.glob(os.path.join(root, "**", pat), recursive=True)
    found = [p for p in found if not any(part.startswith(".") for part in os.path.relpath(p, root).split(os.sep))]
    return sorted(set(found), key=lambda p: p.encode("utf-8"))


def read_events(root: str, min_ts: int, max_ts: int,
                stats: collections.Counter | None = None) -> Iterator[RawEvent]:
    """Valid events in ingest order; quarantined lines are skipped and counted in stats by reason."""
    for path in event_files(root):
        for raw in read_bytes(path).split(b"\n"):
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if not raw.strip():
                continue
            try:
                ev = parse_line(raw, min_ts, max_ts)
            except Bad as bad:
                if stats is not None:
                    stats[bad.reason] += 1
                continue
            if stats is not None:
                stats["valid"] += 1
            yield ev


def read_features(path: str) -> dict[int, dict[str, Any]]:
    """user_id -> feature record (without user_id); within the file the last record of a user wins."""
    out: dict[int, dict[str, Any]] = {}
    for raw in read_bytes(path).split(b"\n"):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw, parse_constant=_no_constants)
        except ValueError:
            continue
        if not isinstance(rec, dict) or isinstance(rec.get("user_id"), bool) or not isinstance(rec.get("user_id"), int):
            continue
        out[rec["user_id"]] = {k: v for k, v in rec.items() if k != "user_id" and v is not None}
    return out


def read_catalog(path: str) -> tuple[dict[int, np.ndarray], dict[str, str]]:
    """(item_id -> f32 vector, catalog_meta); ids are stored as signed 64-bit and mapped back to u64."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        meta = dict(con.execute("SELECT key, value FROM catalog_meta").fetchall())
        d_sem = int(meta["d_sem"])
        cat = {}
        for item_id, blob in con.execute("SELECT item_id, vector FROM items"):
            vec = np.frombuffer(blob, dtype="<f4")
            if vec.shape[0] != d_sem:
                raise ValueError(f"item {item_id}: vector of {vec.shape[0]} floats, d_sem {d_sem}")
            cat[item_id & U64_MAX] = vec.astype(np.float32)
    finally:
        con.close()
    return cat, meta


def ts_range(data_dir: str) -> tuple[int, int]:
    """The [min_ts, max_ts] the generator recorded in manifest.json."""
    with open(os.path.join(data_dir, "manifest.json")) as fh:
        r = json.load(fh)["ts_range"]
    return int(r["min_ts"]), int(r["max_ts"])
