#!/bin/bash
# Submit a sharded backfill to Slurm: the shard array, then the merge that runs only if every task
# succeeds (docs/scale-out.md, "Slurm"). Run it from the directory the pipeline's relative paths
# are taken from (the checkout). Prints `array=<job id> merge=<job id>`.
#   LLATTE_SHARDS=8 LLATTE_OUT=/shared/llatte deploy/slurm/submit.sh [sbatch options for the array]
# Environment: LLATTE_SHARDS (default 8), and whatever backfill-array.sh and merge.sh read
# (sbatch hands the submitter's environment to both jobs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export LLATTE_SHARDS=${LLATTE_SHARDS:-8}
array=$(sbatch --parsable --array="0-$((LLATTE_SHARDS - 1))" "$@" "$here/backfill-array.sh")
array=${array%%;*}
# --kill-on-invalid-dep: a shard that fails for good (exit 3, 4, 1) cancels the merge instead of
# leaving it pending forever; a requeued shard does not, the merge waits for it.
merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes "$here/merge.sh")
merge=${merge%%;*}
echo "array=$array merge=$merge"
