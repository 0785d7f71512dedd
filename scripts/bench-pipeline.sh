#!/usr/bin/env bash
# Pipeline throughput and memory (make bench).
#
# 1. Stages: a backfill of a generated set (the generator's length mix) with the bench config at
#    n_max = 256 and random weights, next to encode-only on the same users pre-tokenized in memory
#    and a raw SQLite insert of the same rows (llatte bench pipeline).
# 2. Memory: `llatte run` backfills of 50,000 and 200,000 short-history users with the shipped
#    sample checkpoint; peak RSS of each (GNU time, the lower of two runs), which must not grow
#    with the user count.
set -euo pipefail
LLATTE=${LLATTE:-.build/release/llatte}
DIR=${BENCH_PIPELINE_DIR:-bench-data/pipeline}
USERS=${BENCH_PIPELINE_USERS:-3000}
CHECKPOINT=${BENCH_CHECKPOINT:-sample-data/checkpoint}
THREADS=${BENCH_THREADS:-2}
mkdir -p "$DIR"

echo "== pipeline stages (bench config, n_max 256, $USERS users of the generator's length mix, $THREADS threads)"
if [ ! -f "$DIR/mix/manifest.json" ]; then
  "$LLATTE" sample --out "$DIR/mix" --users "$USERS" --days 30 --seed 21 --no-truth --overwrite >/dev/null
fi
rm -rf "$DIR/mix-store"
"$LLATTE" ingest --history-store "$DIR/mix-store/history.db" --features "$DIR/mix/users.jsonl" \
  --conversion-types purchase,lead,app_install --min-ts 1759276800 --max-ts 1795996800 "$DIR/mix/events" >/dev/null 2>&1
"$LLATTE" bench pipeline --history-store "$DIR/mix-store/history.db" --catalog "$DIR/mix/catalog.db" \
  --work "$DIR/mix-store" --n-max 256 --threads "$THREADS"

echo "== memory: backfills of 50,000 and 200,000 short-history users with $CHECKPOINT"
if [ ! -f "$CHECKPOINT/config.json" ]; then
  echo "no checkpoint at $CHECKPOINT: memory runs skipped"; exit 0
fi
declare -A rss
for n in 50000 200000; do
  gen="$DIR/short-$n"
  if [ ! -f "$gen/manifest.json" ]; then
    "$LLATTE" sample --out "$gen" --users "$n" --days 7 --seed 5 --short-history --no-truth --overwrite >/dev/null
  fi
  rm -rf "$gen/out"
  cat > "$gen/backfill.yaml" <<YAML
pipeline: backfill
history_store: $gen/out/history.db
embedding_store: $gen/out/embeddings.db
checkpoint: $CHECKPOINT
inputs:
  events: [$gen/events]
  features: [$gen/users.jsonl]
  catalog: $gen/catalog.db
history:
  conversion_types: [purchase, lead, app_install]
  min_ts: 1759276800
  max_ts: 1795996800
encode:
  threads: $THREADS
YAML
  # Two fresh runs, the lower peak kept: runs of the same input vary by about 1.5 MB with the
  # allocator's state, which is not a property of the user count.
  rss[$n]=0
  for run in 1 2; do
    rm -rf "$gen/out"
    /usr/bin/time -v "$LLATTE" run "$gen/backfill.yaml" --quiet > "$gen/run.out" 2> "$gen/time.err" || { cat "$gen/time.err"; exit 1; }
    peak=$(grep 'Maximum resident set size' "$gen/time.err" | awk '{print $NF}')
    if [ "${rss[$n]}" = 0 ] || [ "$peak" -lt "${rss[$n]}" ]; then rss[$n]=$peak; fi
    echo "users=$n run=$run peak_RSS_MB=$((peak / 1024)) $(grep '^encode:' "$gen/run.out" | grep -o 'users/s=[0-9.]*')"
  done
done
awk -v a="${rss[50000]}" -v b="${rss[200000]}" 'BEGIN {
  r = b / a; printf "RSS(200k) / RSS(50k) = %.3f, lower peak of two runs each (target <= 1.10); RSS(200k) = %.0f MB (target <= 2048)\n", r, b / 1024 }'
