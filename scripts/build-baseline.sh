#!/usr/bin/env bash
# Builds llatte at git revision REV (release, the same CPU level as this build) once, and prints
# the binary's path; benchmarks run it side by side with the current build.
#   scripts/build-baseline.sh c6f43c5
set -euo pipefail
rev=$(git rev-parse --short "${1:?usage: build-baseline.sh REV}")
out=.build/baseline
bin="$out/llatte-$rev"
if [ ! -x "$bin" ]; then
  mkdir -p "$out"
  src="$out/src-$rev"
  rm -rf "$src"; git worktree prune
  git worktree add --detach "$src" "$rev" >/dev/null
  echo "building the baseline llatte at $rev (once)..." >&2
  (cd "$src" && swift build -c release --product llatte --scratch-path "../build-$rev" >&2)
  cp "$out/build-$rev/release/llatte" "$bin"
  git worktree remove --force "$src"
fi
echo "$bin"
