#!/bin/bash
# End-to-end test of the Slurm recipe in deploy/slurm/ (docs/scale-out.md, "Slurm") on a one-node
# Slurm cluster started here: munged, slurmctld and slurmd on localhost, their configuration, state
# and logs in a temporary directory, every daemon stopped on exit (also on failure).
#
# On a generated data set (5,000 users), against a single-process run of the same pipeline file,
# comparing the exported embedding rows byte for byte:
#   a. the 4-task shard array and the merge that waits for it (deploy/slurm/submit.sh);
#   b. one task sent SIGTERM mid-encode (scancel --signal=TERM --batch, as the time limit's
#      --signal=B:TERM does): llatte exits 5, the task requeues itself and resumes;
#   c. one task's llatte killed with SIGKILL mid-transaction: the task requeues itself and resumes;
#   d. a merge submitted with a shard store missing: it merges the rest and does not promote; with
#      the store back, the same merge promotes;
#   e. the nightly job (deploy/slurm/nightly.sh) over case a's stores: it resubmits itself for
#      02:30 tomorrow and reruns the array and the merge, which select 0 users and change nothing;
#   f. a task held mid-encode past its time limit's --signal=B:TERM@60 (with --time=2): Slurm's own
#      SIGTERM, exit 5, requeued with a fresh limit, resumed;
#   g. a task killed with LLATTE_MAX_KILLED_RESTARTS=0: it fails, the merge is cancelled; submitting
#      the array and merge again resumes that shard, the others have nothing to do;
#   h. a delivered file of bad lines: every task exits 3 and fails without a requeue, the merge is
#      cancelled;
#   i. the nightly after a new day of logs, over a copy of case a's stores: every shard ingests the
#      day and re-encodes its users whose history grew, and the merge carries their rows into the
#      active version; equal to the single-process store run again on the same logs.
# Prints the wall times and a PASS/FAIL line per case; exits 1 if any case failed.
#
# Usage: bash scripts/test-slurm.sh (make test-slurm). LLATTE: the binary (default
# .build/release/llatte). KEEP=1 keeps the temporary directory (kept anyway on failure).
# Installs slurm-wlm and munge with apt-get if they are missing (run as root).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LLATTE=$(realpath "${LLATTE:-$ROOT/.build/release/llatte}")
CHECKPOINT=$ROOT/sample-data/checkpoint
PIPELINE=$ROOT/deploy/slurm/backfill.yaml
SUBMIT=$ROOT/deploy/slurm/submit.sh
MERGE_SH=$ROOT/deploy/slurm/merge.sh
SHARDS=4
USERS=5000
# Small windows give each shard about 20 committed batches, so "mid-encode" has room on both sides.
export LLATTE_WINDOW_USERS=64
JOB_TIMEOUT=300   # seconds any one case may take in the queue

[ -x "$LLATTE" ] || { echo "test-slurm: no llatte binary at $LLATTE (make build, or set LLATTE)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "test-slurm: runs the Slurm daemons as root: run it as root" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  echo "test-slurm: installing slurm-wlm and munge"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

W=$(mktemp -d /tmp/llatte-test-slurm.XXXXXX)
chmod 755 "$W"
daemon_pids=()
failed=0

stop_cluster() {
  local rc=$?
  set +e
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ] && [ ${#daemon_pids[@]} -gt 0 ]; then
    scancel --quiet --user="$(id -un)" 2>/dev/null
    for _ in $(seq 1 30); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 1; done
    # Each job step's slurmstepd holds a socket <node>_<job>.<step> in the spool until it exits.
    for _ in $(seq 1 100); do compgen -G "$W/slurm/spool/*_*.*" >/dev/null || break; sleep 0.2; done
  fi
  # Newest first: slurmd, slurmctld, munged.
  for ((i = ${#daemon_pids[@]} - 1; i >= 0; i--)); do
    pid=${daemon_pids[$i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ "$rc" = 0 ] && [ "$failed" = 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$W"; else echo "test-slurm: files kept in $W"; fi
}
trap stop_cluster EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
fail() { echo "test-slurm: $*" >&2; return 1; }

# MARK: - the cluster

start_cluster() {
  mkdir -p "$W/munge" "$W/slurm/state" "$W/slurm/spool"
  chmod 700 "$W/munge"
  mungekey --create --keyfile="$W/munge/munge.key" 2>/dev/null \
    || { dd if=/dev/urandom of="$W/munge/munge.key" bs=1024 count=1 status=none; chmod 600 "$W/munge/munge.key"; }
  munged --foreground --force --key-file="$W/munge/munge.key" --socket="$W/munge/munge.socket" \
    --pid-file="$W/munge/munged.pid" --seed-file="$W/munge/munged.seed" >"$W/munge/munged.log" 2>&1 &
  daemon_pids+=($!)
  for _ in $(seq 1 50); do [ -S "$W/munge/munge.socket" ] && break; sleep 0.1; done
  [ -S "$W/munge/munge.socket" ] || fail "munged did not start (see $W/munge/munged.log)"

  local host ports mem
  host=$(hostname)
  ports=$(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
  mem=$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
  export SLURM_CONF=$W/slurm/slurm.conf
  cat >"$SLURM_CONF" <<EOF
ClusterName=llattetest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=${ports% *}
SlurmdPort=${ports#* }
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's next start (120 s by default).
AuthInfo=socket=$W/munge/munge.socket,cred_expire=10
StateSaveLocation=$W/slurm/state
SlurmdSpoolDir=$W/slurm/spool
SlurmctldPidFile=$W/slurm/slurmctld.pid
SlurmdPidFile=$W/slurm/slurmd.pid
SlurmctldLogFile=$W/slurm/slurmctld.log
SlurmdLogFile=$W/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=1
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=3600
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  slurmctld -D -i >"$W/slurm/slurmctld.out" 2>&1 &
  daemon_pids+=($!)
  for _ in $(seq 1 50); do scontrol ping >/dev/null 2>&1 && break; sleep 0.2; done
  slurmd -D >"$W/slurm/slurmd.out" 2>&1 &
  daemon_pids+=($!)
  for _ in $(seq 1 100); do [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && return 0; sleep 0.2; done
  fail "the node did not come up idle (see $W/slurm/)"
}

# MARK: - jobs

# The value of FIELD (e.g. JobState, ExitCode, Restarts) of one job or array task.
job_field() { scontrol show job -o "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

# Waits until job $1 (with its array tasks) has left the queue.
wait_gone() {
  local deadline=$((SECONDS + JOB_TIMEOUT))
  while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do
    [ $SECONDS -lt $deadline ] || { fail "job $1 still queued after ${JOB_TIMEOUT} s"; return 1; }
    sleep 0.5
  done
}

# Waits for file $1 to appear.
wait_file() {
  local deadline=$((SECONDS + JOB_TIMEOUT))
  until [ -e "$1" ]; do
    [ $SECONDS -lt $deadline ] || { fail "no $1 after ${JOB_TIMEOUT} s"; return 1; }
    sleep 0.2
  done
}

# A llatte for case directory $1 that sets the test hooks (the assignments in $3…) only in array
# task $2's first attempt, so the requeued attempt runs unhooked.
hooked_llatte() {
  local dir=$1 task=$2
  shift 2
  {
    echo '#!/bin/sh'
    echo "if [ \"\${SLURM_ARRAY_TASK_ID:-}\" = $task ] && [ \"\${SLURM_RESTART_COUNT:-0}\" = 0 ] && [ \"\$1\" = run ]; then"
    for a in "$@"; do echo "  export $a"; done
    echo "fi"
    echo "exec '$LLATTE' \"\$@\""
  } >"$dir/llatte"
  chmod +x "$dir/llatte"
}

# Exports the active version of store $1 as JSON lines into $2.
export_rows() { "$LLATTE" export --embedding-store "$1" --out "$2" --format jsonl >/dev/null; }

# Submits the array and the merge from case directory $1 (extra sbatch options for the array
# after it); sets ARRAY and MERGE.
submit() {
  local dir=$1
  shift
  local ids
  ids=$(cd "$dir" && LLATTE_SHARDS=$SHARDS LLATTE_OUT=$dir/out "$SUBMIT" --cpus-per-task=1 "$@")
  ARRAY=$(sed -n 's/^array=\([0-9]*\) .*/\1/p' <<<"$ids")
  MERGE=$(sed -n 's/.* merge=\([0-9]*\)$/\1/p' <<<"$ids")
  [ -n "$ARRAY" ] && [ -n "$MERGE" ] || fail "submit.sh printed '$ids'"
}

# Checks that the merge of case $1 completed, every task too, and that the rows of its merged store
# (default $1/out/embeddings.db) equal the single run's.
check_merged() {
  local dir=$1 store=${2:-$1/out/embeddings.db}
  [ "$(job_field "$MERGE" JobState)" = COMPLETED ] || { fail "merge job $MERGE: $(job_field "$MERGE" JobState) exit $(job_field "$MERGE" ExitCode) (see $dir/llatte-merge-$MERGE.log)"; return 1; }
  local k
  for ((k = 0; k < SHARDS; k++)); do
    [ "$(job_field "${ARRAY}_$k" JobState)" = COMPLETED ] || { fail "task ${ARRAY}_$k: $(job_field "${ARRAY}_$k" JobState)"; return 1; }
  done
  export_rows "$store" "$dir/export" || { fail "export of $store failed"; return 1; }
  cmp "$W/single/export/embeddings.jsonl" "$dir/export/embeddings.jsonl" || { fail "$dir: merged rows differ from the single run's"; return 1; }
  echo "  $(wc -l <"$dir/export/embeddings.jsonl") rows, byte for byte equal to the single run's"
}

# Waits up to $3 seconds for the script of task $2 of case directory $1 to report the SIGTERM it hands on.
wait_sigterm() {
  local deadline=$((SECONDS + $3))
  until grep -q "SIGTERM: handing it to llatte" "$1/llatte-backfill-${ARRAY}_$2.log" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { fail "task ${ARRAY}_$2's script did not report a SIGTERM within $3 s"; return 1; }
    sleep 0.2
  done
}

# Greps the log of task $2 of case directory $1 for the extended regular expression $3.
task_log_has() {
  grep -Eq "$3" "$1/llatte-backfill-${ARRAY}_$2.log" || { fail "task ${ARRAY}_$2's log has no line matching '$3' (see $1/llatte-backfill-${ARRAY}_$2.log)"; return 1; }
}

# Prints the lines of task $2's log (case directory $1) matching the extended regular expression $3.
show_task_log() {
  grep -E "$3" "$1/llatte-backfill-${ARRAY}_$2.log" | sed 's/^/  task log: /'
}

report() {
  local name=$1 rc=$2 start=$3
  if [ "$rc" = 0 ]; then echo "PASS $name ($(seconds "$start" "$(now)") s)"; else echo "FAIL $name ($(seconds "$start" "$(now)") s)"; failed=1; fi
}

# MARK: - the cases

case_a() {
  local dir=$W/a start
  mkdir -p "$dir"
  start=$(now)
  submit "$dir" || return 1
  wait_gone "$MERGE" || return 1
  SHARDED_SECONDS=$(seconds "$start" "$(now)")
  local k times=""
  for ((k = 0; k < SHARDS; k++)); do times+=" $(job_field "${ARRAY}_$k" RunTime)"; done
  echo "  task run times (2 at a time):$times; merge $(job_field "$MERGE" RunTime)"
  check_merged "$dir"
}

case_b() {
  local dir=$W/b task=2
  mkdir -p "$dir/markers"
  touch "$dir/hold"
  hooked_llatte "$dir" $task LLATTE_TEST_PAUSE_AT=after-commit:4 "LLATTE_TEST_HOLD=$dir/hold" "LLATTE_TEST_MARKERS=$dir/markers"
  LLATTE=$dir/llatte submit "$dir" || return 1
  # Task 2 has committed 4 batches and waits: SIGTERM it as the time limit would (batch shell only).
  wait_file "$dir/markers/after-commit.paused" || return 1
  scancel --signal=TERM --batch "${ARRAY}_$task"
  wait_sigterm "$dir" $task 30 || return 1
  rm "$dir/hold"
  wait_gone "$MERGE" || return 1
  task_log_has "$dir" $task "llatte run: SIGTERM: stopping" || return 1
  task_log_has "$dir" $task "exit 5\\): requeueing" || return 1
  task_log_has "$dir" $task "restart 1\\): starting" || return 1
  task_log_has "$dir" $task "resuming run [0-9]+ after [0-9]+ committed batches" || return 1
  show_task_log "$dir" $task "SIGTERM|exit 5|requeue|resuming|restart 1\\): (starting|done)"
  check_merged "$dir"
}

case_c() {
  local dir=$W/c task=1
  mkdir -p "$dir/markers"
  hooked_llatte "$dir" $task LLATTE_TEST_KILL_AT=mid-transaction:5 "LLATTE_TEST_MARKERS=$dir/markers"
  LLATTE=$dir/llatte submit "$dir" || return 1
  wait_gone "$MERGE" || return 1
  # The kill happened inside batch 5's transaction: its rows were written, not committed.
  [ -e "$dir/markers/mid-transaction.reached" ] || { fail "the SIGKILL hook was not reached"; return 1; }
  task_log_has "$dir" $task "killed by signal 9 \\(exit 137\\): requeueing" || return 1
  task_log_has "$dir" $task "restart 1\\): starting" || return 1
  task_log_has "$dir" $task "resuming run [0-9]+ after [1-9][0-9]* committed batches" || return 1
  show_task_log "$dir" $task "killed|requeue|resuming|restart 1\\): (starting|done)"
  check_merged "$dir"
}

case_d() {
  local dir=$W/d missing=2 k id
  mkdir -p "$dir/out"
  for ((k = 0; k < SHARDS; k++)); do
    [ $k = $missing ] || cp -a "$W/a/out/shard-$k" "$dir/out/"
  done
  id=$(cd "$dir" && LLATTE_SHARDS=$SHARDS LLATTE_OUT=$dir/out sbatch --parsable "$MERGE_SH")
  wait_gone "$id" || return 1
  local log=$dir/llatte-merge-$id.log
  sed 's/^/  merge log: /' "$log"
  [ "$(job_field "$id" JobState)" = FAILED ] && [ "$(job_field "$id" ExitCode)" = 3:0 ] \
    || { fail "merge job $id: $(job_field "$id" JobState) exit $(job_field "$id" ExitCode), expected FAILED exit 3"; return 1; }
  grep -q "shards $missing of $SHARDS are missing" "$log" || { fail "the merge log does not name the missing shard"; return 1; }
  grep -q "not promoted" "$log" || { fail "the merge log does not say the version was not promoted"; return 1; }
  # Nothing is active: an export of the active version finds none.
  if export_rows "$dir/out/embeddings.db" "$dir/export" 2>"$dir/export.err"; then
    fail "the merged store of 3 of 4 shards has an active version"; return 1
  fi
  "$LLATTE" model list --embedding-store "$dir/out/embeddings.db" | sed 's/^/  model list: /'
  # Shard 2's store back, the same merge again completes the set and promotes.
  cp -a "$W/a/out/shard-$missing" "$dir/out/"
  MERGE=$(cd "$dir" && LLATTE_SHARDS=$SHARDS LLATTE_OUT=$dir/out sbatch --parsable "$MERGE_SH")
  wait_gone "$MERGE" || return 1
  [ "$(job_field "$MERGE" JobState)" = COMPLETED ] || { fail "the merge with every shard: $(job_field "$MERGE" JobState) exit $(job_field "$MERGE" ExitCode)"; return 1; }
  export_rows "$dir/out/embeddings.db" "$dir/export" || { fail "export of $dir/out/embeddings.db failed"; return 1; }
  cmp "$W/single/export/embeddings.jsonl" "$dir/export/embeddings.jsonl" || { fail "$dir: rows after the complete merge differ from the single run's"; return 1; }
  echo "  with shard $missing back, the merge promotes: $(wc -l <"$dir/export/embeddings.jsonl") rows, equal to the single run's"
}

case_f() {
  local dir=$W/f task=3
  mkdir -p "$dir/markers"
  touch "$dir/hold"
  hooked_llatte "$dir" $task LLATTE_TEST_PAUSE_AT=after-commit:4 "LLATTE_TEST_HOLD=$dir/hold" "LLATTE_TEST_MARKERS=$dir/markers"
  # A 2-minute limit with the signal 60 s before it: the held task gets SIGTERM from Slurm itself.
  LLATTE=$dir/llatte submit "$dir" --time=2 --signal=B:TERM@60 || return 1
  wait_file "$dir/markers/after-commit.paused" || return 1
  wait_sigterm "$dir" $task 150 || return 1
  rm "$dir/hold"
  wait_gone "$MERGE" || return 1
  task_log_has "$dir" $task "exit 5\\): requeueing" || return 1
  task_log_has "$dir" $task "resuming run [0-9]+ after [0-9]+ committed batches" || return 1
  show_task_log "$dir" $task "SIGTERM|exit 5|requeue|resuming|restart [1-9]\\): (starting|done)"
  check_merged "$dir"
}

case_e() {
  local dir=$W/e id log next pending
  mkdir -p "$dir"
  next=$(date -d "tomorrow 02:30" +%Y-%m-%dT%H:%M:%S)
  # Over case a's shard stores, with nothing new to ingest.
  id=$(cd "$dir" && LLATTE_HOME=$ROOT LLATTE_SHARDS=$SHARDS LLATTE_OUT=$W/a/out sbatch --parsable "$ROOT/deploy/slurm/nightly.sh")
  wait_gone "$id" || return 1
  log=$dir/llatte-nightly-$id.log
  sed 's/^/  nightly log: /' "$log"
  [ "$(job_field "$id" JobState)" = COMPLETED ] || { fail "nightly job $id: $(job_field "$id" JobState)"; return 1; }
  pending=$(squeue -h -n llatte-nightly -t PENDING -o %i)
  [ -n "$pending" ] || { fail "the nightly did not resubmit itself"; return 1; }
  # Tomorrow as of the submission or as of now (the two differ when the case spans midnight).
  local eligible later
  eligible=$(job_field "$pending" EligibleTime)
  later=$(date -d "tomorrow 02:30" +%Y-%m-%dT%H:%M:%S)
  [ "$eligible" = "$next" ] || [ "$eligible" = "$later" ] || { fail "the next nightly $pending begins at $eligible, not $next"; return 1; }
  echo "  next nightly: job $pending, eligible $eligible"
  scancel "$pending"
  ARRAY=$(sed -n 's/^array=\([0-9]*\) .*/\1/p' "$log")
  MERGE=$(sed -n 's/.* merge=\([0-9]*\)$/\1/p' "$log")
  [ -n "$ARRAY" ] && [ -n "$MERGE" ] || { fail "the nightly did not submit an array and a merge"; return 1; }
  wait_gone "$MERGE" || return 1
  local k
  for ((k = 0; k < SHARDS; k++)); do
    grep -q "selected=0 " "$dir/llatte-backfill-${ARRAY}_$k.log" || { fail "nightly task ${ARRAY}_$k did not select 0 users on unchanged inputs"; return 1; }
  done
  echo "  every shard selected 0 users (nothing new)"
  check_merged "$dir" "$W/a/out/embeddings.db"
}

case_g() {
  local dir=$W/g task=0 first_array first_merge
  mkdir -p "$dir/markers"
  hooked_llatte "$dir" $task LLATTE_TEST_KILL_AT=mid-transaction:5 "LLATTE_TEST_MARKERS=$dir/markers"
  # No requeue after a kill: the task fails for good, which cancels the merge.
  LLATTE_MAX_KILLED_RESTARTS=0 LLATTE=$dir/llatte submit "$dir" || return 1
  first_array=$ARRAY first_merge=$MERGE
  wait_gone "$MERGE" || return 1
  [ -e "$dir/markers/mid-transaction.reached" ] || { fail "the SIGKILL hook was not reached"; return 1; }
  task_log_has "$dir" $task "killed by signal 9 \\(exit 137\\) after 0 restarts: not requeued again" || return 1
  [ "$(job_field "${ARRAY}_$task" JobState)" = FAILED ] || { fail "task ${ARRAY}_$task: $(job_field "${ARRAY}_$task" JobState), expected FAILED"; return 1; }
  [ "$(job_field "$MERGE" JobState)" = CANCELLED ] || { fail "merge $MERGE after a failed task: $(job_field "$MERGE" JobState), expected CANCELLED"; return 1; }
  echo "  task ${ARRAY}_$task FAILED (exit $(job_field "${ARRAY}_$task" ExitCode)), merge $MERGE CANCELLED ($(job_field "$MERGE" Reason))"
  # The recovery: the whole array and its merge again.
  submit "$dir" || return 1
  wait_gone "$MERGE" || return 1
  task_log_has "$dir" $task "resuming run [0-9]+ after [1-9][0-9]* committed batches" || return 1
  local k
  for ((k = 0; k < SHARDS; k++)); do
    [ $k = $task ] || grep -q "selected=0 " "$dir/llatte-backfill-${ARRAY}_$k.log" \
      || { fail "task ${ARRAY}_$k of the second array did work again"; return 1; }
  done
  echo "  array $ARRAY: shard $task resumed ($(grep -Eo "resuming run [0-9]+ after [0-9]+ committed batches" "$dir/llatte-backfill-${ARRAY}_$task.log")), the others selected 0 users"
  check_merged "$dir"
}

case_i() {
  local dir=$W/i k
  mkdir -p "$dir/events"
  ln -s "$W"/data/events/* "$W"/extra/* "$dir/events/"
  cp -r "$W/a/out" "$dir/out"
  # The single process on the same logs: its store run again.
  cp -r "$W/single/out" "$dir/single-out"
  (cd "$W/single" && LLATTE_EVENTS=$dir/events LLATTE_OUT=$dir/single-out "$LLATTE" run backfill.yaml --quiet) >/dev/null
  export_rows "$dir/single-out/embeddings.db" "$dir/single-export"
  local id
  id=$(cd "$dir" && LLATTE_HOME=$ROOT LLATTE_SHARDS=$SHARDS LLATTE_OUT=$dir/out LLATTE_EVENTS=$dir/events sbatch --parsable "$ROOT/deploy/slurm/nightly.sh")
  wait_gone "$id" || return 1
  scancel --name=llatte-nightly
  ARRAY=$(sed -n 's/^array=\([0-9]*\) .*/\1/p' "$dir/llatte-nightly-$id.log")
  MERGE=$(sed -n 's/.* merge=\([0-9]*\)$/\1/p' "$dir/llatte-nightly-$id.log")
  [ -n "$ARRAY" ] && [ -n "$MERGE" ] || { fail "the nightly did not submit an array and a merge"; return 1; }
  wait_gone "$MERGE" || return 1
  local selected=0 n
  for ((k = 0; k < SHARDS; k++)); do
    n=$(grep -o "selected=[0-9]*" "$dir/llatte-backfill-${ARRAY}_$k.log" | tail -1 | cut -d= -f2)
    [ "${n:-0}" -gt 0 ] || { fail "nightly task ${ARRAY}_$k selected no user after a new day of logs"; return 1; }
    selected=$((selected + n))
  done
  echo "  the shards re-encoded $selected users with new events; $(grep -o "refreshed: .*" "$dir/llatte-merge-$MERGE.log" || echo "no refresh line")"
  grep -q "refreshed: $SHARDS shard versions active here" "$dir/llatte-merge-$MERGE.log" || { fail "the merge did not refresh the active version (see $dir/llatte-merge-$MERGE.log)"; return 1; }
  [ "$(job_field "$MERGE" JobState)" = COMPLETED ] || { fail "merge job $MERGE: $(job_field "$MERGE" JobState)"; return 1; }
  export_rows "$dir/out/embeddings.db" "$dir/export" || { fail "export failed"; return 1; }
  cmp -s "$W/single/export/embeddings.jsonl" "$dir/export/embeddings.jsonl" && { fail "the nightly changed no row"; return 1; }
  cmp "$dir/single-export/embeddings.jsonl" "$dir/export/embeddings.jsonl" || { fail "the nightly's merged rows differ from the single run's"; return 1; }
  echo "  $(wc -l <"$dir/export/embeddings.jsonl") rows, byte for byte equal to the single run's on the same logs"
}

case_h() {
  local dir=$W/h k
  mkdir -p "$dir/events"
  ln -s "$W"/data/events/* "$dir/events/"
  # A delivery whose lines are all bad: rejected whole (ingest.max_bad_fraction), on every shard.
  for k in $(seq 1 200); do echo "not json $k"; done >"$dir/events/2026-10-15.jsonl"
  LLATTE_EVENTS=$dir/events submit "$dir" || return 1
  wait_gone "$MERGE" || return 1
  for ((k = 0; k < SHARDS; k++)); do
    [ "$(job_field "${ARRAY}_$k" JobState)" = FAILED ] && [ "$(job_field "${ARRAY}_$k" ExitCode)" = 3:0 ] && [ "$(job_field "${ARRAY}_$k" Restarts)" = 0 ] \
      || { fail "task ${ARRAY}_$k: $(job_field "${ARRAY}_$k" JobState) exit $(job_field "${ARRAY}_$k" ExitCode) restarts $(job_field "${ARRAY}_$k" Restarts), expected FAILED 3:0 without restart"; return 1; }
    task_log_has "$dir" $k "llatte exit 3: .*not retried" || return 1
  done
  [ "$(job_field "$MERGE" JobState)" = CANCELLED ] || { fail "merge $MERGE: $(job_field "$MERGE" JobState), expected CANCELLED"; return 1; }
  show_task_log "$dir" 0 "rejected|exit 3"
  echo "  every task FAILED with exit 3 and no restart; merge $MERGE CANCELLED ($(job_field "$MERGE" Reason))"
}

# MARK: - main

echo "test-slurm: llatte $("$LLATTE" --version), work directory $W"
start_cluster
echo "test-slurm: one-node cluster up: $(sinfo -h -o '%N %c CPUs %T') ($(sbatch --version))"

"$LLATTE" sample --out "$W/data" --users $USERS --days 15 --seed 11 --no-truth --quiet
# The last day arrives later (case i's nightly).
mkdir -p "$W/extra"
last=$(ls "$W/data/events" | sort | tail -1)
mv "$W/data/events/$last" "$W/extra/"
export LLATTE_EVENTS=$W/data/events LLATTE_FEATURES=$W/data/users.jsonl LLATTE_CATALOG=$W/data/catalog.db
export LLATTE_CHECKPOINT=$CHECKPOINT LLATTE_PIPELINE=$PIPELINE LLATTE

# The single-process run: the same file with the shard directory taken out of its store paths.
mkdir -p "$W/single"
sed 's#/shard-${LLATTE_SHARD_INDEX}##' "$PIPELINE" >"$W/single/backfill.yaml"
start=$(now)
(cd "$W/single" && LLATTE_OUT=$W/single/out "$LLATTE" run backfill.yaml --quiet) | sed 's/^/  /'
SINGLE_SECONDS=$(seconds "$start" "$(now)")
export_rows "$W/single/out/embeddings.db" "$W/single/export"
echo "single process: $SINGLE_SECONDS s, $(wc -l <"$W/single/export/embeddings.jsonl") rows"

SHARDED_SECONDS=?
for c in a b c d e f g h i; do
  case $c in
    a) name="a: $SHARDS-task array + dependent merge equals the single run" ;;
    b) name="b: SIGTERM mid-encode -> exit 5 -> requeued -> resumed, equal" ;;
    c) name="c: SIGKILL mid-transaction -> requeued -> resumed, equal" ;;
    d) name="d: merge with shard 2 of $SHARDS missing does not promote; with it back it does, equal" ;;
    e) name="e: nightly resubmits itself for tomorrow, reruns the array + merge, equal" ;;
    f) name="f: time limit's --signal=B:TERM mid-encode -> exit 5 -> requeued -> resumed, equal" ;;
    g) name="g: SIGKILL past the requeue limit -> task fails, merge cancelled -> array resubmitted -> resumed, equal" ;;
    h) name="h: a rejected file -> every task exits 3, not retried, merge cancelled" ;;
    i) name="i: nightly after a new day of logs -> shards re-encode, merge refreshes the active version, equal" ;;
  esac
  echo "case $name"
  start=$(now)
  rc=0
  "case_$c" || rc=$?
  report "$name" $rc "$start"
  [ $c != a ] || [ $rc = 0 ] || { echo "test-slurm: case a failed: the other cases build on it"; break; }
done

echo "wall time: single process $SINGLE_SECONDS s; $SHARDS-task array + merge $SHARDED_SECONDS s (submit to merge end, 2 CPUs, 1 CPU per task)"
if [ $failed = 0 ]; then echo "test-slurm: PASS"; else echo "test-slurm: FAIL"; exit 1; fi
