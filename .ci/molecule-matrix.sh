#!/usr/bin/env bash
# Run Molecule scenarios over the versions of the data stores they act on.
#
#   .ci/molecule-matrix.sh VERSIONS SCENARIO...
#
# VERSIONS: "default" (PostgreSQL 15, Redis 7: the images the example stack names by default), "all"
# (every version a scenario's store has), or a space- or comma-separated list of versions (pg15 pg17
# redis7 redis8 valkey8) or image names. The scenarios of the data-store roles (postgres_backup,
# postgres_restore: pg15 pg17; redis_tuning, cache_warm: redis7 redis8 valkey8) have one host per
# version and run every selected version in ONE Molecule run, all versions at once: this script
# turns VERSIONS into MX_<VERSION>=on|off (the hosts' group mx_on or mx_off, molecule.yml). A
# scenario with no store in the matrix runs once. Prints each run's time and, at the end, a table.
set -euo pipefail

declare -A IMAGE=([pg15]=opskit/postgres:15 [pg17]=opskit/postgres:17
                  [redis7]=opskit/redis:7 [redis8]=opskit/redis:8 [valkey8]=opskit/valkey:8)
declare -A DEFAULT=([pg15]=on [pg17]=off [redis7]=on [redis8]=off [valkey8]=off)
PG_VERSIONS=(pg15 pg17)
REDIS_VERSIONS=(redis7 redis8 valkey8)
# The scenarios whose role acts on a store of the matrix, and which store.
declare -A STORE=([postgres_backup]=pg [postgres_restore]=pg [redis_tuning]=redis [cache_warm]=redis)

versions=${1:?usage: $0 VERSIONS SCENARIO...}; shift
[ $# -gt 0 ] || { echo "usage: $0 VERSIONS SCENARIO..." >&2; exit 2; }

# on or off: is version $1 selected by VERSIONS?
selected() {
  local want=$1 v
  case "$versions" in
    default|"") echo "${DEFAULT[$want]}"; return ;;
    all) echo on; return ;;
  esac
  for v in ${versions//,/ }; do
    if [ "$v" = "$want" ] || [ "$v" = "${IMAGE[$want]}" ]; then echo on; return; fi
  done
  echo off
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
  envs=()
  on=()
  if [ -n "$store" ]; then
    if [ "$store" = pg ]; then all=("${PG_VERSIONS[@]}"); else all=("${REDIS_VERSIONS[@]}"); fi
    for v in "${all[@]}"; do
      state=$(selected "$v")
      envs+=("MX_${v^^}=$state")
      [ "$state" = off ] || on+=("$v")
    done
    if [ ${#on[@]} -eq 0 ]; then
      echo "=== molecule test -s $scenario: none of '$versions' is a version of its store ($store): skipped"
      continue
    fi
  fi
  label="$scenario${on:+ on ${on[*]}}"
  echo "=== molecule test -s $label"
  start=$(date +%s)
  env "${envs[@]}" molecule test -s "$scenario"
  secs=$(( $(date +%s) - start ))
  echo "=== scenario $label passed in ${secs}s"
  summary+=("$(printf '%-20s %-24s %5ss' "$scenario" "${on[*]}" "$secs")")
done
echo "=== Molecule runs"
printf '  %s\n' "${summary[@]}"
