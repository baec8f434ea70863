#!/usr/bin/env bash
# Run Molecule scenarios over the versions of the data stores they act on.
#
#   .ci/molecule-matrix.sh VERSIONS SCENARIO...
#
# VERSIONS: "default" (one run with the images the example stack names by default: PostgreSQL 15,
# Redis 7), "all" (every version a scenario's store has), or a space- or comma-separated list of
# versions (pg15 pg17 redis7 redis8 valkey8) or image names. A scenario runs once per version of
# its store, with WEBSTACK_DB_IMAGE or WEBSTACK_REDIS_IMAGE set to that image (examples/webstack/
# compose.yml and the scenarios read them); a scenario with no store in the matrix runs once.
# Prints each run's time and, at the end, a table of every run.
set -euo pipefail

declare -A IMAGE=([pg15]=opskit/postgres:15 [pg17]=opskit/postgres:17
                  [redis7]=opskit/redis:7 [redis8]=opskit/redis:8 [valkey8]=opskit/valkey:8)
PG_VERSIONS=(pg15 pg17)
REDIS_VERSIONS=(redis7 redis8 valkey8)
# The scenarios whose role acts on a store of the matrix, and which store.
declare -A STORE=([postgres_backup]=pg [postgres_restore]=pg [redis_tuning]=redis [cache_warm]=redis)

versions=${1:?usage: $0 VERSIONS SCENARIO...}; shift
[ $# -gt 0 ] || { echo "usage: $0 VERSIONS SCENARIO..." >&2; exit 2; }

# The versions of one store that VERSIONS selects (empty: the store's default, no variable set).
select_versions() {
  local store=$1 v img
  local -a all
  if [ "$store" = pg ]; then all=("${PG_VERSIONS[@]}"); else all=("${REDIS_VERSIONS[@]}"); fi
  case "$versions" in
    default|"") return ;;
    all) printf '%s\n' "${all[@]}"; return ;;
  esac
  for v in ${versions//,/ }; do
    for img in "${all[@]}"; do
      if [ "$v" = "$img" ] || [ "$v" = "${IMAGE[$img]}" ]; then printf '%s\n' "$img"; fi
    done
  done
}

# Every name asked for must be a version we know.
if [ "$versions" != default ] && [ "$versions" != all ]; then
  for v in ${versions//,/ }; do
    ok=0
    for k in "${!IMAGE[@]}"; do { [ "$v" = "$k" ] || [ "$v" = "${IMAGE[$k]}" ]; } && ok=1; done
    [ $ok = 1 ] || { echo "ERROR: unknown version '$v' (known: ${!IMAGE[*]}, default, all)" >&2; exit 2; }
  done
fi

summary=()
for scenario in "$@"; do
  store=${STORE[$scenario]:-}
  runs=()
  if [ -n "$store" ]; then mapfile -t runs < <(select_versions "$store"); fi
  if [ -n "$store" ] && [ "$versions" != default ] && [ ${#runs[@]} -eq 0 ]; then
    echo "=== molecule test -s $scenario: none of '$versions' is a version of its store ($store): skipped"
    continue
  fi
  [ ${#runs[@]} -gt 0 ] || runs=(default)
  for v in "${runs[@]}"; do
    envs=()
    if [ "$v" != default ]; then
      if [ "$store" = pg ]; then envs=(WEBSTACK_DB_IMAGE="${IMAGE[$v]}"); else envs=(WEBSTACK_REDIS_IMAGE="${IMAGE[$v]}"); fi
    fi
    label="$scenario${envs:+ on ${IMAGE[$v]}}"
    echo "=== molecule test -s $label"
    start=$(date +%s)
    env "${envs[@]}" molecule test -s "$scenario"
    secs=$(( $(date +%s) - start ))
    echo "=== scenario $label passed in ${secs}s"
    summary+=("$(printf '%-20s %-20s %5ss' "$scenario" "${envs:+${IMAGE[$v]}}" "$secs")")
  done
done
echo "=== Molecule runs"
printf '  %s\n' "${summary[@]}"
