#!/usr/bin/env bash
# Build the execution environment (execution-environment.yml) with ansible-builder, reaching no
# package index during the image build:
#   1. the Python packages the build installs are downloaded here first, with this machine's pip,
#      into .cache/ee/wheels (ansible-core, ansible-runner, ansible, and what ansible-builder's own
#      scripts install: bindep, PyYAML, packaging, dumb-init);
#   2. the collection's tarball (ansible-galaxy collection build) goes to .cache/ee/collection;
#   3. ansible-builder build, with the docker runtime and the legacy builder (engine 20.10).
# Environment: EE_BASE_IMAGE (default opskit/base:bookworm), EE_TAG (default opskit/webstack-ee:<version>).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${VENV:-$root/.venv}
cache=$root/.cache/ee
base=${EE_BASE_IMAGE:-opskit/base:bookworm}
version=$(awk '$1 == "version:" {print $2; exit}' "$root/galaxy.yml")
tag=${EE_TAG:-opskit/webstack-ee:$version}
cd "$root"
docker image inspect "$base" >/dev/null 2>&1 || { echo "ERROR: base image $base is missing (make images, or set EE_BASE_IMAGE)" >&2; exit 1; }
start=$(date +%s)

rm -rf "$cache/collection" && mkdir -p "$cache/wheels" "$cache/collection"
# The interpreter of the base decides which wheels fit (cp311 on bookworm, cp313 on trixie).
pyver=$(docker run --rm --entrypoint /usr/bin/python3 "$base" -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')
"$venv/bin/python" -m pip download --quiet --dest "$cache/wheels" --only-binary=:all: \
  --python-version "$pyver" --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_17_x86_64 --platform linux_x86_64 \
  ansible-core==2.19.14 ansible-runner==2.4.3 -r images/ee/requirements.txt \
  bindep pyyaml packaging dumb-init==1.2.5 setuptools wheel pbr
"$venv/bin/ansible-galaxy" collection build --force --output-path "$cache/collection" . >/dev/null

# The lock of images/build.sh: its clean-up of dangling images (by the label the local bases carry,
# which intermediate images of this build inherit) must not run while this build is under way.
mkdir -p "$root/images/.cache"
exec 9>"$root/images/.cache/.build.lock"
flock 9
DOCKER_BUILDKIT=0 "$venv/bin/ansible-builder" build --container-runtime docker -f execution-environment.yml \
  --context "$cache/context" --build-arg "EE_BASE_IMAGE=$base" --tag "$tag" -v 1
[ "$tag" = opskit/webstack-ee:latest ] || docker tag "$tag" opskit/webstack-ee:latest
echo "execution environment $tag (base $base) built in $(( $(date +%s) - start ))s"
