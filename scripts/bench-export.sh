#!/usr/bin/env bash
# Export throughput and memory (make bench, docs/performance.md "Export").
#
# Synthetic embedding stores of 100,000 and 1,000,000 users of the sample checkpoint's shape
# (K = 4, D = 16; half the ids >= 2^63), written through EmbeddingStore by
# `llatte bench export-store`, then `llatte export` of each: npy (two runs, the lower peak RSS by
# GNU time kept), npy --dequantize and jsonl. Peak RSS must not grow with the user count.
set -euo pipefail
LLATTE=${LLATTE:-.build/release/llatte}
DIR=${BENCH_EXPORT_DIR:-bench-data/export}
mkdir -p "$DIR"

echo "== export: synthetic stores of 100,000 and 1,000,000 users, K 4 x D 16 ($(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs)"
declare -A rss
run() {   # run LABEL N ARGS...: one export under GNU time; prints rows/s and peak RSS, sets $peak
  local label=$1 n=$2; shift 2
  rm -rf "$DIR/out-$n"
  /usr/bin/time -v "$LLATTE" export --embedding-store "$DIR/store-$n.db" --model-version bench-export --out "$DIR/out-$n" "$@" \
    > "$DIR/export.out" 2> "$DIR/time.err" || { cat "$DIR/export.out" "$DIR/time.err"; exit 1; }
  peak=$(grep 'Maximum resident set size' "$DIR/time.err" | awk '{print $NF}')
  local bytes
  bytes=$(du -sb "$DIR/out-$n" | cut -f1)
  echo "users=$n $label peak_RSS_MB=$(awk -v k="$peak" 'BEGIN { printf "%.1f", k / 1024 }') $(grep -o 'rows=[0-9]* seconds=[0-9.]* rows/s=[0-9]*' "$DIR/export.out") output_MB=$((bytes / 1000000))"
}
for n in 100000 1000000; do
  if [ ! -f "$DIR/store-$n.db" ]; then
    "$LLATTE" bench export-store --users "$n" --store "$DIR/store-$n.db"
  fi
  rss[$n]=0
  for r in 1 2; do
    run "npy run=$r" "$n" --format npy
    if [ "${rss[$n]}" = 0 ] || [ "$peak" -lt "${rss[$n]}" ]; then rss[$n]=$peak; fi
  done
  run "npy --dequantize" "$n" --format npy --dequantize
  run "jsonl" "$n" --format jsonl
  rm -rf "$DIR/out-$n"
done
awk -v a="${rss[100000]}" -v b="${rss[1000000]}" 'BEGIN {
  printf "RSS(1M) / RSS(100k) = %.3f, npy, lower peak of two runs each (target <= 1.10)\n", b / a }'
