#!/usr/bin/env bash
# Say plainly what is wrong when Docker cannot be used, instead of a stack trace later on.
set -uo pipefail
if ! command -v docker >/dev/null 2>&1; then
  echo "ERROR: the docker CLI is not installed. Install Docker Engine (https://docs.docker.com/engine/install/) and retry." >&2
  exit 1
fi
if ! err=$(docker info --format '{{.ServerVersion}}' 2>&1 >/dev/null); then
  echo "ERROR: the Docker daemon is not reachable: ${err##*$'\n'}" >&2
  echo "       Start it (e.g. 'sudo systemctl start docker') or check DOCKER_HOST and your permissions." >&2
  exit 1
fi
exit 0
