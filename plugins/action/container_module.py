# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module inside a container of the target host's engine, with no Docker on the controller.

The module is built on the controller exactly as Ansible builds it for pipelining (an AnsiballZ
payload with the module's arguments inside), then sent over the host's normal connection (SSH, the
host's user, port, key, become and host key checking, all Ansible's own) to this command on the
target host::

    docker exec -i [--user USER] [-e NAME=VALUE ...] CONTAINER PYTHON

whose standard input is the payload: the container's Python runs the module, and its JSON result
comes back on standard output. Nothing is copied into the container, no temporary file is left on
the host, and the module's arguments (secrets included) never appear on a command line.

Why not the community.docker.docker connection: it runs the docker CLI on the controller, so the
controller needs that CLI and, for a remote host, an engine URL of its own (``-H ssh://...``) with its
own SSH set-up (known_hosts, keys, port) that knows nothing of Ansible's. Here the controller needs
nothing beyond Ansible, and the container is always the one of the host the task runs for.
"""

from __future__ import annotations

import re
import shlex
import typing as t

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.vars.clean import remove_internal_keys

ARGUMENT_SPEC: dict[str, t.Any] = {
    "container": {"type": "str", "required": True},  # "" runs the module on the target host itself
    "module": {"type": "str", "required": True},
    "args": {"type": "dict", "default": {}},
    "python": {"type": "str", "default": "/usr/bin/python3"},
    "user": {"type": "str", "default": ""},
    "docker": {"type": "str", "default": "docker"},
}

# Where the module may create a temporary directory inside the container, should it need one (the
# AnsiballZ wrapper itself unpacks into the system temporary directory, /tmp).
CONTAINER_REMOTE_TMP = "/tmp"  # noqa: S108 - inside the container, for the module's own mkdtemp


def build_exec_command(
    docker: str, container: str, python: str, user: str = "", env: dict[str, t.Any] | None = None
) -> str:
    """The shell command, run on the target host, that feeds standard input to the container's Python."""
    argv = [docker, "exec", "-i"]
    if user:
        argv += ["--user", user]
    for name, value in sorted((env or {}).items()):
        argv += ["-e", f"{name}={value}"]
    argv += [container, python]
    return " ".join(shlex.quote(str(a)) for a in argv)


# (pattern of the stderr of `docker exec`, message); the first match wins.
_EXEC_FAILURES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"No such container", re.I), "container {container!r} does not exist on the engine of {host}"),
    (re.compile(r"is not running|is paused|is restarting", re.I), "container {container!r} on {host} is not running ({detail})"),
    (
        re.compile(r"permission denied.*docker(\.sock| daemon)|docker daemon socket.*permission denied", re.I),
        "the user on {host} may not use the Docker engine ({detail}); add it to the docker group or set become",
    ),
    (re.compile(r"Cannot connect to the Docker daemon|Is the docker daemon running", re.I), "the Docker engine of {host} does not answer ({detail})"),
    (
        re.compile(r"(OCI runtime exec failed|executable file not found|exec failed|no such file or directory)", re.I),
        "no Python at {python!r} inside container {container!r} on {host} ({detail}); set python to the container's interpreter",
    ),
)


def classify_exec_failure(rc: int, stdout: str, stderr: str, *, docker: str, container: str, python: str, host: str) -> str | None:
    """A clear message when `docker exec` itself failed (the module never ran), else None."""
    if stdout.lstrip().startswith("{"):
        return None  # the module answered (its result may say it failed: that is the module's word)
    # docker prints the runtime's own errors ("OCI runtime exec failed") on standard output.
    said = "\n".join(part.strip() for part in (stderr, stdout) if part.strip())
    detail = " ".join(said.splitlines()[-3:]) or f"rc={rc}"
    if rc == 127 and re.search(rf"{re.escape(docker)}[^\n]*(not found|No such file)", said):
        return f"the container CLI {docker!r} was not found on {host} ({detail}); install the Docker CLI there"
    for pattern, message in _EXEC_FAILURES:
        if pattern.search(said):
            return message.format(container=container, python=python, host=host, detail=detail)
    return None


class ActionModule(ActionBase):
    """opskit.webstack.container_module: see plugins/modules/container_module.py for the documentation."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp

        if self._task.async_val:
            raise AnsibleActionFail("opskit.webstack.container_module does not run asynchronously (async/poll)")
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        module_name = params["module"]
        module_args = dict(params["args"] or {})
        container = params["container"]
        if module_name.split(".")[-1] == "container_module":
            raise AnsibleActionFail("container_module cannot run itself")
        if not container:
            # On the target host itself, as if the task called the module: lets a role switch
            # between a host and a container target with one task.
            result.update(self._execute_module(module_name=module_name, module_args=module_args, task_vars=task_vars))
            return result

        host = task_vars.get("inventory_hostname", "the target host")
        become = self._connection.become
        if become and self._play_context.become and not getattr(become, "pipelining", True):
            raise AnsibleActionFail(
                f"the become method {become.name!r} cannot pass the module on standard input; use sudo (or no become) for this task"
            )

        # The module is built as for pipelining, with the container's Python as its interpreter (no
        # interpreter discovery on the host: the module does not run there).
        module_vars = self._vars_with_interpreter(task_vars, params["python"])
        self._update_module_args(module_name, module_args, module_vars)
        module_args.update(
            _ansible_tmpdir=None,
            _ansible_remote_tmp=CONTAINER_REMOTE_TMP,
            _ansible_socket=None,
            _ansible_shell_executable="/bin/sh",
        )
        built, module_path = self._configure_module(module_name=module_name, module_args=module_args, task_vars=module_vars)
        if built.module_style != "new":
            raise AnsibleActionFail(
                f"{module_name} ({module_path}) is not a Python module of the AnsiballZ kind (style {built.module_style!r}): "
                "only those can run inside a container"
            )
        self._used_interpreter = "#!" + params["python"]

        environment: dict[str, t.Any] = {}
        self._compute_environment_string(environment)
        cmd = build_exec_command(params["docker"], container, params["python"], params["user"], environment)
        res = self._low_level_execute_command(cmd, sudoable=True, in_data=built.b_module_data)

        failure = classify_exec_failure(
            res["rc"], res.get("stdout", ""), res.get("stderr", ""),
            docker=params["docker"], container=container, python=params["python"], host=host,
        )
        if failure:
            result.update(failed=True, msg=f"Failed to run {module_name} in a container: {failure}", rc=res["rc"],
                          container=container, module_stdout=res.get("stdout", ""), module_stderr=res.get("stderr", ""))
            return result

        data = self._parse_returned_data(res, built.serialization_profile)
        if not data.pop("_ansible_parsed", False):
            data["failed"] = True
            data["msg"] = (
                f"Failed to run {module_name} in container {container!r} on {host}: no module result on standard output "
                f"(rc={res['rc']}). {to_text(data.get('msg', ''))}".strip()
            )
        remove_internal_keys(data)
        # The discovered interpreter of a module run in a container is no fact of the host.
        facts = data.get("ansible_facts")
        if isinstance(facts, dict):
            for key in [k for k in facts if k.startswith("discovered_interpreter_")]:
                del facts[key]
        if "stdout" in data and "stdout_lines" not in data:
            data["stdout_lines"] = (data.get("stdout") or "").splitlines()
        if "stderr" in data and "stderr_lines" not in data:
            data["stderr_lines"] = (data.get("stderr") or "").splitlines()
        result.update(data)
        return result

    def _vars_with_interpreter(self, task_vars: dict[str, t.Any], python: str) -> dict[str, t.Any]:
        """A copy of the task's variables whose Python interpreter is the container's."""
        module_vars = dict(task_vars)
        module_vars["ansible_python_interpreter"] = python
        if self._task.delegate_to:
            delegated = dict(module_vars.get("ansible_delegated_vars") or {})
            target = dict(delegated.get(self._task.delegate_to) or {})
            target["ansible_python_interpreter"] = python
            delegated[self._task.delegate_to] = target
            module_vars["ansible_delegated_vars"] = delegated
        return module_vars
