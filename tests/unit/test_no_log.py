"""Every option that carries a secret is no_log: the modules' real argument specs and the roles'.

What counts as a secret: an option whose name says password, passwd, secret, token, header(s),
auth or private_key (``SECRET_NAME``).

Modules: each ``plugins/modules/*.py`` is imported and its ``main()`` run with
``AnsibleModule.__init__`` patched to record the argument spec it is given and stop there, so the
spec checked is the one Ansible enforces (suboptions included), not the documentation. A module
file without ``main()`` is the documentation stub of an action plugin: its spec is the
``ARGUMENT_SPEC`` of ``plugins/action/<name>.py``. Rule: every secret option has ``no_log=True``.

Roles: every entry point of every ``roles/*/meta/argument_specs.yml``. A role variable is not a
module option: Ansible masks it only where a task says so. So the rule is two-fold:

1. the option has ``no_log: true`` in the argument spec (the role's argument validation then never
   prints its value in an error), and
2. every task of the role (``tasks/*.yml``, blocks included) that mentions the variable - or a
   variable of ``vars/main.yml`` or ``defaults/main.yml`` built from it, transitively - is either
   ``no_log: true`` (itself or through an enclosing block), or mentions it only as the value of an
   option that the called module marks no_log (a module's own spec, read as above; through
   ``module_defaults`` of a block, and through ``opskit.webstack.container_module``'s ``args`` for
   its ``module``). A debug message, an assert, a set_fact or a command line that carries it fails.

Modules of other collections called by the roles (community.general.redis_info...) are read the same
way from the installed collections. The lists are derived from the tree: a new module or role is
checked without touching this file.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml
from ansible.module_utils import basic

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAME = re.compile(r"(password|passwd|secret|token|headers?|auth|private_key)", re.IGNORECASE)
# Keys of a task that are not the module (ansible-core's task keywords that matter here)
TASK_KEYWORDS = {
    "name",
    "when",
    "register",
    "loop",
    "loop_control",
    "vars",
    "tags",
    "become",
    "become_user",
    "delegate_to",
    "changed_when",
    "failed_when",
    "check_mode",
    "diff",
    "no_log",
    "environment",
    "notify",
    "until",
    "retries",
    "delay",
    "ignore_errors",
    "run_once",
    "timeout",
    "async",
    "poll",
    "args",
    "module_defaults",
    "listen",
    "throttle",
    "delegate_facts",
    "any_errors_fatal",
    "ignore_unreachable",
    "local_action",
    "with_items",
    "block",
    "rescue",
    "always",
}


class _Captured(Exception):
    def __init__(self, spec):
        super().__init__("captured")
        self.spec = spec


def capture_spec(module_name):
    """The argument spec a module's main() hands to AnsibleModule."""
    mod = importlib.import_module(module_name)
    if not hasattr(mod, "main"):
        return None

    def fake_init(self, *args, **kwargs):
        raise _Captured(kwargs.get("argument_spec", args[0] if args else {}))

    original = basic.AnsibleModule.__init__
    basic.AnsibleModule.__init__ = fake_init
    try:
        mod.main()
    except _Captured as captured:
        return captured.spec
    finally:
        basic.AnsibleModule.__init__ = original
    raise AssertionError(f"{module_name}.main() never created an AnsibleModule")


def collection_module_spec(name):
    """Spec of ``name`` (a module file stem of this collection)."""
    spec = capture_spec(f"ansible_collections.opskit.webstack.plugins.modules.{name}")
    if spec is None:
        action = importlib.import_module(f"ansible_collections.opskit.webstack.plugins.action.{name}")
        spec = getattr(action, "ARGUMENT_SPEC", None)
        assert spec is not None, f"plugins/modules/{name}.py has no main() and plugins/action/{name}.py no ARGUMENT_SPEC"
    return spec


_FQCN_SPECS = {}


def spec_of_fqcn(fqcn):
    """Spec of any module by FQCN (this collection's, ansible.builtin's or an installed one), or None."""
    if fqcn in _FQCN_SPECS:
        return _FQCN_SPECS[fqcn]
    parts = fqcn.split(".")
    spec = None
    try:
        if parts[:2] == ["opskit", "webstack"]:
            spec = collection_module_spec(parts[2])
        elif parts[:2] == ["ansible", "builtin"] or len(parts) == 1:
            spec = capture_spec(f"ansible.modules.{parts[-1]}")
        elif len(parts) == 3:
            spec = capture_spec(f"ansible_collections.{parts[0]}.{parts[1]}.plugins.modules.{parts[2]}")
    except (ImportError, AssertionError, SystemExit):
        spec = None
    _FQCN_SPECS[fqcn] = spec
    return spec


def secret_problems(spec, where):
    """Secret options of a (module or role) spec without no_log, suboptions included."""
    problems = []
    for name, raw in (spec or {}).items():
        option = raw or {}
        if SECRET_NAME.search(name) and option.get("type", "str") not in ("bool",) and option.get("no_log") is not True:
            problems.append(f"{where}: option '{name}' is not no_log")
        problems += secret_problems(option.get("options"), f"{where}.{name}")
    return problems


MODULES = sorted(path.stem for path in (ROOT / "plugins" / "modules").glob("*.py") if not path.name.startswith("_"))
ROLE_SPECS = sorted((ROOT / "roles").glob("*/meta/argument_specs.yml"))


def test_the_tree_has_modules_and_roles():
    assert MODULES and ROLE_SPECS


@pytest.mark.parametrize("name", MODULES)
def test_module_secret_options_are_no_log(name):
    assert secret_problems(collection_module_spec(name), f"plugins/modules/{name}.py") == []


def _role_secret_vars(spec_file):
    data = yaml.safe_load(spec_file.read_text()) or {}
    found = {}
    for entry, body in (data.get("argument_specs") or {}).items():
        for name, raw in ((body or {}).get("options") or {}).items():
            option = raw or {}
            if SECRET_NAME.search(name) and option.get("type", "str") != "bool":
                found.setdefault(name, []).append((entry, option))
    return found


def _derived_secret_vars(role_dir, names):
    """Variables of vars/ and defaults/ whose value mentions a secret variable, transitively."""
    values = {}
    for sub in ("vars", "defaults"):
        for path in (role_dir / sub).glob("*.yml"):
            for key, value in (yaml.safe_load(path.read_text()) or {}).items():
                values[key] = yaml.safe_dump(value)
    secrets = set(names)
    grew = True
    while grew:
        grew = False
        for key, text in values.items():
            if key not in secrets and any(re.search(rf"\b{re.escape(var)}\b", text) for var in secrets):
                secrets.add(key)
                grew = True
    return secrets


def _mentions(value, names):
    text = yaml.safe_dump(value)
    return any(re.search(rf"\b{re.escape(var)}\b", text) for var in names)


def _module_of(task):
    keys = [key for key in task if key not in TASK_KEYWORDS and not key.startswith("with_")]
    return keys[0] if keys else None


def _check_module_args(fqcn, args, names, where):
    """Problems when a secret appears in a module's args other than as the value of a no_log option."""
    if not isinstance(args, dict):
        return [f"{where}: '{fqcn}' gets a secret in free-form arguments"] if _mentions(args, names) else []
    if fqcn.split(".")[-1] == "container_module" and isinstance(args.get("args"), dict):
        inner = dict(args)
        inner_args = inner.pop("args")
        return _check_module_args(fqcn, inner, names, where) + _check_module_args(str(args.get("module")), inner_args, names, where)
    spec = spec_of_fqcn(fqcn)
    if spec is None:
        return [f"{where}: the spec of '{fqcn}' cannot be read, so a secret passed to it cannot be shown hidden"]
    problems = []
    for key, value in args.items():
        if not _mentions(value, names):
            continue
        option = spec.get(key)
        if option is None:
            for candidate in spec.values():
                if key in (candidate or {}).get("aliases", []):
                    option = candidate
        if not (option or {}).get("no_log"):
            problems.append(f"{where}: '{fqcn}' option '{key}' carries a secret and is not no_log in the module")
    return problems


def _walk(tasks, names, where, no_log=False):
    problems = []
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        label = f"{where}: task '{task.get('name', '?')}'"
        hidden = no_log or task.get("no_log") in (True, "true", "yes")
        if any(key in task for key in ("block", "rescue", "always")):
            for fqcn, args in (task.get("module_defaults") or {}).items():
                if not hidden:
                    problems += _check_module_args(fqcn, args, names, f"{label} (module_defaults)")
            rest = {key: value for key, value in task.items() if key not in ("block", "rescue", "always", "module_defaults", "name")}
            if not hidden and _mentions(rest, names):
                problems.append(f"{label}: the block's keywords carry a secret")
            for part in ("block", "rescue", "always"):
                problems += _walk(task.get(part), names, where, hidden)
            continue
        if hidden or not _mentions(task, names):
            continue
        module = _module_of(task)
        args = task.get(module)
        if isinstance(args, dict) and isinstance(task.get("args"), dict):
            args = {**task["args"], **args}
        others = {key: value for key, value in task.items() if key not in (module, "args", "name")}
        if _mentions(others, names):
            problems.append(f"{label}: a secret outside the module's options (vars, when, environment...) and the task is not no_log")
        problems += _check_module_args(module or "?", args, names, label)
    return problems


@pytest.mark.parametrize("spec_file", ROLE_SPECS, ids=lambda path: path.parent.parent.name)
def test_role_secret_options_are_no_log(spec_file):
    role_dir = spec_file.parent.parent
    secret_vars = _role_secret_vars(spec_file)
    problems = []
    for name, entries in secret_vars.items():
        for entry, option in entries:
            if option.get("no_log") is not True:
                problems.append(f"roles/{role_dir.name} entry point '{entry}': option '{name}' is not no_log")
    names = _derived_secret_vars(role_dir, secret_vars)
    if names:
        for path in sorted((role_dir / "tasks").glob("*.yml")):
            problems += _walk(yaml.safe_load(path.read_text()), names, f"roles/{role_dir.name}/tasks/{path.name}")
    assert problems == []


def test_the_rule_catches_a_leak():
    """The walker itself: a debug of a password, a command line with it, a module option not no_log."""
    names = {"x_password"}
    tasks = [
        {"name": "show", "ansible.builtin.debug": {"msg": "{{ x_password }}"}},
        {"name": "hidden", "ansible.builtin.debug": {"msg": "{{ x_password }}"}, "no_log": True},
        {"name": "fine", "opskit.webstack.postgres_backup_exec": {"argv": ["psql"], "login_password": "{{ x_password }}"}},
        {"name": "argv", "opskit.webstack.postgres_backup_exec": {"argv": ["psql", "{{ x_password }}"]}},
        {
            "name": "blk",
            "module_defaults": {"opskit.webstack.postgres_backup_exec": {"login_password": "{{ x_password }}"}},
            "block": [{"name": "inner", "ansible.builtin.command": {"argv": ["env"]}, "environment": {"P": "{{ x_password }}"}}],
        },
    ]
    problems = _walk(tasks, names, "t")
    assert any("task 'show'" in item for item in problems)
    assert not any("task 'hidden'" in item for item in problems)
    assert not any("task 'fine'" in item for item in problems)
    assert any("task 'argv'" in item for item in problems)
    assert not any("task 'blk' (module_defaults)" in item for item in problems)
    assert any("task 'inner'" in item for item in problems)
