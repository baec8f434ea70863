# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run a PostgreSQL client tool where the database is, with the password kept secret.

The one way the postgres_backup and postgres_restore roles (through the module
``postgres_backup_exec``) run ``pg_dump``, ``pg_dumpall``, ``pg_restore`` and ``psql``:

- where: inside the database's container (``docker exec -i`` on the target host's engine) or on
  the target host itself;
- the connection: ``PGHOST``/``PGPORT``/``PGUSER`` in the tool's environment;
- the password: written through standard input to a small POSIX-sh wrapper (:data:`WRAPPER`) that
  puts it in a PGPASSFILE inside a private ``mktemp -d`` directory (umask 077) and removes it when
  the tool ends. It is never on a command line, in an environment variable or in a file that
  outlives the tool;
- a dead man's switch: after the password and the tool's own input, standard input stays open.
  When it closes (the module, the ``docker exec`` client or the whole run died: Ctrl-C, a killed
  SSH session), the wrapper stops the tool (SIGTERM, SIGKILL 10 s later), waits for it and removes
  the password file. So an interrupted run leaves no ``pg_dump`` running and no password behind.

The wrapper reaps every process it starts: in a container whose PID 1 is the postmaster, an
orphan killed by a signal would be taken for a crashed backend and restart the server. The watcher
is ended with SIGKILL: a SIGTERM sent while the forked subshell still carries the parent's trap
would be lost, and the wrapper would wait for it forever.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

# $1.. = the tool and its arguments. Input: line 1 the ~/.pgpass line (empty: no password),
# line 2 the byte count N of the tool's standard input, then N bytes, then nothing until EOF.
WRAPPER = r"""umask 077
child=
d=$(mktemp -d "${TMPDIR:-/tmp}/.opskit-pg.XXXXXX") || exit 125
trap 'rm -rf "$d"' EXIT
trap 'if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child"; fi; exit 143' TERM INT HUP
IFS= read -r pw || exit 125
if [ -n "$pw" ]; then printf '%s\n' "$pw" > "$d/pgpass"; PGPASSFILE="$d/pgpass"; export PGPASSFILE; fi
pw=
IFS= read -r n || exit 125
head -c "$n" > "$d/stdin"
exec 3<&0
"$@" < "$d/stdin" 3<&- &
child=$!
{ while IFS= read -r _; do :; done; kill -TERM "$child"; sleep 10; kill -KILL "$child"; } <&3 >/dev/null 2>&1 &
watch=$!
exec 3<&-
wait "$child"
rc=$?
kill -KILL "$watch" 2>/dev/null
wait "$watch" 2>/dev/null
exit "$rc"
"""

_PGPASS_SPECIAL = ("\\", ":")


class ClientError(Exception):
    """The tool could not be started or its input is unusable."""


def pgpass_line(user, password):
    """One ``~/.pgpass`` line for any host, port and database; ``:`` and ``\\`` escaped as libpq wants."""
    if any(char in (password or "") + (user or "") for char in "\r\n\0"):
        raise ClientError("the login or password holds a line break or NUL, which a PGPASSFILE cannot carry")

    def esc(value):
        for char in _PGPASS_SPECIAL:
            value = value.replace(char, "\\" + char)
        return value

    return "*:*:*:{}:{}".format(esc(user or "*"), esc(password))


def connection_env(host=None, port=None, user=None, extra=None):
    """libpq's environment for the tool (never the password)."""
    env = {}
    if host:
        env["PGHOST"] = str(host)
    if port:
        env["PGPORT"] = str(port)
    if user:
        env["PGUSER"] = str(user)
    for key, value in (extra or {}).items():
        if value is not None and str(value) != "":
            env[str(key)] = str(value)
    return env


def build_command(mode, tool_argv, env, container=None, exec_user=None, *, docker="docker"):
    """``(argv, process environment or None)`` that runs ``tool_argv`` under the wrapper."""
    if not tool_argv:
        raise ClientError("no tool to run")
    wrapped = ["sh", "-c", WRAPPER, "sh"] + [str(arg) for arg in tool_argv]
    if mode == "container":
        if not container:
            raise ClientError("no container to run the tool in")
        argv = [docker, "exec", "-i"]
        if exec_user:
            argv += ["-u", exec_user]
        for key in sorted(env):
            argv += ["-e", f"{key}={env[key]}"]
        return [*argv, container, *wrapped], None
    process_env = dict(os.environ)
    process_env.update(env)
    process_env.pop("PGPASSWORD", None)
    return wrapped, process_env


def build_input(password_line, stdin=b""):
    """The wrapper's standard input up to the point where it stays open."""
    if isinstance(stdin, str):
        stdin = stdin.encode("utf-8")
    return (password_line or "").encode("utf-8") + b"\n" + str(len(stdin)).encode() + b"\n" + stdin


class Run:
    """One tool run: start(), then wait() which returns (rc, stdout, stderr, reason).

    ``reason`` is None when the tool ended by itself, else why it was stopped ("timeout",
    "signal SIGTERM", "the run's process ... is gone"). ``alive`` is a callable polled every
    second; when it returns False the tool is stopped (the run that called us died).
    """

    def __init__(self, argv, env, data, *, timeout=0, alive=None, grace=20):
        self.argv = argv
        self.env = env
        self.data = data
        self.timeout = timeout or 0
        self.alive = alive
        self.grace = grace
        self.proc = None
        self._out = []
        self._err = []
        self._stop = None

    def _reader(self, stream, sink):
        for chunk in iter(lambda: stream.read(65536), b""):
            sink.append(chunk)
        stream.close()

    def start(self):
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
        except OSError as exc:
            raise ClientError(f"cannot start {self.argv[0]}: {exc}") from exc
        self._threads = [
            threading.Thread(target=self._reader, args=(self.proc.stdout, self._out), daemon=True),
            threading.Thread(target=self._reader, args=(self.proc.stderr, self._err), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        try:
            self.proc.stdin.write(self.data)
            self.proc.stdin.flush()
        except OSError:
            pass  # the wrapper ended early; its exit status and stderr tell why

    def stop(self, reason):
        """Close the wrapper's input (it stops the tool and cleans up), then make sure it ends."""
        if self._stop is None:
            self._stop = reason
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def wait(self):
        started = time.monotonic()
        stop_at = None
        while self.proc.poll() is None:
            time.sleep(0.05 if time.monotonic() - started < 2 else 0.5)
            if self._stop is None:
                if self.timeout and time.monotonic() - started > self.timeout:
                    self.stop(f"timeout after {self.timeout} s")
                elif self.alive is not None and not self.alive():
                    self.stop("the run that started it is gone")
            if self._stop is not None:
                stop_at = stop_at or time.monotonic()
                if time.monotonic() - stop_at > self.grace:
                    self.proc.kill()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        for thread in self._threads:
            thread.join(10)
        return self.proc.returncode, b"".join(self._out), b"".join(self._err), self._stop


def install_stop_handlers(run):
    """SIGTERM, SIGINT and SIGHUP stop the tool cleanly instead of killing the module alone."""

    def handler(signum, _frame):
        run.stop("signal " + signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, handler)
