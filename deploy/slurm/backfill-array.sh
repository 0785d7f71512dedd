#!/bin/bash
# One shard of a sharded llatte backfill, as a task of a Slurm job array (docs/scale-out.md, "Slurm").
# Submit it with deploy/slurm/submit.sh, which also submits the merge that waits for the array:
#   LLATTE_SHARDS=8 deploy/slurm/submit.sh
# or by hand from the checkout (the array's size is the shard count; it must be contiguous):
#   sbatch --array=0-7 deploy/slurm/backfill-array.sh
#
# Task k runs `llatte run $LLATTE_PIPELINE --shard scheduler`: shard k of n, from
# SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT, into the shard's own stores
# (deploy/slurm/backfill.yaml names them with ${LLATTE_SHARD_INDEX}).
#
# Environment (sbatch passes the submitter's):
#   LLATTE           the llatte binary (default: llatte on PATH)
#   LLATTE_PIPELINE  the pipeline file (default: deploy/slurm/backfill.yaml)
#   LLATTE_OUT, LLATTE_EVENTS, LLATTE_FEATURES, LLATTE_CATALOG, LLATTE_CHECKPOINT,
#   LLATTE_WINDOW_USERS: see that file
#   LLATTE_MAX_KILLED_RESTARTS  how many times a task whose llatte was killed is requeued (default 3)
#
# What each llatte exit code does here:
#   0  the shard is done.
#   5  stopped by SIGTERM after its last committed batch (time limit, preemption, scancel
#      --signal=TERM): the task requeues itself and the next start resumes after that batch.
#   killed by a signal (SIGKILL, e.g. from the OOM killer): requeued too, at most
#      LLATTE_MAX_KILLED_RESTARTS times; llatte resumes a killed run as it resumes an interrupted one.
#   3  input or data problem (files or users rejected, see the log and the shard's quarantine):
#      reported and the task fails, not retried; the merge (afterok) then never runs.
#   4  another live llatte holds this shard's lock (the holder is named above): a second copy of
#      this shard is running; the task fails, not retried.
#   1, 64 and others: reported, the task fails.
# A node failure kills this script with llatte; Slurm requeues the task itself (--requeue).
# A task that failed for good cancels the merge (submit.sh's --kill-on-invalid-dep). Once the cause
# is fixed, submit the whole array and its merge again (submit.sh): finished shards find nothing to
# do, the failed one resumes where it stopped. Never resubmit one index alone (--array=k): a
# one-task array is shard 0 of 1, which llatte refuses for this file (LLATTE_SHARD_INDEX is unset).
#
#SBATCH --job-name=llatte-backfill
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=12:00:00
#SBATCH --requeue
#SBATCH --signal=B:TERM@300
#SBATCH --open-mode=append
#SBATCH --output=llatte-backfill-%A_%a.log
# --signal=B:TERM: 300 s before the time limit Slurm sends SIGTERM to this script only; the trap
# below hands it to llatte, which stops after the windows in flight (exit 5) and is requeued.
# --open-mode=append: a requeued task adds to the log of its earlier attempts.
set -uo pipefail

bin=${LLATTE:-llatte}
pipeline=${LLATTE_PIPELINE:-deploy/slurm/backfill.yaml}
max_killed=${LLATTE_MAX_KILLED_RESTARTS:-3}
restarts=${SLURM_RESTART_COUNT:-0}
task="llatte-backfill ${SLURM_ARRAY_JOB_ID:-?}_${SLURM_ARRAY_TASK_ID:-?} (job $SLURM_JOB_ID, restart $restarts)"

say() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $task: $*" >&2; }

requeue() {
  if scontrol requeue "$SLURM_JOB_ID"; then
    say "requeued; the next start resumes this shard"
    # Slurm ends this attempt now; waiting keeps it from being recorded as a failure meanwhile.
    sleep 300
  else
    say "scontrol requeue failed: submit the array again (deploy/slurm/submit.sh) to resume this shard"
  fi
  exit "$1"
}

say "starting on $(hostname)"
"$bin" run "$pipeline" --shard scheduler &
child=$!
# A batch script handles a signal only between commands: run llatte in the background and wait,
# so SIGTERM reaches the trap at once and is handed on.
trap 'say "SIGTERM: handing it to llatte (pid $child)"; kill -TERM "$child" 2>/dev/null' TERM
rc=0
wait "$child" || rc=$?
# A trapped signal ends `wait` early (status > 128) while llatte is still finishing its batch.
while [ "$rc" -gt 128 ] && kill -0 "$child" 2>/dev/null; do
  rc=0
  wait "$child" || rc=$?
done
trap - TERM

case $rc in
  0)
    say "done" ;;
  5)
    say "llatte stopped by a signal after its last committed batch (exit 5): requeueing"
    requeue 5 ;;
  3)
    say "llatte exit 3: files or users of this shard were rejected (see above and the shard's quarantine directory); not retried, the merge will not run"
    exit 3 ;;
  4)
    say "llatte exit 4: another live run holds this shard's lock (named above); not retried"
    exit 4 ;;
  *)
    if [ "$rc" -gt 128 ]; then
      sig=$((rc - 128))
      if [ "$restarts" -lt "$max_killed" ]; then
        say "llatte was killed by signal $sig (exit $rc): requeueing, restart $((restarts + 1)) of at most $max_killed"
        requeue "$rc"
      fi
      say "llatte was killed by signal $sig (exit $rc) after $restarts restarts: not requeued again"
    else
      say "llatte exit $rc: failed (see above)"
    fi
    exit "$rc" ;;
esac
