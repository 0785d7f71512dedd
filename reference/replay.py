#!/usr/bin/env python3
"""Replays a sample's event logs through llatte hour by hour and records every embedding it stores.

    python3 reference/replay.py --data sample-data --checkpoint CKPT --start-day 16 --work /tmp/replay \
        --llatte .build/release/llatte

This is how the downstream study (reference/downstream.py) gets the embeddings an online ranker
would have read at each moment, written by llatte itself rather than re-computed:

- the days before `--start-day` go in whole and a `backfill` pipeline (with the checkpoint, promoted)
  encodes every user as of that day's midnight;
- every later day is cut into hourly files (an event goes in the hour of its ts, a late event or a
  line without a readable ts in the file's first hour), which arrive one at a time: after each hour a
  `refresh` pipeline ingests it and re-encodes the users who converted in it (llatte's conversion
  trigger, docs/pipelines.md "Trigger policy"), and after a day's last hour a `nightly` pipeline
  (with `select.stale_after_events: 1`) re-encodes every user whose history grew that day.

After each run the rows it wrote are read from the embedding store's active version exactly as
docs/store.md "Reading it from Python" reads one row (codes × scales), and recorded with the time
from which a reader would have seen them (the end of the hour just ingested). The result is an
`.npz`: `valid_from` [R] int64 (unix seconds), `user` [R] uint64, `kind` [R] int8 (0 backfill,
1 nightly, 2 refresh), `emb` [R, K·D] float32, `history_version` [R] int64, plus `runs` (seconds
each llatte run took).
"""
from __future__ import annotations

import argparse
import calendar
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llatte_ref import data  # noqa: E402

HOUR = 3600
DAY = 86400
KINDS = {"backfill": 0, "nightly": 1, "refresh": 2}


def day_files(data_dir: str) -> list[tuple[int, str]]:
    """(day start ts, path) of the sample's daily event files, by day."""
    out = []
    for path in data.event_files(os.path.join(data_dir, "events")):
        name = os.path.basename(path).split(".")[0]            # 2026-10-17
        out.append((calendar.timegm(time.strptime(name, "%Y-%m-%d")), path))
    return sorted(out)


def hourly_lines(day_start: int, raw: bytes) -> dict[int, list[bytes]]:
    """The lines of one day's file by hour start: the hour of the line's ts within the file's day, or the
    day's first hour for a late event or a line without a readable ts."""
    hours: dict[int, list[bytes]] = {}
    for line in raw.splitlines():
        try:
            ts = int(json.loads(line)["ts"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            ts = day_start
        hour = min(max(ts, day_start), day_start + DAY - 1) // HOUR * HOUR
        hours.setdefault(hour, []).append(line)
    return hours


def pipeline_yaml(kind: str, work: str, data_dir: str, checkpoint: str, ts_range: tuple[int, int]) -> str:
    """One of the three pipeline files the replay runs (docs/pipelines.md)."""
    lines = [
        f"pipeline: {kind}",
        f"history_store: {work}/history.db",
        f"embedding_store: {work}/embeddings.db",
    ]
    if kind == "backfill":
        lines.append(f"checkpoint: {checkpoint}")
    lines += [
        "inputs:",
        f"  events: [{work}/events]",
        f"  features: [{data_dir}/users.jsonl]",
        f"  catalog: {data_dir}/catalog.db",
        "history:",
        "  conversion_types: [purchase, lead, app_install]",
        f"  min_ts: {ts_range[0]}",
        f"  max_ts: {ts_range[1]}",
        "  retention_cap: 4096",
        "ingest:",
        # An hourly file holds ~100 lines, so one bad line of the sample's 0.3% is already several percent.
        "  max_bad_fraction: 0.5",
        f"  quarantine_dir: {work}/quarantine",
        "encode:",
        "  threads: 2",
    ]
    if kind == "nightly":
        lines += ["select:", "  stale_after_events: 1"]
    return "\n".join(lines) + "\n"


def rows_of_run(db_path: str) -> tuple[int, list[tuple[int, np.ndarray, int]]]:
    """(run id, [(user, codes × scales [K·D], history_version)]) of the newest run, from the active version."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        table, k, d = db.execute(
            "SELECT table_name, interests, interest_dim FROM model_versions WHERE status = 'active'").fetchone()
        run_id = db.execute("SELECT max(run_id) FROM runs").fetchone()[0]
        out = []
        for key, codes, scales, hv in db.execute(
                f"SELECT user_id, codes, scales, history_version FROM {table} WHERE run_id = ?", (run_id,)):
            c = np.frombuffer(codes, np.int8).astype(np.float32).reshape(k, d)
            s = np.array(struct.unpack(f"<{k}f", scales), np.float32)
            out.append((key + 2**64 if key < 0 else key, (c * s[:, None]).reshape(-1), hv))
        return run_id, out
    finally:
        db.close()


def replay(data_dir: str, checkpoint: str, start_day: int, work: str, llatte: str, log=print) -> dict:
    """Runs the whole replay into `work` (emptied first) and returns the recorded rows as arrays."""
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "events"))
    ts_range = data.ts_range(data_dir)
    with open(os.path.join(data_dir, "manifest.json")) as fh:
        start_ts = int(json.load(fh)["options"]["start_ts"])
    t0 = start_ts + start_day * DAY
    for kind in KINDS:
        with open(os.path.join(work, f"{kind}.yaml"), "w") as fh:
            fh.write(pipeline_yaml(kind, work, os.path.abspath(data_dir), os.path.abspath(checkpoint), ts_range))

    rec: dict[str, list] = {"valid_from": [], "user": [], "kind": [], "emb": [], "history_version": []}
    seconds: list[float] = []

    def run(kind: str, valid_from: int) -> None:
        t = time.time()
        proc = subprocess.run([llatte, "run", os.path.join(work, f"{kind}.yaml"), "--quiet"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"llatte run {kind} at {valid_from} exited {proc.returncode}: {proc.stderr[-2000:]}")
        seconds.append(time.time() - t)
        _, rows = rows_of_run(os.path.join(work, "embeddings.db"))
        for user, emb, hv in rows:
            rec["valid_from"].append(valid_from)
            rec["user"].append(user)
            rec["kind"].append(KINDS[kind])
            rec["emb"].append(emb)
            rec["history_version"].append(hv)

    later = []
    for day_start, path in day_files(data_dir):
        if day_start < t0:
            shutil.copy(path, os.path.join(work, "events", os.path.basename(path)))
        else:
            later.append((day_start, path))
    run("backfill", t0)
    log(f"replay: backfill as of day {start_day}: {len(rec['user'])} users")
    for day_start, path in later:
        hours = hourly_lines(day_start, data.read_bytes(path))
        for hour in range(day_start, day_start + DAY, HOUR):
            name = time.strftime("%Y-%m-%dT%H", time.gmtime(hour)) + ".jsonl"
            with open(os.path.join(work, "events", name), "wb") as fh:
                fh.write(b"".join(line + b"\n" for line in hours.get(hour, [])))
            run("nightly" if hour + HOUR == day_start + DAY else "refresh", hour + HOUR)
        log(f"replay: {time.strftime('%Y-%m-%d', time.gmtime(day_start))} done, {len(rec['user'])} rows so far, "
            f"{sum(seconds):.0f} s in llatte")
    return {"valid_from": np.array(rec["valid_from"], np.int64), "user": np.array(rec["user"], np.uint64),
            "kind": np.array(rec["kind"], np.int8), "emb": np.stack(rec["emb"]).astype(np.float32),
            "history_version": np.array(rec["history_version"], np.int64), "runs": np.array(seconds)}


def main() -> None:
    """Parses the arguments, replays, and writes the .npz."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="sample-data")
    ap.add_argument("--checkpoint", required=True, help="exported checkpoint directory the backfill encodes with")
    ap.add_argument("--start-day", type=int, required=True, help="first replayed day (days since the data's start)")
    ap.add_argument("--work", required=True, help="directory for the stores and files (emptied first)")
    ap.add_argument("--llatte", default=".build/release/llatte")
    ap.add_argument("--out", required=True, help="the .npz written")
    args = ap.parse_args()
    got = replay(args.data, args.checkpoint, args.start_day, args.work, args.llatte)
    np.savez_compressed(args.out, **got)
    print(f"wrote {args.out}: {len(got['user'])} rows from {len(got['runs'])} llatte runs "
          f"({got['runs'].sum():.0f} s)")


if __name__ == "__main__":
    main()
