#!/usr/bin/env bash
# Encoder throughput on the bench config (make bench): llatte next to PyTorch eager, same run.
#
# Prints, for n = 256, 1024, 4096: llatte's users/s, nominal and executed GFLOP/s and peak RSS,
# the cblas_sgemm ceiling (8192x256x256, same threads), and reference/bench.py's PyTorch eager
# users/s with the ratio. Without PyTorch the committed PyTorch figures are shown, marked as not
# measured in this run.
set -euo pipefail
LLATTE=${LLATTE:-.build/release/llatte}
THREADS=${BENCH_THREADS:-2}
NS=${BENCH_N:-256,1024,4096}

echo "== encoder: llatte (bench config, random weights, $THREADS threads)"
swift_out=$("$LLATTE" bench encode --threads "$THREADS" --n "$NS")
echo "$swift_out"

# PyTorch eager fp32, default PyPI build (torch 2.15.0), 2 threads, as committed in docs/performance.md.
declare -A committed=([256]=52.8 [1024]=11.1 [4096]=1.0)
declare -A torch_rate=()
if python3 -c 'import torch' 2>/dev/null; then
  echo "== encoder: PyTorch eager (reference/bench.py, $THREADS threads)"
  torch_out=$(python3 reference/bench.py --threads "$THREADS" --n ${NS//,/ } 2>/dev/null)
  echo "$torch_out"
  while read -r n rate; do torch_rate[$n]=$rate; done < <(echo "$torch_out" | sed -n 's/^n=\([0-9]*\): users\/s=\([0-9.]*\).*/\1 \2/p')
  source="measured in this run"
else
  source="NOT measured in this run (PyTorch not installed): committed figures"
fi
echo "== ratio llatte / PyTorch users/s ($source)"
for n in ${NS//,/ }; do
  ours=$(echo "$swift_out" | sed -n "s/^n=$n: users\/s=\([0-9.]*\).*/\1/p")
  theirs=${torch_rate[$n]:-${committed[$n]:-}}
  if [ -n "$ours" ] && [ -n "$theirs" ]; then
    awk -v n="$n" -v a="$ours" -v b="$theirs" 'BEGIN { printf "n=%s: llatte %.2f users/s, PyTorch %.2f users/s, ratio %.2f\n", n, a, b, a / b }'
  fi
done
