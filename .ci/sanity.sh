#!/usr/bin/env bash
# ansible-test sanity, offline-capable, on each ansible-core series asked for, each with its own
# empty ignore file (tests/sanity/ignore-<series>.txt).
#
#   .ci/sanity.sh VENV [SERIES ...] [-- ANSIBLE-TEST ARGS ...]
#
# SERIES defaults to the ansible-core of VENV. A series that VENV does not carry runs from its own
# virtual environment, .cache/sanity-<series>/, made here from .ci/sanity-<series>.lock (exact pins;
# its "# python:" line lists the Python versions that series runs on, tried as VENV's Python first,
# then as python3.X on PATH).
# ansible-test wants the collection at .../ansible_collections/opskit/webstack and, for its per-test
# virtual environments, pip's bootstrap script from a host that may be unreachable: we lay out a
# copy of the tracked files and provide a stand-in bootstrap script built on `ensurepip`.
set -euo pipefail
# The whole script is one block, read before it runs: editing it during a run cannot derail that run.
{
venv=$(cd "${1:?usage: sanity.sh VENV [SERIES ...] [-- ANSIBLE-TEST ARGS ...]}" && pwd)
shift
root=$(cd "$(dirname "$0")/.." && pwd)
series_list=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do series_list+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
core_of() { "$1/bin/python" -c 'import ansible.release as r; print(r.__version__)'; }
[ ${#series_list[@]} -gt 0 ] || series_list=("$(core_of "$venv" | cut -d. -f1,2)")

# 1. A virtual environment per series: VENV when it carries that series, else .cache/sanity-<series>.
python_for() {  # python_for LOCKFILE: an interpreter of a version the lock's "# python:" line names
  local wanted candidate version
  wanted=$(sed -n 's/^# python: *//p' "$1")
  for candidate in "$venv/bin/python" $(for v in $wanted; do echo "python$v"; done); do
    command -v "$candidate" >/dev/null 2>&1 || continue
    version=$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
    if [ -z "$wanted" ] || [[ " $wanted " == *" $version "* ]]; then echo "$candidate"; return 0; fi
  done
  return 1
}
venv_for() {  # venv_for SERIES: prints the venv's path, creating it when needed
  local series=$1 lock=$root/.ci/sanity-$1.lock dir=$root/.cache/sanity-$1 python
  if [ "$(core_of "$venv" | cut -d. -f1,2)" = "$series" ]; then echo "$venv"; return 0; fi
  [ -f "$lock" ] || { echo "ERROR: no pins for ansible-core $series: add $lock" >&2; return 1; }
  mkdir -p "$root/.cache"
  (
    flock 9
    if [ ! -f "$dir/.installed" ] || [ "$lock" -nt "$dir/.installed" ]; then
      python=$(python_for "$lock") || {
        echo "ERROR: ansible-core $series needs Python $(sed -n 's/^# python: *//p' "$lock"); none found" >&2; exit 1; }
      echo "Creating $dir (ansible-core $series, $("$python" --version))" >&2
      rm -rf "$dir"
      "$python" -m venv "$dir"
      "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$lock" >&2
      touch "$dir/.installed"
    fi
  ) 9>"$root/.cache/sanity-$series.lock" || return 1
  echo "$dir"
}

# 2. The stand-in for get-pip.py, one per pip version an ansible-test may ask for.
cache=$HOME/.ansible/test/cache
mkdir -p "$cache"
stand_in_get_pip() {  # stand_in_get_pip VENV
  local v
  for v in $("$1/bin/python" - <<'PY'
import glob, os, re
import ansible_test
base = os.path.dirname(ansible_test.__file__)
found = set()
for path in glob.glob(os.path.join(base, "**", "*.py"), recursive=True) + glob.glob(
    os.path.join(base, "_data", "requirements", "*.txt")
):
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    found.update(re.findall(r"get_pip_(\d+_\d+(?:_\d+)?)\.py", text))
    found.update(v.replace(".", "_") for v in re.findall(r"pip(?:==|=')(\d+\.\d+(?:\.\d+)?)", text))
print(" ".join(sorted(found)))
PY
  ); do
    cat > "$cache/.get_pip_$v.py.$$" <<'PY'
"""Offline stand-in for get-pip.py: bootstrap pip with ensurepip, then install what was asked."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
args = [a for a in sys.argv[1:] if not a.startswith("--no-")]
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
PY
    mv -f "$cache/.get_pip_$v.py.$$" "$cache/get_pip_$v.py"  # atomic: another series may be running it
  done
}

# ansible-test's shellcheck test needs the program; install Debian's when we can, else it is skipped.
# Two series may run side by side (make -j): one apt-get at a time.
if ! command -v shellcheck >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  mkdir -p "$root/.cache"
  (
    flock 8
    if ! command -v shellcheck >/dev/null 2>&1; then
      echo "Installing shellcheck (Debian package) for the shellcheck sanity test"
      apt-get install -y -qq shellcheck >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null; } \
        || echo "WARNING: could not install shellcheck; ansible-test will skip that test" >&2
    fi
  ) 8>"$root/.cache/apt.lock"
fi

# 3. A copy of the tracked (and untracked, not ignored) files in the layout ansible-test expects.
#    What the collection ships, plus tests/unit. Left out: what galaxy.yml's build_ignore keeps out
#    of the tarball too, the development tree (image builder, Molecule scenarios, benchmarks, e2e
#    tests) and the site (inventories, AWX templates, the example stack); ruff and ansible-lint
#    check those.
work=$(mktemp -d "${TMPDIR:-/tmp}/opskit-sanity.XXXXXX")
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/opskit/webstack
mkdir -p "$dest"
(cd "$root" && git ls-files -z --cached --others --exclude-standard -- . \
    ':!images' ':!molecule' ':!benchmarks' ':!tests/e2e' ':!.ci' ':!.config' \
    ':!inventories' ':!awx' ':!examples' ':!collections' \
  | while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\n' "$f"; fi; done ) \
  | (cd "$root" && tar -cf - -T -) | tar -C "$dest" -xf -
cd "$dest"
git init -q . && git add -A >/dev/null 2>&1 && git -c user.name=ci -c user.email=ci@localhost commit -qm sanity >/dev/null

# 4. The runs: every test, in per-test virtual environments, with the series' empty ignore file.
status=0
summary=()
for series in "${series_list[@]}"; do
  ignore=tests/sanity/ignore-$series.txt
  if [ ! -f "$ignore" ] || [ -s "$ignore" ]; then
    echo "ERROR: $ignore must exist and be empty (fix what sanity reports instead of ignoring it)" >&2
    status=1; summary+=("ansible-core $series: no empty $ignore"); continue
  fi
  if ! series_venv=$(venv_for "$series"); then
    status=1; summary+=("ansible-core $series: no virtual environment"); continue
  fi
  stand_in_get_pip "$series_venv"
  core=$(core_of "$series_venv")
  py=$("$series_venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  echo "=== ansible-test sanity, ansible-core $core, Python $py ($series_venv)"
  rm -rf tests/output
  start=$(date +%s)
  if "$series_venv/bin/ansible-test" sanity --venv --python "$py" --color no "$@"; then
    result=passed
  else
    result=FAILED; status=1
  fi
  summary+=("ansible-core $core (Python $py): $result in $(( $(date +%s) - start )) s")
done
echo "=== sanity summary"
printf '  %s\n' "${summary[@]}"
exit "$status"
}
