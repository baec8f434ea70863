#!/usr/bin/env bash
# Build the execution environment (execution-environment.yml) with ansible-builder, reaching no
# package index during the image build:
#   1. the Python packages the build installs are downloaded here first, with this machine's pip,
#      into .cache/ee/wheels (ansible-core, ansible-runner, and what ansible-builder's own scripts
#      install: bindep, PyYAML, packaging, dumb-init); a second run finds them there without asking
#      the index;
#   2. the collections the roles use are packed from this checkout's venv into .cache/ee/collections
#      (images/ee/pack_collections.py, reproducible tarballs), and opskit.webstack's own tarball
#      (ansible-galaxy collection build) goes to .cache/ee/collection;
#   3. the hash of every input (the definition, images/ee/*, the wheels, the collections' files, the
#      base image's id) is compared with the label of the image: equal, nothing is built ("up to
#      date", about a second); else `ansible-builder create` writes the build context, opskit.webstack's
#      tarball is put beside its _build (so that a change to the collection rebuilds the last layers
#      only) and docker builds it with the legacy builder (engine 20.10), labelled with the hash.
# A cold build: docker rmi opskit/webstack-ee:latest opskit/webstack-ee:<version> opskit/webstack-ee-stage:galaxy
# opskit/webstack-ee-stage:builder (their untagged layers go with them), then this script.
# Environment: EE_BASE_IMAGE (default opskit/base:bookworm), EE_TAG (default opskit/webstack-ee:<version>),
# EE_FORCE=1 builds even when up to date; EE_ANY_COLLECTION=1 takes an image that differs only by opskit.webstack.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${VENV:-$root/.venv}
cache=$root/.cache/ee
base=${EE_BASE_IMAGE:-opskit/base:bookworm}
version=$(awk '$1 == "version:" {print $2; exit}' "$root/galaxy.yml")
tag=${EE_TAG:-opskit/webstack-ee:$version}
label=org.opskit.webstack.ee-inputs
# The collections the roles and playbooks call, besides opskit.webstack (their dependencies come along).
collections=(community.docker community.postgresql community.general ansible.posix)
cd "$root"
base_id=$(docker image inspect --format '{{.Id}}' "$base" 2>/dev/null) \
  || { echo "ERROR: base image $base is missing (make images, or set EE_BASE_IMAGE)" >&2; exit 1; }
start=$(date +%s)

rm -rf "$cache/collection" "$cache/collections" && mkdir -p "$cache/wheels" "$cache/collection" "$cache/collections"
# The interpreter of the base decides which wheels fit (cp311 on bookworm, cp313 on trixie); kept by base id.
pyver_file=$cache/python-${base_id#sha256:}
[ -s "$pyver_file" ] || docker run --rm --entrypoint /usr/bin/python3 "$base" \
  -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")' > "$pyver_file"
pyver=$(cat "$pyver_file")
download=(--dest "$cache/wheels" --only-binary=:all: --python-version "$pyver"
  --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform linux_x86_64
  ansible-core==2.19.14 ansible-runner==2.4.3 bindep pyyaml packaging dumb-init==1.2.5 setuptools wheel pbr)
# From the wheels already here when they suffice (no index asked), else from the index.
"$venv/bin/python" -m pip download --quiet --no-index --find-links "$cache/wheels" "${download[@]}" >/dev/null 2>&1 \
  || "$venv/bin/python" -m pip download --quiet "${download[@]}"
"$venv/bin/python" "$root/images/ee/pack_collections.py" "$cache/collections" "${collections[@]}" > "$cache/collections.txt"
"$venv/bin/ansible-galaxy" collection build --force --output-path "$cache/collection" . >/dev/null

# The inputs: a tarball's own bytes carry build times, so opskit.webstack counts by its MANIFEST.json and
# FILES.json (the checksum of every file it holds); the packed collections are reproducible bytes.
# EE_ANY_COLLECTION=1 (the remote e2e test, which runs this checkout's opskit.webstack through ansible.cfg's
# collections_path, not the image's copy) also takes an image whose only difference is opskit.webstack.
dependencies=$(
  {
    sha256sum execution-environment.yml images/ee/*
    (cd "$cache/wheels" && ls -1 | sort)
    (cd "$cache/collections" && sha256sum ./*.tar.gz)
    printf '%s\n' "$base_id" "$tag"
  } | sha256sum | cut -c1-16
)
inputs=$({ echo "$dependencies"; tar -xzOf "$cache"/collection/*.tar.gz MANIFEST.json FILES.json; } | sha256sum | cut -c1-16)
built=$(docker image inspect --format "{{ index .Config.Labels \"$label\" }} {{ index .Config.Labels \"$label-dependencies\" }}" "$tag" 2>/dev/null || true)
if [ "${EE_FORCE:-0}" != 1 ] && { [ "${built% *}" = "$inputs" ] || { [ "${EE_ANY_COLLECTION:-0}" = 1 ] && [ "${built#* }" = "$dependencies" ]; }; }; then
  [ "$tag" = opskit/webstack-ee:latest ] || docker tag "$tag" opskit/webstack-ee:latest
  note=""; [ "${built% *}" = "$inputs" ] || note=", its opskit.webstack older than this checkout's (EE_ANY_COLLECTION=1)"
  echo "execution environment $tag (base $base) up to date$note ($(( $(date +%s) - start ))s)"
  exit 0
fi

# The lock of images/build.sh: its clean-up of dangling images (by the label the local bases carry,
# which intermediate images of this build inherit) must not run while this build is under way.
# (images/build.sh ee holds it already: OPSKIT_IMAGES_LOCK_HELD=1.)
if [ "${OPSKIT_IMAGES_LOCK_HELD:-0}" != 1 ]; then
  mkdir -p "$root/images/.cache"
  exec 9>"$root/images/.cache/.build.lock"
  flock 9
fi
context=$cache/context
"$venv/bin/ansible-builder" create -f execution-environment.yml --context "$context" --output-filename Dockerfile -v 1 >/dev/null
rm -rf "$context/opskit-collection" && mkdir -p "$context/opskit-collection"
cp "$cache"/collection/*.tar.gz "$context/opskit-collection/"
: > "$cache/build.log"
# ansible-builder's galaxy and builder stages end in images no other image descends from: untagged, they
# are dangling, and images/build.sh's clean-up (or any `docker image prune`) removes them, and with them
# the layer cache of those stages (a change to opskit.webstack then cost 4-6 minutes instead of one).
# Each is built first under a tag of its own (opskit/webstack-ee-stage:<stage>), which keeps it.
for stage in galaxy builder final; do
  if [ $stage = final ]; then target=(-t "$tag" --label "$label=$inputs" --label "$label-dependencies=$dependencies"); else target=(--target $stage -t "opskit/webstack-ee-stage:$stage"); fi
  DOCKER_BUILDKIT=0 docker build -f "$context/Dockerfile" --build-arg "EE_BASE_IMAGE=$base" \
    "${target[@]}" "$context" >> "$cache/build.log" 2>&1 \
    || { echo "ERROR: the execution environment's image build failed (all of it: $cache/build.log):" >&2; tail -30 "$cache/build.log" >&2; exit 1; }
done
[ "$tag" = opskit/webstack-ee:latest ] || docker tag "$tag" opskit/webstack-ee:latest
echo "execution environment $tag (base $base) built in $(( $(date +%s) - start ))s"
