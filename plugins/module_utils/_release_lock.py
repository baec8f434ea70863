# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One change at a time per stack: a lock file on the Docker host, held by an ansible-playbook process.

The lock file holds who took it (controller host, the ansible-playbook process id and its start
time, user, what it does, since when). Taking it is an ``O_EXCL`` create; taking over a lock whose
holder is gone is an atomic replace that succeeds only when the file still names that holder. Whether
the holder is alive is decided where its process runs, on the controller (the action plugin does that).
"""

from __future__ import annotations

import json
import os
import tempfile


class LockError(Exception):
    pass


def token(holder):
    return "{}:{}:{}".format(holder.get("controller", ""), holder.get("pid", ""), holder.get("pid_start", ""))


def read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError:
        return {"controller": "?", "pid": 0, "pid_start": "", "what": "unreadable lock file"}


def _write_new(path, holder):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(holder, out, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())


def acquire(path, holder, takeover=None, check_mode=False):
    """Returns (state, current): state is "acquired", "ours" (already held by ``holder``), "taken_over"
    or "held" (by ``current``, someone else)."""
    folder = os.path.dirname(path)
    current = read(path)
    if current is None:
        if not check_mode:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            try:
                _write_new(path, holder)
            except FileExistsError:
                return "held", read(path)
        return "acquired", None
    if token(current) == token(holder):
        return "ours", current
    if takeover is not None and token(current) == token(takeover):
        if not check_mode:
            fd, partial = tempfile.mkstemp(prefix=".lock.partial-", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(holder, out, sort_keys=True)
            if token(read(path) or {}) != token(takeover):  # someone else was quicker
                os.unlink(partial)
                return "held", read(path)
            os.replace(partial, path)
        return "taken_over", current
    return "held", current


def release(path, holder, check_mode=False):
    """Remove the lock when ``holder`` holds it. Returns True when it was removed."""
    current = read(path)
    if current is None or token(current) != token(holder):
        return False
    if not check_mode:
        os.unlink(path)
    return True


def process_start(pid):
    """The start time of process ``pid`` (clock ticks since boot, from /proc), '' when unknown."""
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="utf-8") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return fields[19]
    except (OSError, IndexError, ValueError):
        return ""


def process_alive(pid, start=""):
    """Whether process ``pid`` runs, and is the same process that started at ``start`` (when known)."""
    try:
        pid = int(pid)
        if pid <= 0:
            return False
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except (TypeError, ValueError):
        return False
    now = process_start(pid)
    return not (start and now and now != str(start))
