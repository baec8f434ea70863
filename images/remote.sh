#!/usr/bin/env bash
# The images of the remote end-to-end test (tests/e2e/test_remote.py), built side by side and each only
# when its inputs changed ("up to date" in seconds otherwise):
#   opskit/dockerhost:bookworm and :trixie   Docker hosts with sshd and their own engine (20.10 and 26)
#   opskit/webstack-ee:<version>, :latest    the execution environment, the test's controller
# They start from opskit/base:bookworm and :trixie (make images).
#
#   images/remote.sh [--no-ee] [--force]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
names=(dockerhost ee)
args=()
for arg in "$@"; do
  case "$arg" in
    --no-ee) names=(dockerhost) ;;
    --force) args+=(--force) ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "ERROR: unknown option '$arg' (--no-ee, --force)" >&2; exit 2 ;;
  esac
done
for base in opskit/base:bookworm opskit/base:trixie; do
  docker image inspect "$base" >/dev/null 2>&1 || { echo "ERROR: $base is missing: make images first" >&2; exit 1; }
done
start=$(date +%s)
# The test runs this checkout's opskit.webstack (ansible.cfg's collections_path), not the image's copy: an
# execution environment that differs only by that copy is good enough for it (`make ee` rebuilds it).
EE_ANY_COLLECTION=${EE_ANY_COLLECTION:-1} bash "$here/build.sh" "${args[@]}" "${names[@]}"
echo "remote e2e images: done in $(( $(date +%s) - start ))s (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
