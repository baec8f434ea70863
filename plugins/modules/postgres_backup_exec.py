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
  - Where the database has no container on the target host (a managed database reached over TCP) and the
    host has no client tools, O(mode=client_container) runs the tool in a one-off container of a PostgreSQL
    client image on the target host (C(docker run --rm -i --network host)). The image is the one of the
    lowest PostgreSQL major that is not older than the server's (pg_dump must be at least the server's
    major), chosen among the images of O(client_image_repository) present on the host, unless
    O(client_image) names one.
  - The tool's standard output can go to a file on the target host (O(output_file)) and a file or a
    directory (as a tar) on the target host can be streamed into its standard input (O(input_path)), for a
    dump streamed out of a database container that mounts no backup directory, and back in.
  - When the run is interrupted (Ctrl-C, a killed C(ansible-playbook) or SSH session, a signal to this
    module, the O(timeout)), the tool is stopped (SIGTERM, then SIGKILL), waited for, and the password
    file removed. No C(pg_dump) is left running.
author:
  - opskit maintainers (@opskit)
options:
  argv:
    description:
      - The tool and its arguments (connection options are not needed, see O(login_host)).
      - One of O(argv) and O(steps) is required.
    type: list
    elements: str
  steps:
    description:
      - Several tools run one after the other in this one module call (one Ansible round trip), each
        under the same wrapper as O(argv) (its own PGPASSFILE, removed when it ends; stopped when the run
        is interrupted). The first that fails ends the call; the steps after it are not run.
      - Each step's options not given here are the module's (O(exec_user), O(timeout)).
    type: list
    elements: dict
    suboptions:
      name:
        description: What the step does, named in RV(failed_step) and in the failure's message.
        type: str
        required: true
      argv:
        description: The tool and its arguments.
        type: list
        elements: str
        required: true
      exec_user:
        description: User the tool runs as inside the container, instead of O(exec_user).
        type: str
      connect:
        description: V(false) for a step that is no PostgreSQL client (C(install), C(gzip --test)); no password is passed to it.
        type: bool
        default: true
      output_file:
        description: As O(output_file), for this step.
        type: path
      input_path:
        description: As O(input_path), for this step.
        type: path
      timeout:
        description: As O(timeout), for this step.
        type: int
      background:
        description:
          - Start the step and run the next one at once, beside it (a small read beside a long dump). It is waited
            for before the call ends, and its failure fails the call. Steps after it must not need its result.
        type: bool
        default: false
      export_snapshot:
        description:
          - This step is a C(psql) session that holds a snapshot for the steps with O(steps[].use_snapshot=true) - it
            begins a repeatable-read, read-only transaction and exports its snapshot (C(pg_export_snapshot())) at once, the
            next step starting as soon as the snapshot is known. Once the last step using it has ended, this SQL runs in
            the same transaction, and the transaction ends. Its output follows the snapshot's name (the first line).
          - Like O(steps[].background=true), the session is waited for before the call ends and its failure fails the call.
          - The row counts of a backup taken this way are those of the dump, whatever was written meanwhile.
        type: str
      use_snapshot:
        description:
          - Run the tool in the snapshot exported by an earlier step's O(steps[].export_snapshot) (C(--snapshot=<name>)
            after the tool's name, as C(pg_dump) takes it).
        type: bool
        default: false
  backup:
    description:
      - Read a backup store as M(opskit.webstack.postgres_backup_info) does, in this same call, while the tools run
        (RV(backup_info)) - the backups, the one selected (O(backup.name), or the latest) and, with
        O(backup.verify=true), its files checked against its manifest. Nothing in the store is changed.
    type: dict
    suboptions:
      path:
        description: The database's backup store, C(<backup_dir>/<database>).
        type: path
        required: true
      name:
        description: The backup to select; the one marked C(latest) when omitted.
        type: str
      verify:
        description: Check the selected backup's files against its manifest (sizes and sha256).
        type: bool
        default: false
  lock:
    description:
      - Before the first tool, take the lock of a backup store as O(opskit.webstack.postgres_backup_store#module:action=lock) does
        (then, with O(lock.database_size), check the room; with O(lock.name), create the partial backup's directory), in
        this same call. No tool runs unless the lock is held. The lock is not given back when a tool fails (the caller
        cleans up and unlocks); O(commit) with O(commit.unlock=true) gives it back.
      - A lock held by another run fails the call with C(busy) true in RV(store_lock) and that run's record in its C(lock).
    type: dict
    suboptions:
      path:
        description: The database's backup store, C(<backup_dir>/<database>).
        type: path
        required: true
      owner:
        description: Who holds the lock (a run id).
        type: str
        required: true
      stale_after:
        description: Seconds after which a lock left by a dead run is taken over.
        type: int
        default: 86400
      controller:
        description: The run's C(ansible-playbook) on the controller, recorded in the lock (see M(opskit.webstack.postgres_backup_store)).
        type: dict
      takeover:
        description: Take over the lock held by this owner (its run is known to be gone).
        type: str
      database_size:
        description: The database's size in bytes; the room for the next backup is checked once the lock is held.
        type: int
      name:
        description: The backup this run writes; its C(<name>.partial) directory is created (0700) once the lock is held.
        type: str
  commit:
    description:
      - After every tool succeeded, in this same call, as O(opskit.webstack.postgres_backup_store#module:action=commit) does on
        O(commit.path) - seal C(<name>.partial) with a manifest of O(commit.metadata) and its files' sha256 and sizes, verify
        and promote it, mark it latest; with O(commit.prune=true) apply the retention; with O(commit.unlock=true) give back
        the lock of O(commit.owner).
      - The manifest's C(started_at) and C(duration_seconds) run from the O(lock) (or the call's start) to the seal.
      - Its C(row_counts) are the JSON C(row_counts) printed by the step O(commit.row_counts_step) (its last line); with
        O(commit.snapshot_step), only when that step printed O(commit.snapshot) first (the snapshot unchanged across the
        dump), else null. Its C(toc_entries) are the entries the step O(commit.list_step) listed (C(pg_restore --list)).
    type: dict
    suboptions:
      path:
        description: The database's backup store.
        type: path
        required: true
      name:
        description: The backup, without C(.partial).
        type: str
        required: true
      owner:
        description: Who holds the lock, with O(commit.unlock=true).
        type: str
      unlock:
        description: Give back the lock of O(commit.owner) once the backup is good.
        type: bool
        default: false
      prune:
        description: Apply the retention once the backup is good.
        type: bool
        default: false
      keep_daily:
        description: Days of daily backups kept.
        type: int
        default: 7
      keep_weekly:
        description: Weeks of weekly backups kept.
        type: int
        default: 4
      keep_monthly:
        description: Months of monthly backups kept.
        type: int
        default: 6
      keep_referenced_by:
        description: Directories of release records; a backup a record names is never deleted.
        type: list
        elements: path
        default: []
      metadata:
        description: What the manifest records besides the files.
        type: dict
        default: {}
      row_counts_step:
        description: The step whose standard output ends with a JSON object with C(row_counts) (its last line).
        type: str
      snapshot_step:
        description: The step whose standard output starts with the snapshot the row counts were taken in (its first line; it may be O(commit.row_counts_step)).
        type: str
      snapshot:
        description: The snapshot before the dump.
        type: str
      list_step:
        description: The step that listed the dump's entries (C(pg_restore --list)).
        type: str
  mode:
    description:
      - Run inside the container O(container) (V(container)), on the target host (V(host)), or in a one-off
        container of a PostgreSQL client image on the target host (V(client_container)).
    type: str
    choices: [container, host, client_container]
    default: container
  container:
    description:
      - The database's container (name or id) on the target host's engine.
      - With O(mode=container), this or O(compose_project) is required.
    type: str
  compose_project:
    description:
      - With O(mode=container) and no O(container), the Compose project whose running container of O(compose_service)
        is the database, found in the same call (RV(container)); the call fails when there is none.
    type: str
  compose_service:
    description: The database's Compose service, with O(compose_project).
    type: str
    default: db
  container_dir:
    description: With O(mode=container), a directory whose mount inside the container RV(container_mounted) tells.
    type: path
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
    description: Its password; empty for peer or trust authentication (or O(login_password_env)).
    type: str
    default: ""
  login_password_env:
    description:
      - When O(login_password) is empty, the name of an environment variable that holds the password where
        the tool runs, for example C(POSTGRES_PASSWORD) of the database's container (a C(docker exec) process
        has the container's environment). The wrapper reads it there into the private PGPASSFILE; the
        password never passes through Ansible.
    type: str
    default: ""
  client_image:
    description: With O(mode=client_container), the client image; empty to choose it (see O(client_image_repository)).
    type: str
    default: ""
  client_image_repository:
    description:
      - With O(mode=client_container) and no O(client_image), the repository whose images present on the
        target host are candidates; their tags name the PostgreSQL major (C(15), C(17.2), C(16-bookworm)).
        Nothing is pulled.
    type: str
    default: postgres
  client_network:
    description: With O(mode=client_container), the client container's network (V(host) reaches what the host reaches).
    type: str
    default: host
  client_mounts:
    description: With O(mode=client_container), host directories bound into the client container at the same path.
    type: list
    elements: path
    default: []
  client_user:
    description: With O(mode=client_container), the user (C(uid:gid)) the client container runs as; empty for this module's.
    type: str
    default: ""
  output_file:
    description:
      - A file on the target host that receives the tool's standard output (created 0600, replaced);
        RV(stdout) is then empty.
    type: path
  input_path:
    description:
      - A file on the target host streamed into the tool's standard input, or a directory sent as an
        uncompressed tar stream (its regular files and directories). Not together with O(stdin).
    type: path
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
  - The container needs a POSIX C(sh), C(mktemp), C(mkfifo), C(head), C(cat) and C(sed) (every Debian or Alpine
    based PostgreSQL image has them).
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

- name: Stream a custom-format dump out of a container that mounts no backup directory
  opskit.webstack.postgres_backup_exec:
    container: shop-db-1
    login_password_env: POSTGRES_PASSWORD
    login_user: shop
    argv: [pg_dump, --format=custom, --dbname, shop]
    output_file: /var/backups/postgres/shop/shop-20260101T020000Z.partial/dump.pgdump
  changed_when: true

- name: Create the dump's directory as root, then dump and read the dump back, in one call
  opskit.webstack.postgres_backup_exec:
    container: shop-db-1
    login_password_env: POSTGRES_PASSWORD
    login_user: shop
    steps:
      - {name: directory, exec_user: root, connect: false, argv: [install, -d, -m, "0700", -o, postgres, /backups/shop/run.partial]}
      - {name: pg_dump, argv: [pg_dump, --format=directory, --file=/backups/shop/run.partial/dump, --dbname, shop]}
      - {name: read back, argv: [pg_restore, --list, /backups/shop/run.partial/dump]}
  register: __dump
  changed_when: true

- name: Dump a managed database with a client container of the right major on the target host
  opskit.webstack.postgres_backup_exec:
    mode: client_container
    client_image_repository: postgres
    client_mounts: [/var/backups/postgres/shop]
    login_host: shop.db.example.org
    login_user: shop
    login_password: "{{ vault_shop_db_password }}"
    argv: [pg_dump, --format=directory, --jobs=2, --file=/var/backups/postgres/shop/shop-20260101T020000Z.partial/dump, --dbname, shop]
  changed_when: true
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
output_bytes:
  description: With O(output_file), how many bytes the tool wrote there.
  returned: when O(output_file) is given
  type: int
  sample: 1048576
client_image:
  description: With O(mode=client_container), the image the tool ran in.
  returned: when O(mode=client_container)
  type: str
  sample: postgres:15
stopped:
  description: Why the tool was stopped before it ended by itself (timeout, signal, the run gone), or null.
  returned: always
  type: str
  sample: null
container:
  description: With O(mode=container), the container the tools ran in (O(container), or the one found with O(compose_project)).
  returned: when O(mode=container)
  type: str
  sample: shop-db-1
container_mounted:
  description: With O(container_dir), whether the container mounts a directory there.
  returned: when O(container_dir) is given
  type: bool
  sample: true
steps:
  description:
    - With O(steps), each step that ran, in order, with its C(name), C(rc), C(stdout), C(stdout_lines),
      C(stderr), C(delta), C(stopped) and C(output_bytes) (with its O(steps[].output_file)).
    - The top-level RV(rc), RV(stdout), RV(stderr), RV(cmd) and RV(stopped) are the last step's (the one that failed).
  returned: when O(steps) is given
  type: list
  elements: dict
  sample: [{"name": "pg_dump", "rc": 0, "stdout": "", "stderr": "", "delta": "0:00:12.500000"}]
backup_info:
  description:
    - With O(backup), what M(opskit.webstack.postgres_backup_info) returns of the store - C(backups), C(latest),
      C(backup) (the one selected, with C(valid) and C(problems) when verified, or null), C(partials), C(lock).
  returned: when O(backup) is given
  type: dict
  sample: {"latest": "shop-20260101T020000Z", "backup": {"name": "shop-20260101T020000Z", "valid": true, "problems": []}}
store_lock:
  description:
    - With O(lock), what the lock did, as O(opskit.webstack.postgres_backup_store#module:action=lock) returns it - C(changed)
      (taken by this call), C(busy), C(lock) (the record; the holder's when busy), C(latest), C(room), C(partial_path).
  returned: when O(lock) is given
  type: dict
  sample: {"changed": true, "busy": false, "latest": "shop-20260101T020000Z", "lock": {"owner": "run-1"}}
store_commit:
  description:
    - With O(commit), what the commit did, as O(opskit.webstack.postgres_backup_store#module:action=commit) returns it -
      C(backup_path), C(manifest), C(committed), C(unlocked), C(pruned).
  returned: when O(commit) is given and every step succeeded
  type: dict
  sample: {"backup_path": "/var/backups/webstack/shop/shop-20260101T020000Z", "committed": true, "unlocked": true}
committed:
  description: With O(commit), whether the backup was promoted (V(true) also when only its retention or unlock failed).
  returned: when O(commit) is given
  type: bool
  sample: true
failed_step:
  description: With O(steps), the name of the step that failed, or null.
  returned: when O(steps) is given
  type: str
  sample: globals
"""

import datetime
import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.opskit.webstack.plugins.module_utils import _pgbackup as store
from ansible_collections.opskit.webstack.plugins.module_utils import _pgclient as client
from ansible_collections.opskit.webstack.plugins.module_utils._beside import Beside


def _dbname(argv):
    """The database the tool connects to (for the version probe), from its --dbname / -d, else postgres."""
    for index, arg in enumerate(argv[:-1]):
        if arg in ("--dbname", "-d", "--database"):
            return argv[index + 1]
    for arg in argv:
        if arg.startswith("--dbname="):
            return arg.split("=", 1)[1]
    return "postgres"


class Runner:
    """Builds and runs one tool under the wrapper, with this module's parameters."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        params = self.params
        self.env = client.connection_env(params["login_host"], params["login_port"], params["login_user"], params["environment"])
        self.password = client.pgpass_line(params["login_user"], params["login_password"]) if params["login_password"] else ""
        if not self.password and params["login_password_env"]:
            self.env["OPSKIT_PASSWORD_ENV"] = params["login_password_env"]
        self.docker = module.get_bin_path("docker", required=params["mode"] != "host") or "docker"
        self.image = params["client_image"] or None
        self.holder = store.find_holder()
        self.active = []

    def command(self, argv, exec_user=None, connect=True):
        params = self.params
        env = self.env if connect else {key: value for key, value in self.env.items() if key != "OPSKIT_PASSWORD_ENV"}
        return client.build_command(
            params["mode"], argv, env, params["container"], exec_user or params["exec_user"], docker=self.docker, image=self.image,
            network=params["client_network"], mounts=params["client_mounts"],
            run_user=params["client_user"] or f"{os.getuid()}:{os.getgid()}",
            name=f"opskit-pgclient-{os.getpid()}-{time.monotonic_ns()}",
        )

    def stop(self, reason):
        """Stop every tool this call is running (a signal to the module: install_stop_handlers)."""
        for run in self.active:
            run.stop(reason)

    def begin(self, step):
        """Start one tool (O(argv) or one of O(steps)); a handle for finish()."""
        connect = step.get("connect", True)
        password = self.password if connect else ""
        data = client.build_input(password, self.params["stdin"] if step is self.params else "")
        stream = None
        output = None
        if step.get("input_path") or step.get("export_snapshot"):
            stream = client.SnapshotSession(step["export_snapshot"]) if step.get("export_snapshot") else client.InputStream(step["input_path"])
            self.env["OPSKIT_STREAM_IN"] = "2" if step.get("export_snapshot") else "1"
            data = client.build_input(password, length=stream.length)
        else:
            self.env.pop("OPSKIT_STREAM_IN", None)
        timeout = step.get("timeout")
        try:
            if step.get("output_file"):
                output = os.fdopen(os.open(step["output_file"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
            command, process_env = self.command(step["argv"], step.get("exec_user"), connect)
            run = client.Run(
                command, process_env, data, timeout=self.params["timeout"] if timeout is None else timeout,
                alive=(lambda: store.holder_alive(self.holder)) if self.holder else None, input_stream=stream, output=output,
            )
            started = datetime.datetime.now()
            begin = time.monotonic()
            run.start()
        except BaseException:
            if output is not None:
                output.close()
            raise
        self.active.append(run)
        client.install_stop_handlers(self)
        return {"step": step, "run": run, "output": output, "started": started, "begin": begin, "stream": stream}

    @staticmethod
    def exported_snapshot(handle):
        """The snapshot an O(steps[].export_snapshot) session exported (its first line), once it has;
        None when the session ended (or was stopped) first."""
        run = handle["run"]
        while True:
            out = run.peek()
            if b"\n" in out:
                return out.split(b"\n", 1)[0].decode("ascii", "replace").strip() or None
            if run.proc.poll() is not None or run.stopped():
                return None
            time.sleep(0.01)

    def finish(self, handle):
        """Wait for a tool begin() started; its result, as this module returns it."""
        step = handle["step"]
        try:
            rc, out, err, stopped = handle["run"].wait()
        finally:
            if handle["output"] is not None:
                handle["output"].close()
        out, err = to_text(out, errors="surrogate_or_replace"), to_text(err, errors="surrogate_or_replace")
        result = {
            "rc": rc,
            "stdout": out.rstrip("\n"),
            "stderr": err.rstrip("\n"),
            "stdout_lines": out.splitlines(),
            "stderr_lines": err.splitlines(),
            "cmd": step["argv"],
            "start": str(handle["started"]),
            "end": str(datetime.datetime.now()),
            "delta": str(datetime.timedelta(seconds=time.monotonic() - handle["begin"])),
            "stopped": stopped,
        }
        if step.get("output_file"):
            result["output_bytes"] = os.path.getsize(step["output_file"])
        return result

    def choose_image(self, argv):
        """The client image: the given one, else the lowest major >= the server's among the host's images."""
        if self.image:
            return
        repository = self.params["client_image_repository"]
        rc, out, err = self.module.run_command([self.docker, "image", "ls", repository, "--format", "{{.Tag}}"])
        if rc != 0:
            raise client.ClientError(f"cannot list the images of {repository}: {err.strip()}")
        tags = [tag for tag in out.split() if tag and tag != "<none>"]
        self.image = client.highest_client_image(repository, tags)
        if not self.image:
            raise client.ClientError(
                f"no image of {repository} with a PostgreSQL major as its tag on this host (found: {', '.join(tags) or 'none'}); "
                f"build or load one (e.g. {repository}:17), or set client_image"
            )
        probe = ["psql", "-XAtq", "--no-password", "--dbname", _dbname(argv), "-c", "SHOW server_version_num"]
        probed = self.finish(self.begin({"name": None, "argv": probe, "timeout": 120}))
        text = probed["stdout"].strip()
        if probed["stopped"] or probed["rc"] != 0 or not text.isdigit():
            raise client.ClientError(
                f"cannot read the server's version with {self.image}: {probed['stderr'].strip()[-1000:] or probed['stopped'] or text}"
            )
        major = int(text) // 10000
        chosen = client.pick_client_image(repository, tags, major)
        if not chosen:
            raise client.ClientError(
                f"the server is PostgreSQL {major} and this host has no {repository} image of major {major} or newer "
                f"(found: {', '.join(tags)}); pg_dump must be at least the server's major: build or load {repository}:{major}"
            )
        self.image = chosen


def find_container(module):
    """With O(compose_project) or O(container_dir): the container found, set as O(container); with
    O(container_dir), its mount read beside the tools (a Beside: join() it, then its ``value``)."""
    params = module.params
    if params["mode"] != "container" or not (params["compose_project"] or params["container_dir"]):
        return None
    docker = module.get_bin_path("docker", required=True)
    located = client.locate_container(
        module, docker, container=params["container"], project=params["compose_project"], service=params["compose_service"],
    )
    if not located["name"]:
        module.fail_json(
            msg=f"No running container of service '{params['compose_service']}' in Compose project '{params['compose_project']}'"
            " on this host: start the stack first."
        )
    params["container"] = located["name"]
    if not params["container_dir"]:
        return None
    return Beside(f"read the mounts of container {located['name']}", client.mounted_at, module, docker, located["name"], params["container_dir"])


class HeldSnapshot:
    """The snapshot an O(steps[].export_snapshot) session exports, given to the steps with
    O(steps[].use_snapshot=true); the session is let go once the last of them has ended."""

    def __init__(self, steps):
        users = [index for index, step in enumerate(steps) if step.get("use_snapshot")]
        self.last_user = users[-1] if users else -1
        self.snapshot = None
        self.session = None

    def step(self, step):
        """The step to run: with the snapshot after its tool's name when it uses it."""
        if not step.get("use_snapshot"):
            return step
        if self.snapshot is None:
            raise client.ClientError("no step before it exported a snapshot (steps[].export_snapshot)")
        return dict(step, argv=[*step["argv"][:1], f"--snapshot={self.snapshot}", *step["argv"][1:]])

    def exported(self, index, handle):
        """Wait for the session's snapshot; False when the session ended first (it failed)."""
        self.snapshot, self.session = Runner.exported_snapshot(handle), handle["stream"]
        if self.snapshot is not None and self.last_user < index:
            self.session.release()
        return self.snapshot is not None

    def ended(self, index):
        if self.session is not None and index == self.last_user:
            self.session.release()


def run_steps(module, locked=None):
    """Run O(argv), or O(steps) until one fails: (its tool's label, its result, every step's result, the runner).

    A step with O(steps[].background=true) is started and the next one run at once; it is waited for
    before the call ends (or when a later step fails: nothing is left running), and its failure fails the call.
    """
    params = module.params
    steps = params["steps"]
    if steps is None:
        steps = [dict(params, name=None, connect=True)]
    results = [None] * len(steps)
    pending = []
    failed = None
    tool = "?"
    step = steps[0]

    def label(step):
        return f"{step['argv'][0] if step['argv'] else '?'}" + (f" ({step['name']})" if step["name"] else "")

    try:
        tool = label(step)
        runner = Runner(module)
        if params["mode"] == "client_container":
            runner.choose_image(next((step["argv"] for step in steps if step.get("connect", True)), steps[0]["argv"]))
        held = HeldSnapshot(steps)
        for index, step in enumerate(steps):
            tool = label(step)
            handle = runner.begin(params if params["steps"] is None else held.step(step))
            if step.get("export_snapshot") or step.get("background"):
                pending.append((index, handle))
                if step.get("export_snapshot") and not held.exported(index, handle):
                    failed = index
                    break
                continue
            results[index] = runner.finish(handle)
            if results[index]["stopped"] or results[index]["rc"] != 0:
                failed = index
                break
            held.ended(index)
        for index, handle in pending:
            if failed is not None and index != failed:
                handle["run"].stop(f"step '{steps[failed]['name']}' failed")
            results[index] = runner.finish(handle)
            if failed is None and (results[index]["stopped"] or results[index]["rc"] != 0):
                failed = index
    except (client.ClientError, OSError) as exc:
        for _index, handle in pending:
            handle["run"].stop("the call failed")
            runner.finish(handle)
        done = [dict(result, name=steps[index]["name"]) for index, result in enumerate(results) if result is not None]
        extra = {"steps": done, "failed_step": step["name"]} if params["steps"] is not None else {}
        if locked is not None:
            extra["store_lock"] = locked
        module.fail_json(msg=f"Failed to run {tool}: {exc}", rc=None, cmd=step["argv"], **extra)
    last = failed if failed is not None else max(index for index, result in enumerate(results) if result is not None)
    tool = label(steps[last])
    done = [dict(result, name=steps[index]["name"]) for index, result in enumerate(results) if result is not None]
    return tool, results[last], done if params["steps"] is not None else [], runner, steps[failed]["name"] if failed is not None else None


def main():
    module = AnsibleModule(
        argument_spec={
            "argv": {"type": "list", "elements": "str"},
            "steps": {
                "type": "list",
                "elements": "dict",
                "options": {
                    "name": {"type": "str", "required": True},
                    "argv": {"type": "list", "elements": "str", "required": True},
                    "exec_user": {"type": "str"},
                    "connect": {"type": "bool", "default": True},
                    "output_file": {"type": "path"},
                    "input_path": {"type": "path"},
                    "timeout": {"type": "int"},
                    "background": {"type": "bool", "default": False},
                    "export_snapshot": {"type": "str"},
                    "use_snapshot": {"type": "bool", "default": False},
                },
            },
            "mode": {"type": "str", "choices": ["container", "host", "client_container"], "default": "container"},
            "container": {"type": "str"},
            "compose_project": {"type": "str"},
            "compose_service": {"type": "str", "default": "db"},
            "container_dir": {"type": "path"},
            "exec_user": {"type": "str", "default": "postgres"},
            "login_host": {"type": "str", "default": ""},
            "login_port": {"type": "int", "default": 5432},
            "login_user": {"type": "str", "default": "postgres"},
            "login_password": {"type": "str", "default": "", "no_log": True},
            "login_password_env": {"type": "str", "default": "", "no_log": True},
            "client_image": {"type": "str", "default": ""},
            "client_image_repository": {"type": "str", "default": "postgres"},
            "client_network": {"type": "str", "default": "host"},
            "client_mounts": {"type": "list", "elements": "path", "default": []},
            "client_user": {"type": "str", "default": ""},
            "output_file": {"type": "path"},
            "input_path": {"type": "path"},
            "environment": {"type": "dict", "default": {}},
            "stdin": {"type": "str", "default": ""},
            "timeout": {"type": "int", "default": 0},
            "backup": {
                "type": "dict",
                "options": {
                    "path": {"type": "path", "required": True},
                    "name": {"type": "str"},
                    "verify": {"type": "bool", "default": False},
                },
            },
            "lock": {
                "type": "dict",
                "options": {
                    "path": {"type": "path", "required": True},
                    "owner": {"type": "str", "required": True},
                    "stale_after": {"type": "int", "default": 86400},
                    "controller": {"type": "dict"},
                    "takeover": {"type": "str"},
                    "database_size": {"type": "int"},
                    "name": {"type": "str"},
                },
            },
            "commit": {
                "type": "dict",
                "options": {
                    "path": {"type": "path", "required": True},
                    "name": {"type": "str", "required": True},
                    "owner": {"type": "str"},
                    "unlock": {"type": "bool", "default": False},
                    "prune": {"type": "bool", "default": False},
                    "keep_daily": {"type": "int", "default": 7},
                    "keep_weekly": {"type": "int", "default": 4},
                    "keep_monthly": {"type": "int", "default": 6},
                    "keep_referenced_by": {"type": "list", "elements": "path", "default": []},
                    "metadata": {"type": "dict", "default": {}},
                    "row_counts_step": {"type": "str"},
                    "snapshot_step": {"type": "str"},
                    "snapshot": {"type": "str"},
                    "list_step": {"type": "str"},
                },
            },
        },
        required_if=[("mode", "container", ["container", "compose_project"], True)],
        required_one_of=[("argv", "steps")],
        mutually_exclusive=[("stdin", "input_path"), ("argv", "steps")],
        supports_check_mode=False,
    )
    params = module.params
    located = find_container(module)
    started = time.time()
    locked = take_lock(module) if params["lock"] else None
    opts = params["backup"]
    reading = Beside(f"read the backup store {opts['path']}", store.store_info, opts["path"], opts["name"], opts["verify"]) if opts else None
    tool, result, results, runner, failed_step = run_steps(module, locked)
    result = dict(result, changed=True)
    if reading is not None:
        reading.join()
        if reading.error is not None:
            module.fail_json(msg=reading.error, **result)
        result["backup_info"] = reading.value
    if locked is not None:
        result["store_lock"] = locked
    if params["mode"] == "container":
        result["container"] = params["container"]
    if located is not None:
        located.join()
        mounted, error = located.value or (False, located.error)
        if error:
            module.fail_json(msg=error, **result)
        result["container_mounted"] = mounted
    if params["mode"] == "client_container":
        result["client_image"] = runner.image
    if params["steps"] is not None:
        result["steps"] = results
        result["failed_step"] = failed_step
    if result["stopped"]:
        module.fail_json(msg=f"Failed to run {tool}: stopped ({result['stopped']}); the tool was ended and its password file removed", **result)
    if result["rc"] != 0:
        module.fail_json(msg=f"Failed to run {tool}: exit code {result['rc']}: {result['stderr'].strip()[-2000:] or result['stdout'].strip()[-500:]}", **result)
    if params["commit"]:
        commit(module, result, started)
    module.exit_json(**result)


LOCK_STEP = "Take the backup store's lock"
COMMIT_STEP = "Seal, verify and promote the backup"


def take_lock(module):
    """O(lock): the store's lock (and the room, and the partial backup's directory) before any tool runs."""
    opts = module.params["lock"]
    try:
        return store.take_lock(
            opts["path"], opts["owner"], stale_after=opts["stale_after"], controller=opts["controller"], takeover=opts["takeover"],
            database_size=opts["database_size"], name=opts["name"],
        )
    except store.ActionFailed as exc:
        module.fail_json(msg=str(exc), store_lock=exc.result, failed_step=LOCK_STEP, steps=[], changed=bool(exc.result.get("changed")))
    except (store.BackupStoreError, OSError) as exc:
        module.fail_json(msg=f"Failed to lock the backup store {opts['path']}: {exc}", failed_step=LOCK_STEP, steps=[], changed=False)
    return None


def commit_metadata(opts, steps, started):
    """O(commit.metadata) with what the steps found: the row counts (when exact), the dump's entries, the timing."""
    out = {step["name"]: step["stdout"] for step in steps}
    metadata = dict(opts["metadata"])
    if opts["row_counts_step"]:
        seen = (out.get(opts["snapshot_step"]) or "").strip().splitlines() if opts["snapshot_step"] else []
        exact = not opts["snapshot_step"] or (bool(seen) and seen[0].strip() == (opts["snapshot"] or "").strip())
        counts = (out.get(opts["row_counts_step"]) or "").strip().splitlines()
        metadata["row_counts"] = json.loads(counts[-1])["row_counts"] if exact and counts else None
    if opts["list_step"]:
        lines = out.get(opts["list_step"], "").splitlines()
        metadata["toc_entries"] = len([line for line in lines if line.strip() and not line.startswith(";")])
    metadata["started_at"] = datetime.datetime.fromtimestamp(started, store.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata["duration_seconds"] = round(time.time() - started, 3)
    return metadata


def commit(module, result, started):
    """O(commit): seal, verify, promote, retention, unlock, once every step succeeded; into ``result``."""
    opts = module.params["commit"]
    result["committed"] = False
    try:
        metadata = commit_metadata(opts, result["steps"], started)
        done = store.commit(
            opts["path"], opts["name"], metadata, owner=opts["owner"], unlock=opts["unlock"], retention=store.retention(opts) if opts["prune"] else None,
        )
    except store.ActionFailed as exc:
        module.fail_json(msg=str(exc), store_commit=exc.result, **dict(result, committed=exc.result["committed"], failed_step=COMMIT_STEP))
    except (store.BackupStoreError, OSError, ValueError, KeyError, TypeError) as exc:
        module.fail_json(msg=f"Failed to commit the backup {opts['name']} in {opts['path']}: {exc}", **dict(result, failed_step=COMMIT_STEP))
    result["store_commit"] = done
    result["committed"] = True


if __name__ == "__main__":
    main()
