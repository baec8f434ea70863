"""The collection apart from the site: the tarball that ``ansible-galaxy collection build`` makes.

It is built from the working tree into a temporary directory, read as a tar, then installed with
``ansible-galaxy collection install --no-deps`` into an empty collections path (community.* resolve
from the venv's ``ansible`` package) and looked at the way a user does, with ``ansible-doc`` and
``ansible-playbook``. What it must hold is computed from the source tree when the test runs, so a new
module, role or playbook is covered without touching this file. No Docker is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NAMESPACE, NAME = "opskit", "webstack"
COLLECTION = f"{NAMESPACE}.{NAME}"

# The site and the development tree: in the repository, never in the tarball.
LEFT_OUT = (
    "inventories",
    "awx",
    "examples",
    "collections",
    "ansible.cfg",
    "execution-environment.yml",
    "requirements.txt",
    "requirements.lock",
    "Makefile",
    "molecule",
    "benchmarks",
    "images",
    "tests/e2e",
    "tests/unit",
    "tests/output",
    ".ci",
    ".config",
    ".venv",
    ".collections",
    ".cache",
    ".git",
)
# What the collection is: every file under these (as found in the tree) is in the tarball.
SHIPPED_DIRS = ("roles", "plugins", "playbooks", "meta", "docs")
SHIPPED_FILES = ("README.md", "COPYING", "changelogs/changelog.yaml", "changelogs/config.yaml")

# The options a module_defaults group sets: each member of the group takes all of them
# (meta/runtime.yml says so to its readers).
GROUP_OPTIONS = {
    # Values unlike the modules' own defaults, so that receiving them proves the group reached the module.
    "compose": {
        "project_name": "opskit-probe",
        "project_src": "/nonexistent/opskit-probe",
        "files": ["/nonexistent/opskit-probe/compose.yml"],
        "env_files": ["/nonexistent/opskit-probe/.env"],
        "env": {"OPSKIT_PROBE": "1"},
        "docker_cli": "/nonexistent/docker",
    },
    "redis": {
        "login_host": "127.0.0.2",
        "login_port": 1,
        "login_user": "opskit-probe-user",
        "login_password": "opskit-probe-password",  # not a secret: nothing listens on port 1
        "tls": True,
        "validate_certs": False,
        "ca_certs": "/nonexistent/ca.pem",
        "client_cert_file": "/nonexistent/cert.pem",
        "client_key_file": "/nonexistent/key.pem",
    },
}
NO_LOG_MASK = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def group_wanted(module: str, options: set[str]) -> set[str]:
    """The groups a module belongs in, from what it is: compose takes a project, redis_* talk to Redis."""
    wanted = set()
    if {"project_name", "project_src"} <= options:
        wanted.add("compose")
    if module.startswith("redis_"):
        wanted.add("redis")
    return wanted


def _source_modules() -> set[str]:
    return {p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__"}


def _source_roles() -> set[str]:
    return {p.name for p in (ROOT / "roles").iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}


def _run(argv: list[str], env: dict[str, str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(argv)} exited {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="session", autouse=True)
def _images_present() -> None:
    """Override of the e2e conftest's check: this test builds and reads a tarball, no Docker needed."""


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(ROOT)], dict(os.environ), ROOT)
    (built,) = out.glob(f"{NAMESPACE}-{NAME}-*.tar.gz")
    return built


@pytest.fixture(scope="module")
def members(tarball: Path) -> dict[str, bytes | None]:
    """Path in the tarball -> content (None for directories)."""
    with tarfile.open(tarball) as tar:
        return {m.name.removeprefix("./"): (tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()}


@pytest.fixture(scope="module")
def installed(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tarball installed alone into an empty collections path; the environment that sees only it."""
    base = tmp_path_factory.mktemp("installed")
    collections = base / "collections"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(collections),  # and the venv's site-packages (community.*), scanned by default
        ANSIBLE_CONFIG=str(base / "ansible.cfg"),  # none: the repository's points at its own checkout
        ANSIBLE_LOCAL_TEMP=str(base / "tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_DEPRECATION_WARNINGS="false",
        ANSIBLE_HOME=str(base / "home"),
    )
    (base / "ansible.cfg").write_text("[defaults]\n", encoding="utf-8")
    _run([str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(collections), str(tarball)], env, base)
    return {"env": env, "cwd": base, "path": collections / "ansible_collections" / NAMESPACE / NAME}


def test_the_tarball_leaves_the_site_out(members: dict[str, bytes | None]) -> None:
    present = sorted(n for n in members for left in LEFT_OUT if n == left or n.startswith(left + "/"))
    assert not present, f"site or development files in the tarball: {present}"
    vaults = sorted(n for n, data in members.items() if data is not None and data.lstrip().startswith(b"$ANSIBLE_VAULT"))
    assert not vaults, f"vault-encrypted files in the tarball: {vaults}"
    named = sorted(n for n in members if Path(n).name.startswith(("vault.", "vault-password")))
    assert not named, f"vault files in the tarball: {named}"


def test_the_tarball_carries_the_licence(members: dict[str, bytes | None]) -> None:
    licence = members.get("COPYING")
    assert licence, "no COPYING in the tarball"
    assert b"GNU GENERAL PUBLIC LICENSE" in licence
    assert b"Version 3, 29 June 2007" in licence
    assert b"END OF TERMS AND CONDITIONS" in licence, "COPYING is not the full text of the GPL v3"
    manifest = json.loads(members["MANIFEST.json"])["collection_info"]
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))
    assert manifest["license"] == galaxy["license"] == ["GPL-3.0-or-later"]


def test_the_tarball_carries_the_collection(members: dict[str, bytes | None]) -> None:
    expected = set(SHIPPED_FILES)
    for top in SHIPPED_DIRS:
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                expected.add(path.relative_to(ROOT).as_posix())
    missing = sorted(expected - set(members))
    assert not missing, f"files of the collection missing from the tarball: {missing}"
    assert any(n.startswith("playbooks/") and n.endswith(".yml") for n in members), "no playbook in the tarball"


def test_ansible_doc_lists_every_module_and_role(installed: dict) -> None:
    env, cwd = installed["env"], installed["cwd"]
    assert (installed["path"] / "MANIFEST.json").is_file()
    listing = json.loads(_run([str(BIN / "ansible-galaxy"), "collection", "list", COLLECTION, "--format", "json"], env, cwd).stdout)
    holders = [path for path, found in listing.items() if COLLECTION in found]
    assert holders == [str(installed["path"].parents[1])], f"{COLLECTION} resolves from {holders}, not only from the installed tarball"

    modules = json.loads(_run([str(BIN / "ansible-doc"), "-l", COLLECTION, "--json"], env, cwd).stdout)
    assert set(modules) == {f"{COLLECTION}.{m}" for m in _source_modules()}
    roles = json.loads(_run([str(BIN / "ansible-doc"), "-t", "role", "-l", COLLECTION, "--json"], env, cwd).stdout)
    assert set(roles) == {f"{COLLECTION}.{r}" for r in _source_roles()}, "a role is missing (a role is listed when it has meta/argument_specs.yml)"

    # Every page renders (not only the listing).
    docs = json.loads(_run([str(BIN / "ansible-doc"), "--json", *sorted(modules)], env, cwd).stdout)
    assert set(docs) == set(modules)
    role_docs = json.loads(_run([str(BIN / "ansible-doc"), "-t", "role", "--json", *sorted(roles)], env, cwd).stdout)
    assert set(role_docs) == set(roles)


def test_every_playbook_resolves_from_the_installed_collection(installed: dict) -> None:
    """``ansible-playbook opskit.webstack.<name>`` for each playbook under playbooks/: its roles, modules and
    files resolve from the installed tarball alone (no checkout, no ansible.cfg of the repository)."""
    playbooks = sorted(f"{COLLECTION}.{p.stem}" for p in (ROOT / "playbooks").glob("*.yml"))
    assert playbooks, "no playbook under playbooks/"
    _run([str(BIN / "ansible-playbook"), "--syntax-check", "-i", "localhost,", *playbooks], installed["env"], installed["cwd"])


def _module_options(installed: dict) -> dict[str, dict]:
    fqcns = sorted(f"{COLLECTION}.{m}" for m in _source_modules())
    docs = json.loads(_run([str(BIN / "ansible-doc"), "--json", *fqcns], installed["env"], installed["cwd"]).stdout)
    return {fqcn.removeprefix(COLLECTION + "."): doc["doc"] for fqcn, doc in docs.items()}


def _action_groups(installed: dict) -> dict[str, set[str]]:
    runtime = yaml.safe_load((installed["path"] / "meta" / "runtime.yml").read_text(encoding="utf-8"))
    assert runtime["requires_ansible"] == ">=2.17.0"
    groups = {}
    for group, entries in runtime.get("action_groups", {}).items():
        names = [e for e in entries if isinstance(e, str)]
        groups[group] = {n.removeprefix(COLLECTION + ".") for n in names}
    return groups


def test_action_groups_match_the_modules(installed: dict) -> None:
    docs = _module_options(installed)
    groups = _action_groups(installed)
    assert set(GROUP_OPTIONS) <= set(groups), f"meta/runtime.yml lacks groups {set(GROUP_OPTIONS) - set(groups)}"
    for group, names in groups.items():
        assert names <= set(docs), f"group {group} names modules that do not exist: {sorted(names - set(docs))}"
    for module, doc in docs.items():
        options = set(doc.get("options") or {})
        member_of = {g for g, names in groups.items() if module in names}
        missing = group_wanted(module, options) - member_of
        assert not missing, f"{module} belongs in action group(s) {sorted(missing)} of meta/runtime.yml"
        for group in member_of & set(GROUP_OPTIONS):
            lacking = set(GROUP_OPTIONS[group]) - options
            assert not lacking, f"{module} is in group {group} but does not take {sorted(lacking)}"
        membership = ((doc.get("attributes") or {}).get("action_group") or {}).get("membership")
        if membership is not None:
            assert set(membership) == {f"{COLLECTION}.{g}" for g in member_of}, f"{module}: attributes.action_group.membership"


def test_module_defaults_reach_every_group_member(installed: dict) -> None:
    """One task per member with no arguments of its own, under module_defaults of its group: the arguments
    the module received (``invocation.module_args``, in its result whether it failed or not) hold the
    group's options. The modules run in check mode, against nothing (no project, Redis on port 1)."""
    groups = _action_groups(installed)
    plays = []
    for group, names in sorted(groups.items()):
        tasks = [{"name": f"{group} {module}", f"{COLLECTION}.{module}": {}, "ignore_errors": True, "check_mode": True} for module in sorted(names)]
        defaults = GROUP_OPTIONS.get(group, {})
        plays.append({"name": group, "hosts": "localhost", "gather_facts": False, "module_defaults": {f"group/{COLLECTION}.{group}": defaults}, "tasks": tasks})
    playbook = installed["cwd"] / "module_defaults.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False), encoding="utf-8")
    env = {**installed["env"], "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_PYTHON_INTERPRETER": sys.executable}
    argv = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)]
    result = subprocess.run(argv, env=env, cwd=installed["cwd"], capture_output=True, text=True, timeout=600, check=False)
    assert result.stdout.strip(), f"ansible-playbook printed nothing: {result.stderr[-4000:]}"
    seen = {task["task"]["name"]: task["hosts"]["localhost"] for play in json.loads(result.stdout)["plays"] for task in play["tasks"]}
    for group, names in groups.items():
        for module in names:
            outcome = seen.get(f"{group} {module}")
            assert outcome is not None, f"no result for {module} in group {group}: {result.stderr[-2000:]}"
            msg = outcome.get("msg", "")
            assert not msg.startswith("Unsupported parameters"), f"{module} rejects options of group/{COLLECTION}.{group}: {msg}"
            received = (outcome.get("invocation") or {}).get("module_args") or {}
            lacking = sorted(k for k, v in GROUP_OPTIONS.get(group, {}).items() if received.get(k) not in (v, NO_LOG_MASK))
            assert not lacking, f"{module} did not receive {lacking} from module_defaults group/{COLLECTION}.{group}: {msg}"
