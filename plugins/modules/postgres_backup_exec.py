#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postgres_backup_exec
short_description: Run a PostgreSQL client tool where the database is, the password kept out of sight
version_added: 0.2.0
description:
  - Runs C(pg_dump), C(pg_dumpall), C(pg_restore), C(psql) (or any command) inside the database's
    container (C(docker exec) on the target host's engine) or on the target host, the one way the
    R(opskit.webstack.postgres_backup,ansible_collections.opskit.webstack.postgres_backup_role) and
    R(opskit.webstack.postgres_restore,ansible_collections.opskit.webstack.postgres_restore_role) roles
    run them.
  - The connection goes in C(PGHOST), C(PGPORT) and C(PGUSER). The password goes through standard
    input into a PGPASSFILE in a private temporary directory (umask 077) that is removed when the tool
    ends; it is never on a command line, in an environment variable or in the output.
  - When the run is interrupted (Ctrl-C, a killed C(ansible-playbook) or SSH session, a signal to this
    module, the O(timeout)), the tool is stopped (SIGTERM, then SIGKILL), waited for, and the password
    file removed. No C(pg_dump) is left running.
author:
  - opskit maintainers (@opskit)
options:
  argv:
    description: The tool and its arguments (connection options are not needed, see O(login_host)).
    type: list
    elements: str
    required: true
  mode:
    description: Run inside the container O(container) (V(container)) or on the target host (V(host)).
    type: str
    choices: [container, host]
    default: container
  container:
    description: The database's container (name or id) on the target host's engine. Required with O(mode=container).
    type: str
  exec_user:
    description: User the tool runs as inside the container.
    type: str
    default: postgres
  login_host:
    description: Host or socket directory to connect to (C(PGHOST)); empty for the default socket.
    type: str
    default: ""
  login_port:
    description: Port (C(PGPORT)).
    type: int
    default: 5432
  login_user:
    description: Role to connect as (C(PGUSER)).
    type: str
    default: postgres
  login_password:
    description: Its password; empty for peer or trust authentication.
    type: str
    default: ""
  environment:
    description: More environment of the tool, for example C(PGOPTIONS). Not for secrets.
    type: dict
    default: {}
  stdin:
    description: Standard input of the tool.
    type: str
    default: ""
  timeout:
    description: Seconds the tool may run before it is stopped; 0 for no limit.
    type: int
    default: 0
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: none
    details: The tool is not run in check mode (use C(check_mode=false) on a task that only reads).
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - The container needs a POSIX C(sh), C(mktemp) and C(head) (every Debian or Alpine based PostgreSQL image has them).
seealso:
  - module: opskit.webstack.postgres_backup_store
  - module: community.postgresql.postgresql_query
"""

EXAMPLES = r"""
- name: Count the orders inside the db container, with a password
  opskit.webstack.postgres_backup_exec:
    container: webstack-db-1
    login_host: 127.0.0.1
    login_user: backup
    login_password: "{{ vault_backup_password }}"
    argv: [psql, -XAtq, --dbname, shop, -c, SELECT count(*) FROM orders]
  register: __orders
  changed_when: false
  check_mode: false
"""

RETURN = r"""
rc:
  description: Exit status of the tool (143 or 137 when it was stopped).
  returned: always
  type: int
  sample: 0
stdout:
  description: Its standard output.
  returned: always
  type: str
  sample: "42"
stdout_lines:
  description: Its standard output, line by line.
  returned: always
  type: list
  elements: str
  sample: ["42"]
stderr:
  description: Its standard error.
  returned: always
  type: str
  sample: ""
stderr_lines:
  description: Its standard error, line by line.
  returned: always
  type: list
  elements: str
  sample: []
cmd:
  description: The tool's argv (as given; the password is never part of it).
  returned: always
  type: list
  elements: str
  sample: [psql, -XAtq, --dbname, shop]
delta:
  description: How long the tool ran.
  returned: always
  type: str
  sample: "0:00:01.250000"
stopped:
  description: Why the tool was stopped before it ended by itself (timeout, signal, the run gone), or null.
  returned: always
  type: str
  sample: null
"""

import datetime
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.opskit.webstack.plugins.module_utils import _pgbackup as store
from ansible_collections.opskit.webstack.plugins.module_utils import _pgclient as client


def main():
    module = AnsibleModule(
        argument_spec={
            "argv": {"type": "list", "elements": "str", "required": True},
            "mode": {"type": "str", "choices": ["container", "host"], "default": "container"},
            "container": {"type": "str"},
            "exec_user": {"type": "str", "default": "postgres"},
            "login_host": {"type": "str", "default": ""},
            "login_port": {"type": "int", "default": 5432},
            "login_user": {"type": "str", "default": "postgres"},
            "login_password": {"type": "str", "default": "", "no_log": True},
            "environment": {"type": "dict", "default": {}},
            "stdin": {"type": "str", "default": ""},
            "timeout": {"type": "int", "default": 0},
        },
        required_if=[("mode", "container", ["container"])],
        supports_check_mode=False,
    )
    params = module.params
    tool = params["argv"][0] if params["argv"] else "?"
    try:
        env = client.connection_env(params["login_host"], params["login_port"], params["login_user"], params["environment"])
        password = client.pgpass_line(params["login_user"], params["login_password"]) if params["login_password"] else ""
        docker = module.get_bin_path("docker", required=params["mode"] == "container") or "docker"
        argv, process_env = client.build_command(params["mode"], params["argv"], env, params["container"], params["exec_user"], docker=docker)
    except client.ClientError as exc:
        module.fail_json(msg=f"Failed to run {tool}: {exc}", rc=None, cmd=params["argv"])
    holder = store.find_holder()
    run = client.Run(
        argv,
        process_env,
        client.build_input(password, params["stdin"]),
        timeout=params["timeout"],
        alive=(lambda: store.holder_alive(holder)) if holder else None,
    )
    started = datetime.datetime.now()
    begin = time.monotonic()
    try:
        run.start()
    except client.ClientError as exc:
        module.fail_json(msg=f"Failed to run {tool}: {exc}", rc=None, cmd=params["argv"])
    client.install_stop_handlers(run)
    rc, out, err, stopped = run.wait()
    out, err = to_text(out, errors="surrogate_or_replace"), to_text(err, errors="surrogate_or_replace")
    result = {
        "changed": True,
        "rc": rc,
        "stdout": out.rstrip("\n"),
        "stderr": err.rstrip("\n"),
        "stdout_lines": out.splitlines(),
        "stderr_lines": err.splitlines(),
        "cmd": params["argv"],
        "start": str(started),
        "end": str(datetime.datetime.now()),
        "delta": str(datetime.timedelta(seconds=time.monotonic() - begin)),
        "stopped": stopped,
    }
    if stopped:
        module.fail_json(msg=f"Failed to run {tool}: stopped ({stopped}); the tool was ended and its password file removed", **result)
    if rc != 0:
        module.fail_json(msg=f"Failed to run {tool}: exit code {rc}: {err.strip()[-2000:] or out.strip()[-500:]}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
