#!/usr/bin/env bash
# Ingest throughput on a generated event log of at least 1 GB uncompressed (make bench).
#
# Prints, from one run, all read from the page cache and in uncompressed MB/s:
#   - the `lz4 -d` rate of the file (frame checksums verified, output discarded);
#   - llatte's read stage (decompress + parse + validate into events; reading and decompressing a block ahead on a second thread) and its event checksum;
#   - the end-to-end ingest into a fresh history store, and the store's event checksum,
#     which must equal the read stage's.
set -euo pipefail
LLATTE=${LLATTE:-.build/release/llatte}
DIR=${BENCH_DIR:-bench-data}
USERS=${BENCH_USERS:-24000}
DAYS=${BENCH_DAYS:-30}
SEED=${BENCH_SEED:-11}
# Noise a real log has, at stated rates: JSON escapes in strings, shuffled key order, nested unknown fields.
ESCAPE_RATE=${BENCH_ESCAPE_RATE:-0.02}
SHUFFLE_RATE=${BENCH_SHUFFLE_RATE:-0.10}
NESTED_RATE=${BENCH_NESTED_RATE:-0.05}
MIN_BYTES=$((1000 * 1000 * 1000))

log="$DIR/bench.jsonl.lz4"
params="users=$USERS days=$DAYS seed=$SEED escape=$ESCAPE_RATE shuffle=$SHUFFLE_RATE nested=$NESTED_RATE"
if [ ! -f "$log" ] || [ "$(cat "$DIR/params" 2>/dev/null)" != "$params" ]; then
  # Only the ingest bench's own files: other benches keep their data beside it (bench-data/pipeline).
  rm -rf "$DIR/gen" "$log" "$DIR/params"; mkdir -p "$DIR"
  echo "generating the bench log ($params)..."
  "$LLATTE" sample --out "$DIR/gen" --users "$USERS" --days "$DAYS" --seed "$SEED" --no-truth \
    --bad-rate 0 --duplicate-rate 0 --escape-rate "$ESCAPE_RATE" --shuffle-keys-rate "$SHUFFLE_RATE" --nested-unknown-rate "$NESTED_RATE" >/dev/null
  # Day files are LZ4 frames; concatenated they are one valid multi-frame log.
  cat "$DIR"/gen/events/*.jsonl.lz4 > "$log"
  echo "$params" > "$DIR/params"
fi
min_ts=$(grep -o '"min_ts": *-\?[0-9]*' "$DIR/gen/manifest.json" | grep -o -- '-\?[0-9]*$')
max_ts=$(grep -o '"max_ts": *-\?[0-9]*' "$DIR/gen/manifest.json" | grep -o -- '-\?[0-9]*$')

now() { date +%s.%N; }
rate() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }

cat "$log" > /dev/null   # into the page cache
bytes=$(lz4 -d -c "$log" | wc -c)
if [ "$bytes" -lt "$MIN_BYTES" ]; then echo "bench log is only $bytes bytes; raise BENCH_USERS" >&2; exit 1; fi
compressed=$(stat -c %s "$log")
echo "bench log: $log, $compressed bytes compressed, $bytes bytes uncompressed ($params)"

best=999999
for _ in 1 2 3; do
  t0=$(now); lz4 -d -c "$log" > /dev/null; t1=$(now)
  best=$(awk -v a="$best" -v b="$(awk -v x="$t0" -v y="$t1" 'BEGIN{print y-x}')" 'BEGIN{print (b<a)?b:a}')
done
lz4_rate=$(rate "$bytes" "$best")
echo "lz4 -d:          $lz4_rate MB/s"

read_out=$("$LLATTE" bench read --repeat 3 --min-ts "$min_ts" --max-ts "$max_ts" "$log")
read_rate=$(echo "$read_out" | grep -o 'MB/s=[0-9.]*' | cut -d= -f2)
read_sum=$(echo "$read_out" | grep -o 'checksum=[0-9a-f]*' | cut -d= -f2)
echo "read stage:      $read_rate MB/s, parsing on one core, decoding a block ahead on another ($(echo "$read_out" | grep -o 'events=[0-9]*'), checksum $read_sum)"

lines_out=$("$LLATTE" bench read --repeat 3 --lines-only "$log")
lines_rate=$(echo "$lines_out" | grep -o 'MB/s=[0-9.]*' | cut -d= -f2)
echo "  of which decompress + split lines alone: $lines_rate MB/s"
parse_out=$("$LLATTE" bench read --repeat 2 --parse-only --min-ts "$min_ts" --max-ts "$max_ts" "$log")
echo "  parse + validate alone (lines in memory): $(echo "$parse_out" | grep -o 'MB/s=[0-9.]*' | cut -d= -f2) MB/s, $(echo "$parse_out" | grep -o 'ns/line=[0-9.]*' | cut -d= -f2) ns a line"

store="$DIR/history.db"
rm -f "$store" "$store"-wal "$store"-shm "$store".lock
t0=$(now)
ingest_out=$("$LLATTE" ingest --quiet --history-store "$store" --conversion-types purchase,lead,app_install \
  --min-ts "$min_ts" --max-ts "$max_ts" --retention-cap 100000 --quarantine-dir "$DIR/quarantine" "$log")
t1=$(now)
ingest_rate=$(rate "$bytes" "$(awk -v x="$t0" -v y="$t1" 'BEGIN{print y-x}')")
store_out=$("$LLATTE" bench store-checksum --history-store "$store")
store_sum=$(echo "$store_out" | grep -o 'checksum=[0-9a-f]*' | cut -d= -f2)
echo "ingest:          $ingest_rate MB/s end to end into the history store ($(echo "$ingest_out" | grep -o 'new_events=[0-9]*'))"
echo "store checksum:  $store_sum ($(echo "$store_out" | grep -o 'events=[0-9]*'))"

ratio=$(awk -v a="$read_rate" -v b="$lz4_rate" 'BEGIN { printf "%.2f", a / b }')
echo "read stage / lz4 -d = $ratio (target >= 0.45)"
if [ "$read_sum" != "$store_sum" ]; then
  echo "FAIL: the store's event checksum differs from the read stage's" >&2
  exit 1
fi
echo "checksums equal: the history store holds exactly the events the read stage produced"

# Side by side with a baseline build (BENCH_BASELINE=path/to/llatte; make bench builds the revision
# BASELINE_REV): three alternating rounds of the same ingest, wall time, MB/s and peak RSS each.
if [ -n "${BENCH_BASELINE:-}" ]; then
  echo "end-to-end ingest side by side: baseline $BENCH_BASELINE against $LLATTE, three alternating rounds"
  ingest_once() {  # binary → "wall rss_kB user_s sys_s checksum"
    rm -f "$store" "$store"-wal "$store"-shm "$store".lock
    /usr/bin/time -f "%e %M %U %S" -o "$DIR/time" "$1" ingest --quiet --history-store "$store" --conversion-types purchase,lead,app_install \
      --min-ts "$min_ts" --max-ts "$max_ts" --retention-cap 100000 --quarantine-dir "$DIR/quarantine" "$log" > /dev/null
    echo "$(cat "$DIR/time") $("$1" bench store-checksum --history-store "$store" | grep -o 'checksum=[0-9a-f]*' | cut -d= -f2)"
  }
  best_base=999999; best_new=999999; rss_base=0; rss_new=0
  for round in 1 2 3; do
    for who in baseline current; do
      if [ "$who" = baseline ]; then bin=$BENCH_BASELINE; else bin=$LLATTE; fi
      read -r wall rss usr sys sum < <(ingest_once "$bin")
      printf '  round %d %-8s %6.2f s  %7.1f MB/s  CPU %5.2f+%4.2f s  peak RSS %6.1f MB  checksum %s\n' "$round" "$who" "$wall" \
        "$(rate "$bytes" "$wall")" "$usr" "$sys" "$(awk -v k="$rss" 'BEGIN{print k/1024}')" "$sum"
      if [ "$sum" != "$read_sum" ]; then echo "FAIL: $who's store checksum differs from the read stage's" >&2; exit 1; fi
      if [ "$who" = baseline ]; then
        best_base=$(awk -v a="$best_base" -v b="$wall" 'BEGIN{print (b<a)?b:a}'); rss_base=$(awk -v a="$rss_base" -v b="$rss" 'BEGIN{print (b>a)?b:a}')
      else
        best_new=$(awk -v a="$best_new" -v b="$wall" 'BEGIN{print (b<a)?b:a}'); rss_new=$(awk -v a="$rss_new" -v b="$rss" 'BEGIN{print (b>a)?b:a}')
      fi
    done
  done
  echo "end-to-end ingest, best of three: $(rate "$bytes" "$best_base") -> $(rate "$bytes" "$best_new") MB/s = $(awk -v a="$best_base" -v b="$best_new" 'BEGIN{printf "%.2f", a/b}')x (target >= 2.0); peak RSS $(awk -v k="$rss_base" 'BEGIN{printf "%.1f", k/1024}') -> $(awk -v k="$rss_new" 'BEGIN{printf "%.1f", k/1024}') MB (target <= 135)"
fi
