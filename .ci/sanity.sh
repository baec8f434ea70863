#!/usr/bin/env bash
# ansible-test sanity, offline-capable, with an empty ignore file.
# ansible-test wants the collection at .../ansible_collections/opskit/webstack and, for its per-test
# virtual environments, pip's bootstrap script from a host that may be unreachable: we lay out a
# copy of the tracked files and provide a stand-in bootstrap script built on `ensurepip`.
set -euo pipefail
venv=$(cd "${1:?usage: sanity.sh VENV}" && pwd)
shift
root=$(cd "$(dirname "$0")/.." && pwd)
py=$("$venv/bin/python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')

# 1. The stand-in for get-pip.py, one per pip version ansible-test may ask for.
cache=$HOME/.ansible/test/cache
mkdir -p "$cache"
pip_versions=$("$venv/bin/python" - <<'PY'
import glob, os, re
import ansible_test
base = os.path.dirname(ansible_test.__file__)
found = set()
for path in glob.glob(os.path.join(base, "**", "*.py"), recursive=True):
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    found.update(re.findall(r"get_pip_(\d+_\d+(?:_\d+)?)\.py", text))
    found.update(v.replace(".", "_") for v in re.findall(r"pip(?:==|=')(\d+\.\d+(?:\.\d+)?)", text))
print(" ".join(sorted(found)))
PY
)
for v in $pip_versions; do
  cat > "$cache/get_pip_$v.py" <<'PY'
"""Offline stand-in for get-pip.py: bootstrap pip with ensurepip, then install what was asked."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
args = [a for a in sys.argv[1:] if not a.startswith("--no-")]
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
PY
done

# ansible-test's shellcheck test needs the program; install Debian's when we can, else it is skipped.
if ! command -v shellcheck >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing shellcheck (Debian package) for the shellcheck sanity test"
  apt-get install -y -qq shellcheck >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null; } \
    || echo "WARNING: could not install shellcheck; ansible-test will skip that test" >&2
fi

# 2. A copy of the tracked (and untracked, not ignored) files in the layout ansible-test expects.
#    What the collection ships, plus tests/unit. Left out: the development tree that galaxy.yml's
#    build_ignore keeps out of the tarball too (image builder, Molecule scenarios, benchmarks, e2e
#    tests); ruff and ansible-lint check those.
work=$(mktemp -d "${TMPDIR:-/tmp}/opskit-sanity.XXXXXX")
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/opskit/webstack
mkdir -p "$dest"
(cd "$root" && git ls-files -z --cached --others --exclude-standard -- . \
    ':!images' ':!molecule' ':!benchmarks' ':!tests/e2e' ':!.ci' ':!.config' \
  | xargs -0 -I{} sh -c 'test -e "{}" && echo "{}"' ) \
  | (cd "$root" && tar -cf - -T -) | tar -C "$dest" -xf -
cd "$dest"
git init -q . && git add -A >/dev/null 2>&1 && git -c user.name=ci -c user.email=ci@localhost commit -qm sanity >/dev/null

# 3. The run: every test, in per-test virtual environments, with the empty ignore file.
"$venv/bin/ansible-test" sanity --venv --python "$py" --color no "$@"
