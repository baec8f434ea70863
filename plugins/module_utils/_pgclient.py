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

Where the tool runs (``mode``):

- ``container``: ``docker exec -i`` in the database's container;
- ``host``: on the target host;
- ``client_container``: a one-off container of a PostgreSQL client image on the target host
  (``docker run --rm -i --network host``), for a database reached over TCP from a host without the
  client tools. Host directories given in ``mounts`` are bound at the same path, so the tool reads
  and writes the backup store as host mode does.

Streams: the tool's standard output can go to a file on the target host (``output_file``: a dump
streamed out of a container that mounts no backup directory), and a file or a directory (sent as a
tar) on the target host can be streamed into its standard input (``input_path``). A streamed input
goes to the tool through a FIFO, never through a copy in the container.

The password can also come from a variable of the environment the tool runs in (``password_env``,
e.g. ``POSTGRES_PASSWORD`` of the database's container): the wrapper reads it there and writes it
into the same private PGPASSFILE; it never passes through Ansible.

The wrapper reaps every process it starts: in a container whose PID 1 is the postmaster, an
orphan killed by a signal would be taken for a crashed backend and restart the server. The watcher
is ended with SIGKILL: a SIGTERM sent while the forked subshell still carries the parent's trap
would be lost, and the wrapper would wait for it forever.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tarfile
import threading
import time

# $1.. = the tool and its arguments. Input: line 1 the ~/.pgpass line (empty: no password, or the
# one built from the variable named by OPSKIT_PASSWORD_ENV), line 2 the byte count N of the tool's
# standard input, then N bytes, then nothing until EOF. With OPSKIT_STREAM_IN=1 the N bytes go to the
# tool through a FIFO while it runs (a dump of any size); with OPSKIT_STREAM_IN=2 byte by byte, as they
# come (a session fed its SQL in parts, head would hold them back); otherwise they are read first.
WRAPPER = r"""umask 077
child=
d=$(mktemp -d "${TMPDIR:-/tmp}/.opskit-pg.XXXXXX") || exit 125
trap 'rm -rf "$d"' EXIT
trap 'if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child"; fi; exit 143' TERM INT HUP
IFS= read -r pw || exit 125
if [ -z "$pw" ] && [ -n "${OPSKIT_PASSWORD_ENV:-}" ]; then
  case $OPSKIT_PASSWORD_ENV in *[!A-Za-z0-9_]*|[0-9]*) echo "opskit: bad variable name $OPSKIT_PASSWORD_ENV" >&2; exit 125;; esac
  eval "pw=\${$OPSKIT_PASSWORD_ENV:-}"
  if [ -z "$pw" ]; then echo "opskit: the password variable $OPSKIT_PASSWORD_ENV is empty or unset where the tool runs" >&2; exit 125; fi
  case $pw in *"
"*) echo "opskit: the password variable $OPSKIT_PASSWORD_ENV holds a line break" >&2; exit 125;; esac
  pw="*:*:*:$(printf '%s' "${PGUSER:-*}" | sed 's/[\\:]/\\&/g'):$(printf '%s' "$pw" | sed 's/[\\:]/\\&/g')"
fi
unset OPSKIT_PASSWORD_ENV
if [ -n "$pw" ]; then printf '%s\n' "$pw" > "$d/pgpass"; PGPASSFILE="$d/pgpass"; export PGPASSFILE; fi
pw=
IFS= read -r n || exit 125
stream=${OPSKIT_STREAM_IN:-}
unset OPSKIT_STREAM_IN
if [ -n "$stream" ]; then
  mkfifo "$d/in" || exit 125
  "$@" < "$d/in" &
  child=$!
  if [ "$stream" = 2 ]; then dd bs=1 count="$n" 2>/dev/null; else head -c "$n"; fi > "$d/in"
else
  head -c "$n" > "$d/stdin"
  "$@" < "$d/stdin" &
  child=$!
fi
exec 3<&0
{ cat >/dev/null; kill -TERM "$child"; sleep 10; kill -KILL "$child"; } <&3 >/dev/null 2>&1 &
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


def _client_run_prefix(docker, image, *, network, mounts, run_user, name):
    """``docker run`` of a one-off client container, up to the image's command."""
    if not image:
        raise ClientError("no client image to run the tool in")
    argv = [docker, "run", "--rm", "-i", "--network", network or "host", "--label", "opskit.webstack.pgclient=1"]
    if name:
        argv += ["--name", name]
    if run_user:
        argv += ["--user", str(run_user)]
    for path in mounts or ():
        if not str(path).startswith("/") or "," in str(path) or ":" in str(path):
            raise ClientError(f"cannot bind {path!r} into the client container (an absolute path without ':' or ',')")
        argv += ["--mount", f"type=bind,source={path},target={path}"]
    return [*argv, "--entrypoint", "sh"]


def build_command(mode, tool_argv, env, container=None, exec_user=None, *, docker="docker", image=None, network="host",
                  mounts=(), run_user=None, name=None):
    """``(argv, process environment or None)`` that runs ``tool_argv`` under the wrapper.

    ``mode`` is ``container`` (``docker exec`` in ``container``), ``host``, or ``client_container``
    (``docker run --rm -i`` of ``image`` on ``network``, ``mounts`` bound at the same path, as
    ``run_user``, named ``name``).
    """
    if not tool_argv:
        raise ClientError("no tool to run")
    wrapped = ["sh", "-c", WRAPPER, "sh"] + [str(arg) for arg in tool_argv]
    if mode == "host":
        process_env = dict(os.environ)
        process_env.update(env)
        process_env.pop("PGPASSWORD", None)
        return wrapped, process_env
    if mode == "container":
        if not container:
            raise ClientError("no container to run the tool in")
        argv = [docker, "exec", "-i"] + (["-u", exec_user] if exec_user else [])
        target = [container]
    elif mode == "client_container":
        argv = _client_run_prefix(docker, image, network=network, mounts=mounts, run_user=run_user, name=name)
        target = [image]
        wrapped = wrapped[1:]  # the entrypoint is sh
    else:
        raise ClientError(f"unknown mode {mode!r}")
    for key in sorted(env):
        argv += ["-e", f"{key}={env[key]}"]
    return [*argv, *target, *wrapped], None


def build_input(password_line, stdin=b"", *, length=None):
    """The wrapper's standard input up to the point where it stays open.

    With ``length``, the tool's input is streamed after this header (``length`` bytes) and ``stdin`` is ignored.
    """
    if isinstance(stdin, str):
        stdin = stdin.encode("utf-8")
    if length is not None:
        return (password_line or "").encode("utf-8") + b"\n" + str(int(length)).encode() + b"\n"
    return (password_line or "").encode("utf-8") + b"\n" + str(len(stdin)).encode() + b"\n" + stdin


def _tar_members(root):
    """(TarInfo, path) of a directory's tree, sorted, names relative to ``root`` (regular files and directories only)."""
    members = []
    for base, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(base, root)
        for entry in sorted(files):
            path = os.path.join(base, entry)
            if os.path.islink(path) or not os.path.isfile(path):
                raise ClientError(f"{path} is not a regular file; only regular files are streamed")
            info = tarfile.TarInfo(os.path.normpath(os.path.join(rel, entry)))
            info.size = os.path.getsize(path)
            info.mode = 0o600
            members.append((info, path))
        for entry in dirs:
            info = tarfile.TarInfo(os.path.normpath(os.path.join(rel, entry)))
            info.type = tarfile.DIRTYPE
            info.mode = 0o700
            members.append((info, None))
    return sorted(members, key=lambda item: (item[0].name.count("/"), item[0].name))


_BLOCK = tarfile.BLOCKSIZE


def tar_size(members):
    """The exact byte count of the uncompressed PAX tar stream ``write_tar`` writes for ``members``."""
    size = 0
    for info, _path in members:
        size += len(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        size += -(-info.size // _BLOCK) * _BLOCK if info.isfile() else 0
    size += 2 * _BLOCK
    return -(-size // tarfile.RECORDSIZE) * tarfile.RECORDSIZE


def write_tar(members, sink):
    """Write ``members`` as an uncompressed PAX tar stream to the file object ``sink``."""
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for info, path in members:
            if path is None:
                tar.addfile(info)
            else:
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)


class InputStream:
    """A file, or a directory sent as a tar, streamed into the tool's standard input."""

    def __init__(self, path):
        self.path = path
        if os.path.isdir(path):
            self.members = _tar_members(path)
            self.length = tar_size(self.members)
        elif os.path.isfile(path):
            self.members = None
            self.length = os.path.getsize(path)
        else:
            raise ClientError(f"{path} is neither a file nor a directory")

    def write_to(self, sink, stopped):
        if self.members is not None:
            write_tar(self.members, sink)
            return
        with open(self.path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                if stopped():
                    return
                sink.write(chunk)


class SnapshotSession:
    """The input of a psql session that exports a snapshot and holds it (O(steps[].export_snapshot)):
    the transaction begun and the snapshot exported at once; ``sql`` run in it, then COMMIT, once
    release() is called (the steps that used the snapshot have ended). Streamed like a file."""

    def __init__(self, sql):
        self.head = (
            b"SET idle_in_transaction_session_timeout = 0;\n"
            b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n"
            b"SELECT pg_export_snapshot();\n"
        )
        self.tail = (sql.rstrip().rstrip(";") + ";\nCOMMIT;\n").encode("utf-8")
        self.length = len(self.head) + len(self.tail)
        self._released = threading.Event()

    def release(self):
        self._released.set()

    def write_to(self, sink, stopped):
        sink.write(self.head)
        sink.flush()
        while not self._released.wait(0.05):
            if stopped():
                return
        if not stopped():
            sink.write(self.tail)


class Run:
    """One tool run: start(), then wait() which returns (rc, stdout, stderr, reason).

    ``reason`` is None when the tool ended by itself, else why it was stopped ("timeout",
    "signal SIGTERM", "the run's process ... is gone"). ``alive`` is a callable polled every
    second; when it returns False the tool is stopped (the run that called us died).
    """

    def __init__(self, argv, env, data, *, timeout=0, alive=None, grace=20, input_stream=None, output=None):
        self.argv = argv
        self.env = env
        self.data = data
        self.input_stream = input_stream
        self.output = output
        self._writer = None
        self._fed = threading.Event()
        self.timeout = timeout or 0
        self.alive = alive
        self.grace = grace
        self.proc = None
        self._out = []
        self._err = []
        self._stop = None

    def stopped(self):
        """Whether the run was asked to stop."""
        return self._stop is not None

    def peek(self):
        """The standard output read so far (while the tool runs)."""
        return b"".join(self._out)

    def _reader(self, stream, sink):
        # read1: what has come so far, not a full 64 KiB (a held session's snapshot name is read while it runs)
        for chunk in iter(lambda: stream.read1(65536), b""):
            sink.append(chunk)
        stream.close()

    def start(self):
        stdout = self.output if self.output is not None else subprocess.PIPE
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=stdout, stderr=subprocess.PIPE, env=self.env)
        except OSError as exc:
            raise ClientError(f"cannot start {self.argv[0]}: {exc}") from exc
        self._threads = [threading.Thread(target=self._reader, args=(self.proc.stderr, self._err), daemon=True)]
        if self.output is None:
            self._threads.append(threading.Thread(target=self._reader, args=(self.proc.stdout, self._out), daemon=True))
        for thread in self._threads:
            thread.start()
        self._writer = threading.Thread(target=self._feed, daemon=True)
        self._writer.start()

    def _feed(self):
        """Write the header (and the input); the pipe then stays open: the wrapper's dead man's switch."""
        try:
            self.proc.stdin.write(self.data)
            if self.input_stream is not None:
                self.input_stream.write_to(self.proc.stdin, lambda: self._stop is not None)
            self.proc.stdin.flush()
        except (OSError, ValueError):
            pass  # the wrapper ended early (or the run was stopped); its exit status and stderr tell why
        finally:
            self._fed.set()
            if self._stop is not None:
                self._close_stdin()

    def _close_stdin(self):
        try:
            self.proc.stdin.close()
        except (OSError, ValueError):
            pass

    def stop(self, reason):
        """Close the wrapper's input (it stops the tool and cleans up), then make sure it ends."""
        if self._stop is None:
            self._stop = reason
        if self._fed.is_set():
            self._close_stdin()

    def wait(self):
        started = time.monotonic()
        stop_at = None
        while self.proc.poll() is None:
            # returns as soon as the tool ends (a sleep here made every long step end up to 0.5 s late)
            try:
                self.proc.wait(timeout=0.05 if time.monotonic() - started < 2 else 0.5)
            except subprocess.TimeoutExpired:
                pass
            if self._stop is None:
                if self.timeout and time.monotonic() - started > self.timeout:
                    self.stop(f"timeout after {self.timeout} s")
                elif self.alive is not None and not self.alive():
                    self.stop("the run that started it is gone")
            if self._stop is not None:
                stop_at = stop_at or time.monotonic()
                if time.monotonic() - stop_at > self.grace:
                    self.proc.kill()
        self._writer.join(10)
        self._close_stdin()
        for thread in self._threads:
            thread.join(10)
        return self.proc.returncode, b"".join(self._out), b"".join(self._err), self._stop


def install_stop_handlers(run):
    """SIGTERM, SIGINT and SIGHUP stop the tool cleanly instead of killing the module alone."""

    def handler(signum, _frame):
        run.stop("signal " + signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, handler)


def tag_major(tag):
    """The PostgreSQL major of an image tag (``15``, ``17.2``, ``16-alpine``, ``15-bookworm``), or None."""
    head = str(tag).split("-", 1)[0]
    major = head.split(".", 1)[0]
    if not major.isdigit() or not all(part.isdigit() for part in head.split(".")):
        return None
    return int(major)


def pick_client_image(repository, tags, server_major):
    """The client image for a server of ``server_major``: the lowest major >= the server's among ``tags``.

    pg_dump must be at least the server's major; the lowest such keeps the archive readable by the
    server's own pg_restore. Among tags of one major a bare ``N`` wins, then the shortest. Returns the
    image (``repository:tag``) or None.
    """
    server_major = int(server_major)
    usable = [(tag_major(tag), len(str(tag)), str(tag)) for tag in tags if tag_major(tag) is not None]
    usable = [item for item in usable if item[0] >= server_major]
    if not usable:
        return None
    return f"{repository}:{min(usable)[2]}"


def highest_client_image(repository, tags):
    """The image of the highest PostgreSQL major among ``tags`` (any psql reads the server's version), or None."""
    usable = [(tag_major(tag), -len(str(tag)), str(tag)) for tag in tags if tag_major(tag) is not None]
    return f"{repository}:{max(usable)[2]}" if usable else None


def locate_container(module, docker, *, container=None, project=None, service="db", container_dir=None):
    """The database's container and whether it mounts ``container_dir``: ``{"name": ..., "mounted": ...}``.

    ``container`` names it; else the running container of Compose ``service`` in ``project`` (``docker ps``
    by the Compose labels; ``name`` is None when there is none). ``module`` runs the commands (an
    AnsibleModule); a command that fails fails the module.
    """
    name = container
    if not name:
        argv = [docker, "ps", "--filter", f"label=com.docker.compose.project={project}",
                "--filter", f"label=com.docker.compose.service={service}", "--filter", "status=running", "--format", "{{.Names}}"]
        rc, out, err = module.run_command(argv)
        if rc != 0:
            module.fail_json(msg=f"Failed to list the containers of Compose project {project}: {err.strip()}")
        names = sorted(out.split())
        name = names[0] if names else None
    found = {"name": name, "mounted": False}
    if name and container_dir:
        mounted, error = mounted_at(module, docker, name, container_dir)
        if error:
            module.fail_json(msg=error)
        found["mounted"] = mounted
    return found


def mounted_at(module, docker, name, container_dir):
    """(whether container ``name`` mounts a directory at ``container_dir``, an error message or None)."""
    rc, out, err = module.run_command([docker, "inspect", "--format", "{{json .Mounts}}", name])
    if rc != 0:
        return False, f"Failed to read the mounts of container {name}: {err.strip()}"
    wanted = container_dir.rstrip("/") or "/"
    return any(mount.get("Destination", "").rstrip("/") == wanted for mount in json.loads(out or "null") or []), None
