#!/usr/bin/env bash
# Merge throughput and memory (make bench, docs/performance.md "Merge").
#
# For each total row count in BENCH_MERGE_ROWS (default 1,000,000 and 10,000,000): BENCH_MERGE_SHARDS
# (default 4) synthetic shard stores of the sample checkpoint's shape (K = 4, D = 16), written by
# `llatte bench export-store --shard k/n` (each holds the users of its shard, as a sharded backfill
# leaves them), then `llatte merge --into` a fresh store of all of them under GNU time: wall
# seconds, CPU seconds (user + system), rows/s over each, and peak RSS. The merged store must hold every row. Peak RSS must not grow with
# the row count: RSS(largest) / RSS(smallest) is printed (target <= 1.10).
# BENCH_MERGE_COMPARE=<another llatte binary> also times that binary's merge of the same stores.
set -euo pipefail
LLATTE=${LLATTE:-.build/release/llatte}
DIR=${BENCH_MERGE_DIR:-bench-data/merge}
ROWS=${BENCH_MERGE_ROWS:-1000000 10000000}
SHARDS=${BENCH_MERGE_SHARDS:-4}
COMPARE=${BENCH_MERGE_COMPARE:-}
mkdir -p "$DIR"

echo "== merge: $SHARDS synthetic shard stores of $(echo "$ROWS" | sed 's/ / and /g') rows in all, K 4 x D 16 ($(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs)"
declare -A rss
merge() {   # merge LABEL BINARY N: one merge under GNU time into a fresh store; sets $peak
  local label=$1 bin=$2 n=$3 into="$DIR/$3/merged.db"
  rm -f "$into" "$into-wal" "$into-shm" "$into.merge.lock"
  /usr/bin/time -f '%e %U %S %M' -o "$DIR/time.out" "$bin" merge --into "$into" "$DIR/$n"/shard-*.db > "$DIR/merge.out" 2> "$DIR/merge.err" \
    || { cat "$DIR/merge.out" "$DIR/merge.err"; exit 1; }
  local wall user sys cpu
  read -r wall user sys peak < <(tail -1 "$DIR/time.out")
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
  local coverage
  coverage=$("$LLATTE" model list --embedding-store "$into" --json | sed -n 's/.*"coverage":\([0-9]*\).*/\1/p')
  if [ "$coverage" != "$n" ]; then echo "merged store holds $coverage rows, not $n"; exit 1; fi
  awk -v l="$label" -v n="$n" -v w="$wall" -v c="$cpu" -v k="$peak" -v bytes="$(stat -c %s "$into")" 'BEGIN {
    printf "rows=%d %s wall_seconds=%.2f rows/s=%d cpu_seconds=%.2f rows/cpu_s=%d peak_RSS_MB=%.1f merged_MB=%d\n",
      n, l, w, n / w, c, n / c, k / 1024, bytes / 1000000 }'
  sed 's/^/  /' "$DIR/merge.out"
}
first=""; last=""
for n in $ROWS; do
  mkdir -p "$DIR/$n"
  for ((k = 0; k < SHARDS; k++)); do
    if [ ! -f "$DIR/$n/shard-$k.db" ]; then
      "$LLATTE" bench export-store --users "$n" --shard "$k/$SHARDS" --model-version bench-merge --store "$DIR/$n/shard-$k.db" >/dev/null
    fi
  done
  merge "merge" "$LLATTE" "$n"
  rss[$n]=$peak
  if [ -n "$COMPARE" ]; then merge "compared($COMPARE)" "$COMPARE" "$n"; fi
  rm -f "$DIR/$n/merged.db" "$DIR/$n/merged.db-wal" "$DIR/$n/merged.db-shm"
  [ -n "$first" ] || first=$n
  last=$n
done
if [ "$first" != "$last" ]; then
  awk -v a="${rss[$first]}" -v b="${rss[$last]}" -v f="$first" -v l="$last" 'BEGIN {
    printf "RSS(%d rows) / RSS(%d rows) = %.3f (target <= 1.10)\n", l, f, b / a }'
fi
