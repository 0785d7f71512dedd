#!/bin/bash
# Merge every shard store of a sharded backfill into one embedding store and promote the version
# only if the set is complete (docs/scale-out.md, "Slurm"). deploy/slurm/submit.sh submits it to
# wait for the shard array:
#   sbatch --dependency=afterok:<array job id> --kill-on-invalid-dep=yes deploy/slurm/merge.sh
#
# The shard stores are the ones the pipeline file names for shards 0…n−1 (`llatte run --check`
# resolves them, so this script and the array never disagree about paths). A missing shard store
# is reported and the others are merged, but the version is not promoted: llatte merge's guard
# needs every shard's completed backfill (version_builds) and each shard's history store, says
# why it refuses, and exits 3. Readers keep the active version meanwhile.
#
# Environment: LLATTE, LLATTE_PIPELINE, LLATTE_OUT… as for backfill-array.sh, and
#   LLATTE_SHARDS      the shard count n (required: the array's size)
#   LLATTE_MERGE_INTO  the merged store (default: ${LLATTE_OUT:-out/slurm}/embeddings.db)
# Exit codes: 0 merged and active; 3 not promoted (the reason on stderr); 1 failure.
#
#SBATCH --job-name=llatte-merge
#SBATCH --cpus-per-task=1
#SBATCH --mem=2G
#SBATCH --time=04:00:00
#SBATCH --output=llatte-merge-%j.log
set -uo pipefail

bin=${LLATTE:-llatte}
pipeline=${LLATTE_PIPELINE:-deploy/slurm/backfill.yaml}
n=${LLATTE_SHARDS:?LLATTE_SHARDS must be the shard count (the array size)}
into=${LLATTE_MERGE_INTO:-${LLATTE_OUT:-out/slurm}/embeddings.db}

say() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) llatte-merge ${SLURM_JOB_ID:-}: $*" >&2; }

stores=()
histories=()
missing=()
for ((k = 0; k < n; k++)); do
  # The paths shard k/n resolves to, from the same file the array ran.
  paths=$("$bin" run "$pipeline" --shard "$k/$n" --check) || { say "cannot resolve shard $k/$n's stores from $pipeline"; exit 1; }
  embeddings=$(sed -n 's/^embedding_store: //p' <<<"$paths")
  history=$(sed -n 's/^history_store: //p' <<<"$paths")
  if [ -f "$embeddings" ] && [ -f "$history" ]; then
    stores+=("$embeddings")
    histories+=(--history-store "$history")
  else
    missing+=("$k")
    say "shard $k/$n has no store at $embeddings (or $history)"
  fi
done
if [ ${#stores[@]} -eq 0 ]; then
  say "no shard store found: nothing to merge"
  exit 1
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "shards ${missing[*]} of $n are missing: merging the other ${#stores[@]}; the guard will not promote an incomplete set"
fi

say "merging ${#stores[@]} of $n shard stores into $into"
rc=0
"$bin" merge --into "$into" --promote "${histories[@]}" "${stores[@]}" || rc=$?
case $rc in
  0) say "merged; the version is active" ;;
  3) say "merged but not promoted (llatte's reason above); readers keep the active version" ;;
  *) say "llatte merge failed (exit $rc, see above)" ;;
esac
exit "$rc"
