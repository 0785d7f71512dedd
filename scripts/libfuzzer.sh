#!/usr/bin/env bash
# The read stage under libFuzzer (make libfuzzer): coverage-guided fuzzing with AddressSanitizer,
# built with swiftc apart from the SwiftPM build (`-sanitize=fuzzer` links libFuzzer's own main).
#
# Builds Support and Events instrumented, links scripts/libfuzzer/ReadStageFuzzer.swift with the
# plain twin (Tests/TestSupport/ReferenceLog.swift), seeds a corpus from sample-data and runs for
# LIBFUZZER_SECONDS (default 60). Any input that crashes the reader, trips AddressSanitizer, runs
# past 10 s or makes the reader disagree with its twin is written to $LIBFUZZER_DIR/crash-* or
# timeout-*, and the script exits non-zero.
set -euo pipefail
OUT=${LIBFUZZER_DIR:-.build-libfuzzer}
RUN_SECONDS=${LIBFUZZER_SECONDS:-60}
SAN=(-sanitize=fuzzer,address -O -g -parse-as-library)
C_MODULES=(-I Sources/CLZ4 -I Sources/CCrypto -I Sources/CMalloc)
mkdir -p "$OUT/corpus" "$OUT/found"

build() {  # module name, sources...
  local name=$1; shift
  swiftc "${SAN[@]}" "${C_MODULES[@]}" -I "$OUT" -module-name "$name" -emit-module -emit-module-path "$OUT/$name.swiftmodule" \
    -emit-library -static -o "$OUT/lib$name.a" "$@" 2>&1 | grep -v "warning: Cannot export local symbol" || true
  test -f "$OUT/lib$name.a"
}
echo "building the instrumented read stage in $OUT..."
rm -f "$OUT"/lib*.a "$OUT/read-stage-fuzzer"
build Support Sources/Support/*.swift Sources/Support/JSON/*.swift
build Events Sources/Events/*.swift
swiftc "${SAN[@]}" "${C_MODULES[@]}" -I "$OUT" -module-name ReadStageFuzzer \
  scripts/libfuzzer/ReadStageFuzzer.swift Tests/TestSupport/ReferenceLog.swift \
  -L "$OUT" -lEvents -lSupport -llz4 -lcrypto -o "$OUT/read-stage-fuzzer" 2>&1 | grep -v "warning: Cannot export local symbol" || true
test -x "$OUT/read-stage-fuzzer"

# Seeds: real sample-data lines, plain and in LZ4 frames of several kinds, and hand-written spellings.
(lz4 -dc "$(ls sample-data/events/*.jsonl.lz4 | head -n 1)" 2>/dev/null || true) | head -n 25 > "$OUT/corpus/sample.jsonl"
lz4 -q -f -c "$OUT/corpus/sample.jsonl" > "$OUT/corpus/sample-independent.jsonl.lz4"
lz4 -q -f -BD -BX -c "$OUT/corpus/sample.jsonl" > "$OUT/corpus/sample-linked-blockchecksum.jsonl.lz4"
lz4 -q -f -B4 --content-size --no-frame-crc -c "$OUT/corpus/sample.jsonl" > "$OUT/corpus/sample-contentsize.jsonl.lz4"
printf '%s\r\n\r\n  \n%s' '{ "event_id": "caf\u00e9", "ts": 1.7e9, "user_id": 3, "item_id": 4.0, "type": "cl\u0069ck", "surface": "feed", "x": [1, {"y": null}] }' \
  '{"surface":"reels","type":"purchase","item_id":9,"user_id":18446744073709551615,"ts":5,"event_id":7,"value":12.5,"dwell_ms":null}' \
  > "$OUT/corpus/spellings.jsonl"

echo "fuzzing for $RUN_SECONDS s (findings go to $OUT/found/)..."
SWIFT_BACKTRACE=enable=no "$OUT/read-stage-fuzzer" -max_total_time="$RUN_SECONDS" -timeout=10 -max_len=65536 -print_final_stats=1 \
  -dict=scripts/libfuzzer/json-lz4.dict -artifact_prefix="$OUT/found/" "$OUT/corpus"
