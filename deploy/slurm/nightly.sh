#!/bin/bash
# The nightly on Slurm: a job that first resubmits itself for the next night (--begin), then
# submits the shard array and its merge (deploy/slurm/submit.sh) from its own working directory.
# Start the chain once, from the directory the pipeline's relative paths are taken from:
#   LLATTE_SHARDS=8 LLATTE_OUT=/shared/llatte sbatch deploy/slurm/nightly.sh
# and stop it with `scancel --name=llatte-nightly`. Each night every shard ingests the logs that
# arrived into its history store and re-encodes the users that are new or whose history grew since
# their row (the backfill's trigger policy, docs/pipelines.md); the merge upserts them into the
# merged store, whose version stays active. (llatte's nightly pipeline follows the active version
# of its own store, which a shard store never has: the sharded nightly is this rerun of the array.)
# On a cluster with scrontab, the same schedule is one line of `scrontab -e` instead of this job:
#   30 2 * * * cd /srv/llatte && LLATTE_SHARDS=8 LLATTE_OUT=/shared/llatte deploy/slurm/submit.sh
# Environment: LLATTE_NIGHTLY_AT (default 02:30, local time of the node), LLATTE_HOME (the
# checkout holding deploy/slurm/; default the directory the chain was submitted from), and what
# submit.sh reads.
#
#SBATCH --job-name=llatte-nightly
#SBATCH --cpus-per-task=1
#SBATCH --mem=256M
#SBATCH --time=00:10:00
#SBATCH --output=llatte-nightly-%j.log
set -euo pipefail
scripts=${LLATTE_HOME:-$SLURM_SUBMIT_DIR}/deploy/slurm
at=${LLATTE_NIGHTLY_AT:-02:30}
next=$(date -d "tomorrow $at" +%Y-%m-%dT%H:%M:%S)
# Resubmitted first, so a failure tonight does not end the schedule; only one pending night at a time.
if [ -z "$(squeue -h -u "$(id -un)" -n llatte-nightly -t PENDING -o %i)" ]; then
  sbatch --begin="$next" --chdir="$PWD" "$scripts/nightly.sh"
  echo "llatte-nightly: next night submitted for $next"
fi
# Last night's array still queued or running (a long night): leave it, its merge follows it.
if [ -n "$(squeue -h -u "$(id -un)" -n llatte-backfill -o %i)" ]; then
  echo "llatte-nightly: an llatte-backfill array is still queued or running; not submitting another" >&2
  exit 0
fi
"$scripts/submit.sh"
