# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The release record: the spine of a release, written before anything changes, read by the rollback.

One directory per release under the host's release directory::

    <release_dir>/<release_id>/
        journal.jsonl      one line per step boundary: {"step", "result", "at"} (host clock)
        record.json        what ran before the release (0600): services by image ID and digest,
                           the Compose and env files, the revision, the target
        files/             copies of the Compose files (0640) and env files (0600)
        backup.json        the pre-release backup (attachment)
        migration.json     the migration: revision from and to, the image that migrated (attachment)
        cache.json         the cache snapshot (attachment)
        report.json        the release's report (attachment)
    <release_dir>/latest -> <release_id>   the newest whole record

``record.json`` is written last, under a partial name, fsynced and renamed into place: a record is
whole or absent and never overwritten. Attachments are written the same way. The pure helpers here
(:func:`validate_record`, :func:`step_timings`, :func:`failed_step`) are unit-tested without Docker.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time

RECORD_FORMAT = 1
RECORD_REQUIRED = ("format", "release_id", "created", "project", "services", "compose_files", "env_files", "files", "extra")
ATTACHMENTS = ("backup", "migration", "cache", "report")
RELEASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
LABEL_SERVICE = "com.docker.compose.service"


class RecordError(Exception):
    """The record cannot be written or read; the message says which and why."""


def check_release_id(release_id):
    if not RELEASE_ID.match(release_id or ""):
        raise RecordError(f"Bad release id '{release_id}': letters, digits, '_', '.', ':' and '-', at most 128, "
                          "starting with a letter or digit")
    return release_id


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_file(src, dest, mode):
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
        shutil.copyfileobj(inp, out)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(dest, mode)


def write_json_atomic(path, data, mode=0o600, overwrite=True):
    """Write ``data`` as JSON to ``path`` under a partial name, fsync, rename. Returns True when written."""
    if not overwrite and os.path.lexists(path):
        raise RecordError(f"{path} exists already and is never overwritten")
    folder = os.path.dirname(path)
    fd, partial = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".partial-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(data, indent=4, sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(partial, mode)
        os.replace(partial, path)
        _fsync_dir(folder)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    return True


def release_path(release_dir, release_id):
    return os.path.join(release_dir, check_release_id(release_id))


def ensure_release_dir(release_dir, release_id):
    """Create ``<release_dir>/<release_id>`` (0700, and its parent 0700 when new). Returns (path, created)."""
    path = release_path(release_dir, release_id)
    if os.path.isdir(path):
        return path, False
    os.makedirs(release_dir, mode=0o700, exist_ok=True)
    os.mkdir(path, 0o700)
    _fsync_dir(release_dir)
    return path, True


# --- the journal --------------------------------------------------------------------------------

def mark_step(path, step, result, *, clock=time.time):
    """Append one step boundary to ``<path>/journal.jsonl`` and fsync it."""
    line = json.dumps({"step": step, "result": result, "at": round(clock(), 3)}, sort_keys=True)
    fd = os.open(os.path.join(path, "journal.jsonl"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(line + "\n")
        out.flush()
        os.fsync(out.fileno())


def read_journal(path):
    try:
        with open(os.path.join(path, "journal.jsonl"), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a crash: the steps before it still count
    return out


def step_timings(journal, *, now=None):
    """Per step, in order: {"step", "result", "seconds"}. A step lasts from its first mark to the next
    step's first mark (or its own last mark, or ``now``). Its result is its last mark's result; a step
    only marked "started" ended "ok" when another step followed it, and is "started" when it is the
    last (it was running when the release stopped)."""
    order, first, last = [], {}, {}
    for entry in journal:
        step = entry.get("step")
        if step not in first:
            order.append(step)
            first[step] = entry.get("at", 0.0)
        last[step] = entry
    out = []
    for i, step in enumerate(order):
        following = i + 1 < len(order)
        result = last[step].get("result", "started")
        end = first[order[i + 1]] if following else (last[step].get("at") if result != "started" else now)
        end = first[step] if end is None else end
        if result == "started" and following:
            result = "ok"  # the next step started: this one ended well
        out.append({"step": step, "result": result, "seconds": round(max(0.0, end - first[step]), 2)})
    return out


def fail_running(path, *, clock=time.time):
    """Mark the step a release is in (the last one, when it has not ended) as failed. Returns its name."""
    timings = step_timings(read_journal(path))
    if timings and timings[-1]["result"] == "started":
        mark_step(path, timings[-1]["step"], "failed", clock=clock)
        return timings[-1]["step"]
    return None


def failed_step(journal):
    """The step a failed or stopped release was in: the first step marked failed, else the one that was
    running when it stopped (None when every step ended ok)."""
    timings = step_timings(journal)
    for row in timings:  # the first failure is what failed the release (a rollback after it may fail too)
        if row["result"] == "failed":
            return row["step"]
    for row in reversed(timings):
        if row["result"] == "started":
            return row["step"]
    return None


# --- the record ---------------------------------------------------------------------------------

def record_services(containers, images, names):
    """The record's ``services``: per name, the image, image IDs, repo digests and containers now running."""
    digests = {i.get("Id"): list(i.get("RepoDigests") or []) for i in images}
    rows = sorted(({"service": ((c.get("Config") or {}).get("Labels") or {}).get(LABEL_SERVICE, ""),
                    "name": (c.get("Name") or "").lstrip("/"), "image": (c.get("Config") or {}).get("Image", ""),
                    "image_id": c.get("Image", "")} for c in containers), key=lambda r: r["name"])
    out = {}
    for name in names:
        ctrs = [r for r in rows if r["service"] == name]
        first = ctrs[0] if ctrs else {}
        out[name] = {
            "image": first.get("image"),
            "image_id": first.get("image_id"),
            "image_ids": list(dict.fromkeys(r["image_id"] for r in ctrs)),
            "repo_digests": digests.get(first["image_id"], []) if first else [],
            "replicas": len(ctrs),
            "containers": [r["name"] for r in ctrs],
        }
    return out


def build_record(release_id, *, project, project_dir, host, env, compose_files, env_files, containers, images, names,
                 target, extra, clock=time.gmtime):
    """The record of what runs now. With no ``env_files``, Compose reads ``<project_dir>/.env`` when it exists:
    the record keeps that one, so that a rollback reads what the release read."""
    if not env_files and os.path.isfile(os.path.join(project_dir, ".env")):
        env_files = [os.path.join(project_dir, ".env")]
    if not names:
        names = sorted({((c.get("Config") or {}).get("Labels") or {}).get(LABEL_SERVICE, "") for c in containers} - {""})
    sources = list(compose_files) + list(env_files)
    if len({os.path.basename(p) for p in sources}) != len(sources):
        raise RecordError("The record keeps each Compose and env file by its base name, so base names must differ: "
                          + ", ".join(sources))
    return {
        "format": RECORD_FORMAT,
        "release_id": release_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", clock()),
        "host": host,
        "project": project,
        "project_dir": project_dir,
        "compose_files": list(compose_files),
        "env_files": list(env_files),
        "files": {src: "files/" + os.path.basename(src) for src in sources},
        "env": dict(env),
        "services": record_services(containers, images, names),
        "target": dict(target),
        "extra": dict(extra),
    }


def write_record(release_dir, record, *, check_mode=False):
    """Write ``record.json`` (0600) and ``files/`` (Compose files 0640, env files 0600) into the release's
    directory and point ``latest`` at it. Returns the directory. Raises RecordError when the record exists
    already: a record is never overwritten."""
    path = release_path(release_dir, record["release_id"])
    if os.path.lexists(os.path.join(path, "record.json")):
        raise RecordError(f"The release record {path}/record.json exists already and is never overwritten: "
                          "choose another release id (or leave it empty for a timestamp).")
    missing = [src for src in record["files"] if not os.path.isfile(src)]
    if missing:
        raise RecordError("Cannot record the release: missing files " + ", ".join(missing))
    if check_mode:
        return path
    ensure_release_dir(release_dir, record["release_id"])
    files = os.path.join(path, "files")
    partial = tempfile.mkdtemp(prefix=".files.partial-", dir=path)
    try:
        for src in record["compose_files"]:
            _copy_file(src, os.path.join(partial, os.path.basename(src)), 0o640)
        for src in record["env_files"]:
            _copy_file(src, os.path.join(partial, os.path.basename(src)), 0o600)
        _fsync_dir(partial)
        if os.path.isdir(files):  # left by a run stopped between the files and the record
            shutil.rmtree(files)
        os.rename(partial, files)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    write_json_atomic(os.path.join(path, "record.json"), record, 0o600, overwrite=False)
    link = os.path.join(release_dir, "latest")
    tmp_link = os.path.join(release_dir, f".latest.{os.getpid()}")
    if os.path.lexists(tmp_link):
        os.unlink(tmp_link)
    os.symlink(record["release_id"], tmp_link)
    os.replace(tmp_link, link)
    _fsync_dir(release_dir)
    return path


def attach(path, name, data, *, check_mode=False):
    """Write attachment ``name`` (backup, migration, cache, report) into the release's directory.
    Returns True when it changed."""
    if name not in ATTACHMENTS:
        raise RecordError(f"Unknown attachment '{name}' (one of {', '.join(ATTACHMENTS)})")
    target = os.path.join(path, name + ".json")
    try:
        with open(target, encoding="utf-8") as handle:
            if json.load(handle) == data:
                return False
    except (OSError, ValueError):
        pass
    if not check_mode:
        write_json_atomic(target, data, 0o600)
    return True


# --- reading ------------------------------------------------------------------------------------

def validate_record(record, project=None):
    """The problems of a record, as sentences (empty when it is sound)."""
    problems = []
    if not isinstance(record, dict):
        return ["it is not a JSON object"]
    missing = [key for key in RECORD_REQUIRED if key not in record]
    if missing:
        problems.append("it lacks " + ", ".join(missing))
    if record.get("format", RECORD_FORMAT) != RECORD_FORMAT:
        problems.append(f"its format is {record.get('format')}, this collection reads format {RECORD_FORMAT}")
    if project and record.get("project") not in (None, project):
        problems.append(f"it describes project {record.get('project')}, not {project}")
    services = record.get("services")
    if "services" in record and (not isinstance(services, dict) or not services):
        problems.append("it names no service")
    return problems


def _load(path, name):
    try:
        with open(os.path.join(path, name), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise RecordError(f"{os.path.join(path, name)} is not valid JSON: {exc}") from exc


def resolve(release_dir, release_id="previous", record_dir=None):
    """The record directory: ``record_dir`` when given, else ``<release_dir>/<id>`` (previous/latest
    follow the ``latest`` link)."""
    if record_dir:
        return record_dir.rstrip("/")
    if not release_dir:
        raise RecordError("Give the release directory or the record directory")
    if release_id in ("previous", "latest"):
        link = os.path.join(release_dir, "latest")
        if not os.path.lexists(link):
            raise RecordError(f"No release has been recorded in {release_dir} (no 'latest' link): nothing to put back")
        return os.path.join(release_dir, os.readlink(link))
    return release_path(release_dir, release_id)


def read(path, project=None):
    """Everything known about one release: record, attachments, journal, step timings."""
    if not os.path.isdir(path):
        raise RecordError(f"No release record at {path}")
    record = _load(path, "record.json")
    if record is None:
        raise RecordError(f"No release record at {path}/record.json (the release stopped before its record step)")
    problems = validate_record(record, project)
    if problems:
        raise RecordError(f"The release record {path}/record.json is not usable: " + "; ".join(problems))
    journal = read_journal(path)
    out = {"path": path, "release_id": record["release_id"], "record": record, "journal": journal,
           "steps": step_timings(journal)}
    for name in ATTACHMENTS:
        out[name] = _load(path, name + ".json") or {}
    return out


def list_releases(release_dir):
    """Every release directory with a whole record, oldest first: id, created, backup name (when one)."""
    out = []
    try:
        names = sorted(os.listdir(release_dir))
    except FileNotFoundError:
        return out
    for name in names:
        path = os.path.join(release_dir, name)
        if name.startswith(".") or name == "latest" or os.path.islink(path) or not os.path.isdir(path):
            continue
        try:
            record = _load(path, "record.json")
            backup = _load(path, "backup.json") or {}
        except RecordError:
            continue
        if record is None:
            continue
        out.append({"release_id": name, "created": record.get("created"), "backup": backup.get("name"),
                    "backup_path": backup.get("path")})
    return sorted(out, key=lambda r: (r["created"] or "", r["release_id"]))
