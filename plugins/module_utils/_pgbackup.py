# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The backup store of the postgres_backup and postgres_restore roles: pure functions on a directory.

Layout of one database's store (``<backup_dir>/<database>/``)::

    <database>-<YYYYmmddTHHMMSSZ>/            a sealed, verified backup
        manifest.json                        what it is, and sha256 + size of every other file
        dump/ | dump.pgdump | dump.sql.gz    the pg_dump output (directory, custom or plain format)
        globals.sql                          pg_dumpall --globals-only (roles, tablespaces)
    <database>-<...>.partial/                a backup being written (or the leftover of a failed one)
    latest -> <database>-<...>               the newest backup that was verified, set by promote()
    .lock                                    held while a backup runs (one at a time per database)

Nothing here talks to PostgreSQL: the roles run pg_dump / pg_restore, these functions seal, verify,
promote, list and prune what those tools wrote.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import socket
import threading
import time

MANIFEST = "manifest.json"
LATEST = "latest"
LOCK = ".lock"
PARTIAL_SUFFIX = ".partial"
MANIFEST_VERSION = 1
NAME_RE = re.compile(r"^(?P<db>.+)-(?P<ts>\d{8}T\d{6}Z)$")
_CHUNK = 1024 * 1024
# Backups hold data and password hashes (globals.sql): files 0600 in 0700 directories, whatever the umask.
FILE_MODE = 0o600
DIR_MODE = 0o700
UTC = datetime.timezone.utc  # noqa: UP017 -- target hosts may run Python < 3.11


class BackupStoreError(Exception):
    """A store operation that cannot go on; the message names the backup or file concerned."""


class LockBusyError(BackupStoreError):
    """Another backup of the same database holds the lock."""


def backup_name(database, when=None):
    """Name of a backup of ``database`` taken at ``when`` (UTC), e.g. ``shop-20260101T020000Z``."""
    when = when or datetime.datetime.now(UTC)
    return "{}-{}".format(database, when.strftime("%Y%m%dT%H%M%SZ"))


def parse_name(name):
    """The UTC time encoded in a backup name, or None when the name is not one of ours."""
    match = NAME_RE.match(name)
    if not match:
        return None
    return datetime.datetime.strptime(match.group("ts"), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_files(paths):
    """``{path: sha256}`` of several files, hashed side by side (hashlib lets go of the GIL while it hashes)."""
    paths = list(paths)
    workers = min(len(paths), os.cpu_count() or 1, 4)
    if workers <= 1:
        return {path: sha256_file(path) for path in paths}
    # the biggest first, so that a big file does not start last. Plain daemon threads, not a
    # ThreadPoolExecutor: this runs in a thread itself beside the tools (postgres_backup_exec), and an
    # executor's workers there once failed the call with "release unlocked lock" under load.
    pending = iter(sorted(paths, key=lambda path: -os.path.getsize(path)))
    lock = threading.Lock()
    digests, errors = {}, []

    def work():
        while True:
            with lock:
                path = next(pending, None)
                if path is None or errors:
                    return
            try:
                digests[path] = sha256_file(path)
            except Exception as exc:  # noqa: BLE001 -- raised again in the caller's thread
                with lock:
                    errors.append(exc)
                return

    threads = [threading.Thread(target=work, daemon=True) for _worker in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return {path: digests[path] for path in paths}


def walk_files(root):
    """Relative paths (with '/') of every regular file under ``root`` except the manifest, sorted."""
    found = []
    for current, dirs, files in os.walk(root):
        dirs.sort()
        for name in files:
            full = os.path.join(current, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            if rel != MANIFEST and os.path.isfile(full) and not os.path.islink(full):
                found.append(rel)
    return sorted(found)


def _fsync_path(path, directory=False):
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root):
    """fsync every file and directory under ``root`` (and ``root`` itself)."""
    for current, _dirs, files in os.walk(root):
        for name in files:
            _fsync_path(os.path.join(current, name))
        _fsync_path(current, directory=True)


def restrict_tree(root):
    """chmod every directory under ``root`` (and ``root``) 0700 and every file 0600; no symlink is followed."""
    for current, _dirs, files in os.walk(root):
        os.chmod(current, DIR_MODE)
        for name in files:
            full = os.path.join(current, name)
            if not os.path.islink(full):
                os.chmod(full, FILE_MODE)


def file_index(root):
    """``{relative path: {"sha256": ..., "size": ...}}`` of every file of a backup but the manifest."""
    rels = walk_files(root)
    digests = sha256_files(os.path.join(root, rel) for rel in rels)
    return {rel: {"sha256": digests[os.path.join(root, rel)], "size": os.path.getsize(os.path.join(root, rel))} for rel in rels}


def write_json_atomic(path, data):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_manifest(backup_path):
    path = os.path.join(backup_path, MANIFEST)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError as exc:
        raise BackupStoreError(f"{backup_path} has no {MANIFEST}: it was never sealed") from exc
    except ValueError as exc:
        raise BackupStoreError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise BackupStoreError(f"{path} has no 'files' table")
    return data


def seal(store, name, metadata):
    """Checksum every file of ``<store>/<name>.partial``, write its manifest and fsync it all.

    The backup stays ``.partial``: promote() renames it once the dump was verified.
    Returns the manifest.
    """
    partial = os.path.join(store, name + PARTIAL_SUFFIX)
    if not os.path.isdir(partial):
        raise BackupStoreError(f"Nothing to seal: {partial} does not exist")
    restrict_tree(partial)
    files = file_index(partial)
    if not files:
        raise BackupStoreError(f"Nothing to seal: {partial} holds no files")
    manifest = dict(metadata or {})
    manifest.update(
        {
            "manifest_version": MANIFEST_VERSION,
            "name": name,
            "files": files,
            "size_bytes": sum(item["size"] for item in files.values()),
            "sealed_at": datetime.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    write_json_atomic(os.path.join(partial, MANIFEST), manifest)
    fsync_tree(partial)
    return manifest


def verify(backup_path, manifest=None, *, checksums=True):
    """Problems of one backup as a list of ``"<file>: <what>"`` strings; empty when it is intact.

    ``checksums=False`` checks the files' presence and sizes only (for a manifest computed from those
    very files a moment ago, in the same process).
    """
    try:
        manifest = manifest or read_manifest(backup_path)
    except BackupStoreError as exc:
        return [str(exc)]
    problems = []
    present = set(walk_files(backup_path))
    digests = {}
    if checksums:
        sized = [rel for rel, expected in manifest["files"].items()
                 if rel in present and os.path.getsize(os.path.join(backup_path, rel)) == expected.get("size")]
        digests = sha256_files(os.path.join(backup_path, rel) for rel in sized)
    for rel, expected in sorted(manifest["files"].items()):
        full = os.path.join(backup_path, rel)
        if rel not in present:
            problems.append(f"{full}: missing")
            continue
        size = os.path.getsize(full)
        if size != expected.get("size"):
            problems.append(f"{full}: size {size}, manifest says {expected.get('size')}")
            continue
        if not checksums:
            continue
        actual = digests[full]
        if actual != expected.get("sha256"):
            problems.append("{}: sha256 {}, manifest says {}".format(full, actual, expected.get("sha256")))
    for rel in sorted(present - set(manifest["files"])):
        problems.append(f"{os.path.join(backup_path, rel)}: not in the manifest")
    return problems


def set_latest(store, name):
    """Point ``<store>/latest`` at ``name``, atomically (a new link renamed over the old one)."""
    link = os.path.join(store, LATEST)
    tmp = link + ".tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(name, tmp)
    os.replace(tmp, link)
    _fsync_path(store, directory=True)


def latest_name(store):
    link = os.path.join(store, LATEST)
    if not os.path.islink(link):
        return None
    target = os.readlink(link)
    return target if os.path.isdir(os.path.join(store, target)) else None


def promote(store, name, *, manifest=None):
    """Verify ``<name>.partial`` against its manifest, rename it to ``<name>`` and mark it latest.

    Given the ``manifest`` seal() just returned (one call that seals and promotes), the files are checked
    against it by presence and size: their sha256 were computed from them in this process a moment ago,
    and a second pass would read the same pages again. Otherwise every file's sha256 is checked too.
    """
    partial = os.path.join(store, name + PARTIAL_SUFFIX)
    final = os.path.join(store, name)
    if os.path.exists(final):
        raise BackupStoreError(f"Cannot promote {partial}: {final} already exists")
    problems = verify(partial, manifest, checksums=manifest is None)
    if problems:
        raise BackupStoreError("Verification of {} failed: {}".format(partial, "; ".join(problems)))
    os.rename(partial, final)
    _fsync_path(store, directory=True)
    set_latest(store, name)
    return final


def list_backups(store):
    """Sealed backups of a store, newest first: dicts with name, path, time (datetime), manifest."""
    backups = []
    if not os.path.isdir(store):
        return backups
    for entry in os.listdir(store):
        path = os.path.join(store, entry)
        when = parse_name(entry)
        if when is None or not os.path.isdir(path) or os.path.islink(path):
            continue
        try:
            manifest = read_manifest(path)
        except BackupStoreError:
            manifest = None
        backups.append({"name": entry, "path": path, "time": when, "manifest": manifest})
    backups.sort(key=lambda item: item["time"], reverse=True)
    return backups


def list_partials(store):
    if not os.path.isdir(store):
        return []
    return sorted(entry for entry in os.listdir(store) if entry.endswith(PARTIAL_SUFFIX) and os.path.isdir(os.path.join(store, entry)))


def retention_keep(times, daily, weekly, monthly):
    """Indexes into ``times`` (newest first) kept by a daily/weekly/monthly (GFS) policy.

    The newest backup of each of the ``daily`` most recent days that have backups is kept, likewise
    per ISO week and per month.
    """
    keep = set()
    for count, key in (
        (daily, lambda t: t.date()),
        (weekly, lambda t: t.isocalendar()[:2]),
        (monthly, lambda t: (t.year, t.month)),
    ):
        seen = []
        for index, when in enumerate(times):
            bucket = key(when)
            if bucket in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(bucket)
            keep.add(index)
    return keep


def plan_prune(store, daily, weekly, monthly, *, keep_names=(), current_partial=None):
    """What a prune would delete: ``{"backups": [...], "partials": [...], "kept": [...]}`` (names).

    Never deletes the latest verified backup, the backups named in ``keep_names``, nor
    ``current_partial`` (the backup being written by this run). Backups without a readable manifest
    are never counted as kept by the policy but are not deleted either (an operator looks at them).
    """
    backups = [item for item in list_backups(store) if item["manifest"] is not None]
    keep = retention_keep([item["time"] for item in backups], daily, weekly, monthly)
    protected = set(keep_names)
    latest = latest_name(store)
    if latest:
        protected.add(latest)
    if backups:
        protected.add(backups[0]["name"])
    kept, delete = [], []
    for index, item in enumerate(backups):
        (kept if index in keep or item["name"] in protected else delete).append(item["name"])
    partials = [entry for entry in list_partials(store) if entry not in (current_partial or "", f"{current_partial}{PARTIAL_SUFFIX}")]
    return {"backups": delete, "partials": partials, "kept": kept}


def apply_prune(store, plan):
    for name in plan["backups"] + plan["partials"]:
        shutil.rmtree(os.path.join(store, name))


def read_lock(store):
    try:
        with open(os.path.join(store, LOCK), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError:
        return {"owner": "unknown", "created": 0}


def _proc_stat(pid, proc="/proc"):
    """``(name, ppid, start time in clock ticks)`` of a process from /proc, or None when it does not exist."""
    try:
        with open(f"{proc}/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            data = handle.read()
    except OSError:
        return None
    # "pid (comm) state ppid ... starttime(22nd field)"; comm may hold spaces and parentheses
    name = data[data.index("(") + 1 : data.rindex(")")]
    fields = data[data.rindex(")") + 2 :].split()
    return name, int(fields[1]), int(fields[19])


def _proc_cmdline(pid, proc="/proc"):
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


SESSION_NAMES = ("sshd", "sshd-session")


def find_holder(pid=None, proc="/proc"):
    """The process that stands for the run that called us, to be recorded in a lock.

    Walking up from ``pid`` (default: this process): the nearest SSH session process (``sshd`` or
    ``sshd-session``: the connection Ansible runs every task of the play through, so it lives as
    long as the run and its ControlPersist), else the topmost ``ansible-playbook`` of a consecutive
    chain (the local connection: the task's worker is a fork of the main process, which lives as
    long as the run). None when neither is found: the lock then only goes stale by age.
    Returns ``{"pid", "start", "name"}``.
    """
    pid = os.getpid() if pid is None else pid
    playbook = None
    seen = 0
    while pid > 1 and seen < 64:
        seen += 1
        stat = _proc_stat(pid, proc)
        if stat is None:
            break
        name, ppid, start = stat
        if name in SESSION_NAMES:
            return {"pid": pid, "start": start, "name": name}
        if "ansible-playbook" in _proc_cmdline(pid, proc) or name.startswith("ansible-playboo"):
            playbook = {"pid": pid, "start": start, "name": "ansible-playbook"}
        elif playbook is not None:
            break
        pid = ppid
    return playbook


def holder_alive(holder, proc="/proc"):
    """Whether the process recorded as a lock's holder still runs (same pid and same start time)."""
    stat = _proc_stat(int(holder["pid"]), proc)
    return stat is not None and stat[2] == int(holder["start"])


def acquire_lock(store, owner, stale_after, now=None, *, holder=None, controller=None, takeover=None):
    """Create ``<store>/.lock`` for ``owner``; returns False when ``owner`` already holds it.

    ``holder`` (see find_holder) is the process of the run; a lock whose holder ran on this host and
    is gone (an interrupted or killed run) is taken over at once, and so is the lock of owner
    ``takeover`` (its controller process is known to be gone). ``controller`` is recorded as given. A lock older than ``stale_after``
    seconds is taken over too (a holder on another host, or none recorded). Any other holder raises
    LockBusyError naming it.
    """
    now = time.time() if now is None else now
    path = os.path.join(store, LOCK)
    record = {"owner": owner, "host": socket.gethostname(), "pid": os.getpid(), "created": now, "holder": holder, "controller": controller}
    for _attempt in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            held = read_lock(store) or {}
            if held.get("owner") == owner:
                return False
            age = now - float(held.get("created") or 0)
            dead = bool(held.get("holder")) and held.get("host") == socket.gethostname() and not holder_alive(held["holder"])
            # ``takeover``: the caller found on its controller that this lock's ansible-playbook is gone
            # (an SSH session shared through ControlPersist can outlive it)
            if dead or age > stale_after or (takeover and held.get("owner") == takeover):
                os.unlink(path)
                continue
            who = held.get("holder") or {}
            raise LockBusyError(
                f"Another backup of this store is running: {path} is held by {held.get('owner')} since {int(age)} s"
                + (f" (process {who.get('name')} {who.get('pid')} on {held.get('host')}, still running)" if who else "")
                + f"; taken over when that process is gone or after {stale_after} s"
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        return True
    raise LockBusyError(f"Could not take {path}")


def release_lock(store, owner):
    """Remove the lock when ``owner`` holds it; returns whether it was removed."""
    held = read_lock(store)
    if held is None or held.get("owner") != owner:
        return False
    os.unlink(os.path.join(store, LOCK))
    return True


def tree_size(root):
    """Bytes of the regular files under ``root`` (0 when it does not exist)."""
    total = 0
    for current, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(current, name)
            if os.path.isfile(full) and not os.path.islink(full):
                total += os.path.getsize(full)
    return total


def free_bytes(path):
    """Bytes free for an unprivileged writer on the filesystem of ``path`` (its nearest existing parent)."""
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def estimate_size(store, database_size=None):
    """Bytes the next backup is expected to take: the latest sealed backup's size, scaled by how much
    the database grew since (``database_size`` now against the manifest's); None without a backup.
    """
    for item in list_backups(store):
        manifest = item["manifest"] or {}
        size = manifest.get("size_bytes")
        if not size:
            continue
        then = manifest.get("database_size_bytes")
        try:
            ratio = float(database_size) / float(then) if database_size and then else 1.0
        except (TypeError, ValueError):
            ratio = 1.0
        return int(size * max(ratio, 1.0))
    return None


def discard(store, name):
    """Remove this run's ``<name>.partial`` (a failed backup); returns what it held and the room left.

    ``{"removed": bool, "partial_bytes": bytes written before the failure, "free_bytes": after removal}``
    """
    partial = os.path.join(store, name + PARTIAL_SUFFIX)
    written = tree_size(partial)
    removed = os.path.isdir(partial)
    if removed:
        shutil.rmtree(partial)
        _fsync_path(store, directory=True)
    return {"removed": removed, "partial_bytes": written, "free_bytes": free_bytes(store)}


def referenced_backups(record_dirs, store):
    """Names of the backups of ``store`` that release records name: ``<dir>/<release>/backup.json``
    holding ``name`` (or ``path``) of a backup. A backup's name starts with its database, the store's
    last path element, so a record of another database names nothing here. A record that cannot be
    read is an error: better keep everything than guess.
    """
    names = set()
    database = os.path.basename(os.path.normpath(store))
    for record_dir in record_dirs:
        if not os.path.isdir(record_dir):
            continue
        for release in sorted(os.listdir(record_dir)):
            path = os.path.join(record_dir, release, "backup.json")
            if not os.path.isfile(path):
                continue
            try:
                with open(path, encoding="utf-8") as handle:
                    data = json.load(handle)
            except (OSError, ValueError) as exc:
                raise BackupStoreError(f"Cannot read the release record {path}: {exc}; no backup was deleted") from exc
            if not isinstance(data, dict):
                continue
            name = str(data.get("name") or os.path.basename(str(data.get("path") or "").rstrip("/")))
            match = NAME_RE.match(name)
            if match and match.group("db") == database:
                names.add(name)
    return sorted(names)


def summary(item, problems=None):
    """A JSON-friendly description of one backup from list_backups()."""
    manifest = item.get("manifest") or {}
    result = {
        "name": item["name"],
        "path": item["path"],
        "time": item["time"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "database": manifest.get("database"),
        "format": manifest.get("format"),
        "size_bytes": manifest.get("size_bytes"),
        "manifest": manifest or None,
    }
    if problems is not None:
        result["problems"] = problems
        result["valid"] = not problems
    return result


# The store's actions as postgres_backup_store runs them, shared with postgres_backup_exec (which takes
# the lock before its tools and commits after them, in the same call: one Ansible round trip fewer each).
class ActionFailed(BackupStoreError):
    """A store action failed; ``result`` is what the module returns with the failure."""

    def __init__(self, msg, result):
        super().__init__(msg)
        self.result = result


def human(size):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024.0
    return str(size)


def room_needed(store, database_size):
    return {"free_bytes": free_bytes(store), "needed_bytes": estimate_size(store, database_size)}


def room_message(store, info):
    return (
        f"Failed to start a backup in {store}: it needs about {human(info['needed_bytes'])} (the latest backup's size, scaled by the"
        f" database's growth since) and only {human(info['free_bytes'])} are free there. Nothing was written; free"
        " some room or lower the retention."
    )


def take_lock(store, owner, *, stale_after=86400, controller=None, takeover=None, database_size=None, name=None, check_mode=False):
    """action=lock: the lock; then, with ``database_size``, the room; then, with ``name``, the partial backup's directory.

    Returns ``{"changed": taken now, "lock": its record, "latest": ..., "room": ..., "partial_path": ...}``.
    A busy lock raises ActionFailed with ``busy`` true and the holder's record in ``lock`` (for a caller
    that can tell whether that run is gone: ``takeover``); too little room raises it with the lock held.
    """
    result = {"changed": False, "path": store, "busy": False}
    held = read_lock(store)
    result["lock"] = held
    result["latest"] = latest_name(store)
    if not (held and held.get("owner") == owner):
        result["changed"] = check_mode
        if not check_mode:
            os.makedirs(store, mode=DIR_MODE, exist_ok=True)
            try:
                result["changed"] = acquire_lock(store, owner, stale_after, holder=find_holder(), controller=controller, takeover=takeover)
            except LockBusyError as exc:
                result["lock"] = read_lock(store)
                result["busy"] = True
                raise ActionFailed(f"Failed to lock the backup store {store}: {exc}", result) from None
            result["lock"] = read_lock(store)
    if database_size is not None:
        info = room_needed(store, database_size)
        result["room"] = info
        if info["needed_bytes"] is not None and info["free_bytes"] < info["needed_bytes"]:
            raise ActionFailed(room_message(store, info), result)
    if name and not check_mode:
        partial = os.path.join(store, name + PARTIAL_SUFFIX)
        os.makedirs(partial, mode=DIR_MODE, exist_ok=True)
        os.chmod(partial, DIR_MODE)
        result["partial_path"] = partial
    return result


def retention(options):
    """prune_store's keywords from a module's options (keep_daily, keep_weekly, keep_monthly, keep_referenced_by, keep_names)."""
    return {
        "daily": options["keep_daily"], "weekly": options["keep_weekly"], "monthly": options["keep_monthly"],
        "keep_names": options.get("keep_names") or (), "keep_referenced_by": options["keep_referenced_by"],
    }


def prune_store(store, result, *, daily, weekly, monthly, keep_names=(), keep_referenced_by=(), current_partial=None, check_mode=False, diff=False):
    """action=prune (or after a commit): the retention's plan into ``result["pruned"]``, applied unless ``check_mode``."""
    keep = list(keep_names) + referenced_backups(keep_referenced_by, store)
    plan = plan_prune(store, daily, weekly, monthly, keep_names=keep, current_partial=current_partial)
    plan["referenced"] = sorted(set(keep) & set(plan["kept"]))
    result["pruned"] = plan
    changed = bool(plan["backups"] or plan["partials"])
    result["changed"] = result.get("changed", False) or changed
    if diff:
        before = sorted(plan["kept"] + plan["backups"] + plan["partials"])
        result["diff"] = {"before": "\n".join(before) + "\n", "after": "\n".join(sorted(plan["kept"])) + "\n"}
    if changed and not check_mode:
        apply_prune(store, plan)
    return result


def commit(store, name, metadata, *, owner=None, unlock=False, retention=None, check_mode=False, diff=False):
    """action=commit: seal, verify (presence and size against the manifest just computed) and promote
    ``<name>.partial``; then with ``retention`` (prune_store's keywords) the retention, and with ``unlock``
    the lock of ``owner`` given back. A failure after the promotion raises ActionFailed saying the backup is good.
    """
    result = {"changed": True, "path": store, "backup_path": os.path.join(store, name), "committed": False, "unlocked": False}
    if check_mode:
        return result
    result["manifest"] = seal(store, name, metadata)
    promote(store, name, manifest=result["manifest"])
    result["committed"] = True
    step = "apply the retention"
    try:
        if retention is not None:
            prune_store(store, result, current_partial=name, diff=diff, **retention)
        step = "give back the lock"
        if unlock:
            release_lock(store, owner)
            result["unlocked"] = True
    except (BackupStoreError, OSError) as exc:
        raise ActionFailed(f"The backup {name} in {store} was verified and marked latest, but the commit failed to {step}: {exc}", result) from exc
    return result


def store_info(path, name=None, checksums=False):
    """What postgres_backup_info returns of a store: its backups (newest first), the one marked latest, the
    backup ``name`` (or the latest) selected and, with ``checksums``, checked against its manifest; the
    ``.partial`` leftovers and the lock."""
    items = list_backups(path)
    latest = latest_name(path)
    wanted = name or latest
    selected = None
    for item in items:
        if item["name"] == wanted:
            problems = verify(item["path"], item["manifest"]) if checksums else None
            selected = summary(item, problems)
    listing = []
    for item in items:
        entry = summary(item)
        entry.pop("manifest")
        listing.append(entry)
    return {"backups": listing, "latest": latest, "backup": selected, "partials": list_partials(path), "lock": read_lock(path)}
