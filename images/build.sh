#!/usr/bin/env bash
# Build every image the tests and the demo use, with no container registry.
#
#   images/build.sh [--force] [NAME ...]     NAME: base postgres redis valkey nginx webapp ledger (default: all)
#                                            and, only when named: dockerhost (the remote e2e's Docker hosts), ee
#                                            (the execution environment, images/ee/build.sh)
#
# Two Debian generations: bookworm (PostgreSQL 15, Redis 7, nginx, the app) and trixie (PostgreSQL 17,
# Redis 8, Valkey 8). Each base is a pulled debian:<suite>-slim where a registry answers, otherwise
# a debootstrap root file system imported with `docker import`; the Debian archive is read from this
# machine's apt sources (the same archive serves both suites). Each image carries a label with the hash of its inputs (its Dockerfile and build
# context, its build arguments and the id of the image it starts from) and is built again only when
# that hash changes, so a second run with nothing changed takes seconds.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${OPSKIT_IMAGE_CACHE:-$here/.cache}
label=org.opskit.webstack.inputs
suite=bookworm   # the app, the proxy and the first generation of data stores
force=0
wanted=()
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    base|postgres|redis|valkey|nginx|webapp|ledger) wanted+=("$arg") ;;
    dockerhost|ee) wanted+=("$arg") ;;   # only when named: the remote e2e test's (images/remote.sh)
    *) echo "ERROR: unknown image or option '$arg' (images: base postgres redis valkey nginx webapp ledger; option: --force)" >&2; exit 2 ;;
  esac
done
[ ${#wanted[@]} -gt 0 ] || wanted=(base postgres redis valkey nginx webapp ledger)

bash "$root/.ci/docker-check.sh"
export DOCKER_BUILDKIT=0   # the legacy builder: no buildx needed, works with engine 20.10
mkdir -p "$cache"
# One build at a time on this checkout: a second `make images` (another `make molecule` started at
# once) waits for the first, then finds its images up to date instead of building them again.
exec 9>"$cache/.build.lock"
if ! flock -n 9; then
  echo "images: another images/build.sh is running on this checkout: waiting for it"
  flock 9
fi

log() { printf '%-34s %s\n' "$1" "$2"; }
want() { local n; for n in "${wanted[@]}"; do [ "$n" = "$1" ] && return 0; done; return 1; }
image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
image_label() { docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$1" 2>/dev/null || true; }

# Hash of a build: the files of a context (names and contents, sorted) plus extra words.
inputs_hash() {
  local dir=$1; shift
  { (cd "$dir" && find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum)
    printf '%s\n' "$@"; } | sha256sum | cut -c1-16
}

# The Debian archive this machine uses (deb822 sources first, then the one-line format).
debian_mirror() {
  local f uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$f")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || { echo "ERROR: no Debian archive found in /etc/apt/sources.list(.d): cannot debootstrap" >&2; return 1; }
  printf '%s\n' "$uri"
}

# The security archive this machine uses, if any.
debian_security() {
  local f uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '/^URIs:/ && $2 ~ /security/ {print $2; exit}' "$f")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 ~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
  fi
  printf '%s\n' "$uri"
}

# build_base SUITE: opskit/base:SUITE
build_base() {
  local suite=$1 tag=opskit/base:$1 want_hash start
  want_hash=$(inputs_hash "$here/base" "$suite" "sources:updates+security")
  if [ $force = 0 ] && [ "$(image_label "$tag")" = "$want_hash" ]; then log "$tag" "up to date"; return; fi
  start=$(date +%s)
  if timeout 30 docker pull -q "debian:$suite-slim" >/dev/null 2>&1; then
    docker build -q --build-arg "SUITE=$suite" --label "$label=$want_hash" -t "$tag" -f "$here/base/Dockerfile.pulled" "$here/base" >/dev/null
    log "$tag" "built from debian:$suite-slim in $(( $(date +%s) - start ))s"
    return
  fi
  echo "No registry answered for debian:$suite-slim: building opskit/base:$suite with debootstrap"
  if ! command -v debootstrap >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      # Both bases may get here at once: one apt-get at a time.
      flock "$cache/.apt.lock" bash -c 'command -v debootstrap >/dev/null 2>&1 || apt-get install -y -qq debootstrap >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }'
    else
      echo "ERROR: debootstrap is missing: install it (apt-get install debootstrap) or make debian:$suite-slim pullable" >&2
      exit 1
    fi
  fi
  local mirror rootfs=$cache/rootfs-$suite
  mirror=$(debian_mirror)
  if [ ! -f "$rootfs/.complete" ]; then
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=python3,ca-certificates "$suite" "$rootfs" "$mirror" > "$cache/debootstrap-$suite.log" 2>&1 \
      || { echo "ERROR: debootstrap failed; see $cache/debootstrap-$suite.log" >&2; tail -5 "$cache/debootstrap-$suite.log" >&2; exit 1; }
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
    # The suite's updates and security archives too, as this machine has them.
    {
      echo "deb $mirror $suite main"
      echo "deb $mirror $suite-updates main"
      security=$(debian_security)
      [ -z "$security" ] || echo "deb $security $suite-security main"
    } > "$rootfs/etc/apt/sources.list"
    touch "$rootfs/.complete"
  fi
  tar --exclude=./.complete -C "$rootfs" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL $label=$want_hash" \
    --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
  log "$tag" "imported from debootstrap in $(( $(date +%s) - start ))s"
}

# The image a Dockerfile starts from: its FROM, with ${NAME} taken from the build arguments given
# (NAME=VALUE ...) or else from the Dockerfile's own `ARG NAME=default` lines before FROM.
from_image() {
  local dockerfile=$1; shift
  awk -v given="$(printf '%s\n' "$@")" '
    BEGIN { n = split(given, kv, "\n"); for (i = 1; i <= n; i++) { p = index(kv[i], "="); if (p) arg[substr(kv[i], 1, p - 1)] = substr(kv[i], p + 1) } }
    $1 == "ARG" { p = index($2, "="); if (p) { k = substr($2, 1, p - 1); v = substr($2, p + 1); gsub(/"/, "", v); if (!(k in arg)) arg[k] = v } }
    $1 == "FROM" { img = $2; for (k in arg) { gsub("\\$\\{" k "\\}", arg[k], img) } print img; exit }' "$dockerfile"
}

# build_image TAG DOCKERFILE CONTEXT [BUILD-ARG ...]
build_image() {
  local tag=$1 dockerfile=$2 context=$3; shift 3
  local from base_id want_hash start args=()
  from=$(from_image "$dockerfile" "$@")
  base_id=$(image_id "$from")
  [ -n "$base_id" ] || { echo "ERROR: $from (the base of $tag) is missing: run images/build.sh without names" >&2; exit 1; }
  want_hash=$(inputs_hash "$context" "$base_id" "$(sha256sum < "$dockerfile")" "$@")
  if [ $force = 0 ] && [ "$(image_label "$tag")" = "$want_hash" ]; then log "$tag" "up to date"; return; fi
  start=$(date +%s)
  local a; for a in "$@"; do args+=(--build-arg "$a"); done
  local buildlog=$cache/build-${tag//[\/:]/-}.log
  if ! docker build -q "${args[@]}" --label "$label=$want_hash" -t "$tag" -f "$dockerfile" "$context" > "$buildlog" 2>&1; then
    echo "ERROR: building $tag failed:" >&2; tail -20 "$buildlog" >&2; exit 1
  fi
  log "$tag" "built in $(( $(date +%s) - start ))s"
}

# Independent chains of builds run side by side (apt downloads of one overlap the unpacking of
# another: about a third less wall time on 2 cores, cold); each chain's lines are printed when it
# ends, and the first chain that fails fails the whole build.
chains=()
chain() {  # chain NAME COMMAND [ARG ...]: run COMMAND in the background, its output kept for the end
  local name=$1 out=$cache/chain-$1.out; shift
  ( "$@" ) > "$out" 2>&1 &
  chains+=("$name:$!")
}
wait_chains() {
  local entry name pid failed=0
  for entry in "${chains[@]}"; do
    name=${entry%%:*}; pid=${entry##*:}
    if ! wait "$pid"; then failed=1; echo "ERROR: the $name images failed to build:" >&2; fi
    cat "$cache/chain-$name.out"
    rm -f "$cache/chain-$name.out"
  done
  chains=()
  [ $failed = 0 ] || exit 1
}

total=$(date +%s)
if want base; then
  chain base-bookworm build_base bookworm
  chain base-trixie build_base trixie
  wait_chains
fi
postgres_images() {
  build_image opskit/postgres:15 "$here/postgres/Dockerfile" "$here/postgres" BASE=opskit/base:bookworm PG_MAJOR=15
  build_image opskit/postgres:17 "$here/postgres/Dockerfile" "$here/postgres" BASE=opskit/base:trixie PG_MAJOR=17
}
redis_images() {
  if want redis; then
    build_image opskit/redis:7 "$here/redis/Dockerfile" "$here/redis" BASE=opskit/base:bookworm "PACKAGES=redis-server redis-tools" SERVER_USER=redis
    build_image opskit/redis:8 "$here/redis/Dockerfile" "$here/redis" BASE=opskit/base:trixie "PACKAGES=redis-server redis-tools" SERVER_USER=redis
  fi
  if want valkey; then build_image opskit/valkey:8 "$here/valkey/Dockerfile" "$here/redis" BASE=opskit/base:trixie; fi
}
nginx_image() { build_image opskit/nginx:$suite "$here/nginx/Dockerfile" "$here/nginx"; }
app_images() {
  local version
  build_image opskit/webapp-runtime:$suite "$here/webapp-runtime/Dockerfile" "$here/webapp-runtime"
  if want webapp; then
    for version in v1 v2 v3-unhealthy v3-badmigration; do
      build_image "opskit/webapp:$version" "$here/webapp/Dockerfile" "$root/examples/webstack/app" "APP_VERSION=$version"
    done
  fi
  # The second example app (examples/ledger/app), on the example app's runtime plus Bottle and waitress.
  if want ledger; then
    build_image opskit/ledger-runtime:$suite "$here/ledger-runtime/Dockerfile" "$here/ledger-runtime"
    for version in v1 v2 v3-unhealthy; do
      build_image "opskit/ledger:$version" "$here/ledger/Dockerfile" "$root/examples/ledger/app" "LEDGER_BUILD=$version"
    done
  fi
}
# Remote Docker hosts (sshd + their own dockerd) of the remote e2e test: engine 20.10 and 26, side by side.
dockerhost_bookworm() {
  build_image opskit/dockerhost:bookworm "$here/dockerhost/Dockerfile" "$here/dockerhost" BASE=opskit/base:bookworm DOCKER_PACKAGES=docker.io
}
dockerhost_trixie() {
  build_image opskit/dockerhost:trixie "$here/dockerhost/Dockerfile" "$here/dockerhost" BASE=opskit/base:trixie "DOCKER_PACKAGES=docker.io docker-cli"
}
# The execution environment (its own inputs hash, "up to date" in seconds); this build's lock is held
# here, so it does not take it again.
ee_image() { OPSKIT_IMAGES_LOCK_HELD=1 EE_FORCE=$force bash "$here/ee/build.sh"; }
if want postgres; then chain postgres postgres_images; fi
if want redis || want valkey; then chain redis redis_images; fi
if want nginx; then chain nginx nginx_image; fi
if want webapp || want ledger; then chain app app_images; fi
if want dockerhost; then chain dockerhost-bookworm dockerhost_bookworm; chain dockerhost-trixie dockerhost_trixie; fi
if want ee; then chain ee ee_image; fi
wait_chains
# Dangling layers of replaced builds are of no use to anyone.
docker image prune -f --filter "label=$label" >/dev/null 2>&1 || true
echo "images: done in $(( $(date +%s) - total ))s"
