#!/bin/sh
# Container / batch entrypoint: maps the scheduler's task index to llatte's --shard k/n.
#
#   Kubernetes Indexed Job:  JOB_COMPLETION_INDEX=k, LLATTE_SHARDS=n (set it to the Job's completions)
#   Slurm job array:         SLURM_ARRAY_TASK_ID=k, SLURM_ARRAY_TASK_COUNT=n (or LLATTE_SHARDS=n)
#   Neither:                 no --shard (one machine)
#
# Usage: entrypoint.sh pipelines/nightly.yaml [more llatte run options]
# LLATTE_BIN overrides the binary (default: llatte on PATH). Exit codes are llatte's.
set -eu
pipeline=${1:?usage: entrypoint.sh PIPELINE.yaml [options]}
shift
bin=${LLATTE_BIN:-llatte}
index=""
count=""
if [ -n "${JOB_COMPLETION_INDEX:-}" ]; then
  index=$JOB_COMPLETION_INDEX
  count=${LLATTE_SHARDS:?LLATTE_SHARDS must be set to the Indexed Job completions}
elif [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
  # Arrays may start at any index; shards are 0-based.
  index=$((SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-0}))
  count=${LLATTE_SHARDS:-${SLURM_ARRAY_TASK_COUNT:?SLURM_ARRAY_TASK_COUNT or LLATTE_SHARDS must be set}}
fi
if [ -n "$index" ]; then
  case "$index$count" in *[!0-9]*) echo "entrypoint: shard index '$index' or count '$count' is not a number" >&2; exit 64 ;; esac
  if [ "$index" -ge "$count" ]; then echo "entrypoint: shard index $index is not below the shard count $count" >&2; exit 64; fi
  exec "$bin" run "$pipeline" --shard "$index/$count" "$@"
fi
exec "$bin" run "$pipeline" "$@"
