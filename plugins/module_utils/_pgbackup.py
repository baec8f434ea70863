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
import time

MANIFEST = "manifest.json"
LATEST = "latest"
LOCK = ".lock"
PARTIAL_SUFFIX = ".partial"
MANIFEST_VERSION = 1
NAME_RE = re.compile(r"^(?P<db>.+)-(?P<ts>\d{8}T\d{6}Z)$")
_CHUNK = 1024 * 1024
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


def file_index(root):
    """``{relative path: {"sha256": ..., "size": ...}}`` of every file of a backup but the manifest."""
    return {rel: {"sha256": sha256_file(os.path.join(root, rel)), "size": os.path.getsize(os.path.join(root, rel))} for rel in walk_files(root)}


def write_json_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
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


def verify(backup_path, manifest=None):
    """Problems of one backup as a list of ``"<file>: <what>"`` strings; empty when it is intact."""
    try:
        manifest = manifest or read_manifest(backup_path)
    except BackupStoreError as exc:
        return [str(exc)]
    problems = []
    present = set(walk_files(backup_path))
    for rel, expected in sorted(manifest["files"].items()):
        full = os.path.join(backup_path, rel)
        if rel not in present:
            problems.append(f"{full}: missing")
            continue
        size = os.path.getsize(full)
        if size != expected.get("size"):
            problems.append(f"{full}: size {size}, manifest says {expected.get('size')}")
            continue
        actual = sha256_file(full)
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


def promote(store, name):
    """Verify ``<name>.partial`` against its manifest, rename it to ``<name>`` and mark it latest."""
    partial = os.path.join(store, name + PARTIAL_SUFFIX)
    final = os.path.join(store, name)
    if os.path.exists(final):
        raise BackupStoreError(f"Cannot promote {partial}: {final} already exists")
    problems = verify(partial)
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


def acquire_lock(store, owner, stale_after, now=None):
    """Create ``<store>/.lock`` for ``owner``; returns False when ``owner`` already holds it.

    A lock older than ``stale_after`` seconds (a run that died) is taken over. Any other holder
    raises LockBusyError naming it.
    """
    now = time.time() if now is None else now
    path = os.path.join(store, LOCK)
    record = {"owner": owner, "host": socket.gethostname(), "pid": os.getpid(), "created": now}
    for _attempt in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            held = read_lock(store) or {}
            if held.get("owner") == owner:
                return False
            age = now - float(held.get("created") or 0)
            if age > stale_after:
                os.unlink(path)
                continue
            raise LockBusyError(
                f"Another backup of this store is running: {path} is held by {held.get('owner')} since {int(age)} s"
                f" (taken over after {stale_after} s)"
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
