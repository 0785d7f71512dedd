#!/bin/bash
# A sharded backfill as a Slurm job array: task k runs `llatte run ... --shard k/8`.
#   sbatch deploy/slurm-array.sh
# Each task's pipeline file (pipelines/backfill-shard-<k>.yaml) points at its own stores; merge after:
#   sbatch --dependency=afterok:<jobid> --wrap "llatte merge --into out/embeddings.db --promote \$(printf -- '--history-store %s ' out/shard-*/history.db) out/shard-*/embeddings.db"
# (the promotion guard needs every shard, and each shard's history store to check it is current)
#SBATCH --job-name=llatte-backfill
#SBATCH --array=0-7
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=12:00:00
#SBATCH --signal=TERM@120
set -euo pipefail
export LLATTE_SHARDS=8
# sbatch runs a copy of this script from its spool directory: find the checkout from where it was submitted.
cd "${LLATTE_HOME:-$SLURM_SUBMIT_DIR}"
exec deploy/entrypoint.sh "pipelines/backfill-shard-${SLURM_ARRAY_TASK_ID}.yaml" --quiet
