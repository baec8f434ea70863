# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The work of the redis_memory module: Redis memory units, the memory a Redis process can really
use (host RAM, cgroup v1 or v2 limit), the plan (before/after with unit normalisation), CONFIG SET,
CONFIG REWRITE and the check of the config file.

Pure functions take plain values (and a filesystem root for /proc and /sys, so tests can lay out
their own); the functions that talk to Redis take a redis-py client.
"""

from __future__ import annotations

import os
import re

# Redis 7's eviction policies: what a server that does not name its own is assumed to accept. The
# module reads the list from the server (server_policies) so that a newer version's policies work.
POLICIES = (
    "volatile-lru",
    "allkeys-lru",
    "volatile-lfu",
    "allkeys-lfu",
    "volatile-random",
    "allkeys-random",
    "volatile-ttl",
    "noeviction",
)

# Redis's own unit rules (memtoll() in util.c, and the header of redis.conf): case-insensitive,
# "k"/"m"/"g" are powers of 1000 and "kb"/"mb"/"gb" powers of 1024; "b" or no unit means bytes.
UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1024,
    "m": 1000**2,
    "mb": 1024**2,
    "g": 1000**3,
    "gb": 1024**3,
}
_MEMORY_RE = re.compile(r"^\s*(\d+)\s*(b|k|kb|m|mb|g|gb)?\s*$", re.IGNORECASE)
_PERCENT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")

# Redis 7 defaults of the memory section, to tell "absent from the config file" from "out of sync".
DEFAULTS = {
    "maxmemory": "0",
    "maxmemory-policy": "noeviction",
    "maxmemory-samples": "5",
    "maxmemory-eviction-tenacity": "10",
    "replica-ignore-maxmemory": "yes",
    "active-expire-effort": "1",
    "lazyfree-lazy-eviction": "no",
    "lazyfree-lazy-expire": "no",
    "lazyfree-lazy-server-del": "no",
    "lazyfree-lazy-user-del": "no",
    "lazyfree-lazy-user-flush": "no",
    "replica-lazy-flush": "no",
    "activedefrag": "no",
    "active-defrag-ignore-bytes": str(100 * 1024**2),
    "active-defrag-threshold-lower": "10",
    "active-defrag-threshold-upper": "100",
    "active-defrag-cycle-min": "1",
    "active-defrag-cycle-max": "25",
    "active-defrag-max-scan-fields": "1000",
    "jemalloc-bg-thread": "yes",
    "maxmemory-clients": "0",
}

# Valkey 8.0 frees lazily by default (valkey-io/valkey#913): its CONFIG REWRITE leaves these "yes"
# values out of the file, so an absent one means "yes" there, not Redis's "no".
VALKEY8_DEFAULTS = {
    "lazyfree-lazy-eviction": "yes",
    "lazyfree-lazy-expire": "yes",
    "lazyfree-lazy-server-del": "yes",
    "lazyfree-lazy-user-del": "yes",
    "lazyfree-lazy-user-flush": "yes",
    "replica-lazy-flush": "yes",
}


def defaults_for(info):
    """The memory-section defaults of the server whose INFO server section is ``info``: Redis's
    (DEFAULTS, the same in Redis 7 and 8), with Valkey 8's lazyfree defaults on Valkey 8 and later."""
    defaults = dict(DEFAULTS)
    match = re.match(r"\s*(\d+)\.", str((info or {}).get("valkey_version") or ""))
    if match and int(match.group(1)) >= 8:
        defaults.update(VALKEY8_DEFAULTS)
    return defaults


# Values at or above this are "no limit" in cgroup v1 (the page-aligned LONG_MAX).
_CGROUP_V1_UNLIMITED = 1 << 62


class RedisMemoryError(Exception):
    """A failure with a message an operator can act on."""


def parse_memory(value):
    """Bytes from a Redis memory value: ``512mb``, ``2GB``, ``1g`` (10^9), ``1048576``."""
    if isinstance(value, bool):
        raise RedisMemoryError(f"a memory size cannot be a boolean (got {value!r})")
    if isinstance(value, int):
        if value < 0:
            raise RedisMemoryError(f"a memory size cannot be negative (got {value})")
        return value
    match = _MEMORY_RE.match(str(value))
    if not match:
        raise RedisMemoryError(
            f"'{value}' is not a Redis memory size: use bytes or a unit b, k (1000), kb (1024), m (1000^2), mb (1024^2), g (1000^3) or gb (1024^3)"
        )
    return int(match.group(1)) * UNITS[(match.group(2) or "").lower()]


def parse_percent(value):
    """The percentage in ``75%`` as a float, or None when the value is not a percentage."""
    match = _PERCENT_RE.match(str(value))
    if not match:
        return None
    percent = float(match.group(1))
    if percent <= 0 or percent > 100:
        raise RedisMemoryError(f"a percentage of the available memory must be above 0 and at most 100 (got {value})")
    return percent


def human(num):
    """Bytes for people: 536870912 -> '512.0 MiB'."""
    if num < 1024:
        return f"{int(num)} B"
    size = float(num)
    for unit in ("KiB", "MiB"):
        size /= 1024
        if size < 1024:
            return f"{size:.1f} {unit}"
    return f"{size / 1024:.1f} GiB"


def resolve_maxmemory(value, limit_bytes):
    """Bytes of ``maxmemory``: a size, or a percentage of ``limit_bytes`` (the process's memory)."""
    percent = parse_percent(value)
    if percent is None:
        return parse_memory(value)
    if not limit_bytes:
        raise RedisMemoryError(
            f"maxmemory '{value}' is a percentage, but the memory the Redis process can use is unknown "
            "(the server does not run on the host the module runs on): give memory_limit or a size"
        )
    return int(limit_bytes * percent / 100)


def normalize(name, value):
    """The string CONFIG GET returns for ``value``: booleans as yes/no, memory sizes as bytes."""
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:f}".rstrip("0").rstrip(".")
    else:
        text = str(value).strip()
    if text.lower() in ("yes", "no") or name == "maxmemory-policy":
        text = text.lower()
    elif _MEMORY_RE.match(text):
        text = str(parse_memory(text))
    return text


# --- the memory the process can use -----------------------------------------------------------


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return None


def read_memtotal(root="/"):
    """MemTotal of /proc/meminfo in bytes, or None."""
    text = _read(os.path.join(root, "proc/meminfo"))
    if text:
        for line in text.splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return None


def _cgroup_paths(pid, root):
    """(version, path inside the hierarchy) pairs of the process's memory cgroup."""
    text = _read(os.path.join(root, f"proc/{pid}/cgroup")) or _read(os.path.join(root, "proc/self/cgroup")) or ""
    found = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hier, controllers, path = parts
        if hier == "0" and controllers == "":
            found.append(("v2", path))
        elif "memory" in controllers.split(","):
            found.append(("v1", path))
    return found


def _candidates(base, path):
    """The cgroup directory of the process and each ancestor up to the mount root, deepest first.
    Inside a container the namespace root is the container's own cgroup, so the root is included."""
    out = []
    rel = path.strip("/")
    while True:
        out.append(os.path.join(base, rel) if rel else base)
        if not rel:
            return out
        rel = os.path.dirname(rel)


def read_cgroup_limit(pid="self", root="/"):
    """(bytes, source) of the tightest memory limit on the process's cgroup and its ancestors,
    or (None, None) when there is none."""
    best = (None, None)
    for version, path in _cgroup_paths(pid, root):
        if version == "v2":
            base, name = os.path.join(root, "sys/fs/cgroup"), "memory.max"
        else:
            base, name = os.path.join(root, "sys/fs/cgroup/memory"), "memory.limit_in_bytes"
        for directory in _candidates(base, path):
            text = _read(os.path.join(directory, name))
            if text is None or text == "max" or not text.isdigit():
                continue
            value = int(text)
            if version == "v1" and value >= _CGROUP_V1_UNLIMITED:
                continue
            if best[0] is None or value < best[0]:
                best = (value, "cgroup {} {}".format(version, os.path.join("/", os.path.relpath(directory, root), name)))
    return best


def process_memory_limit(pid, root="/"):
    """What the Redis process can really use: the host's RAM, or its cgroup's limit when lower.
    ``pid`` is the server's process_id; when that process is not visible here (the server runs
    elsewhere), the limit is unknown (bytes None)."""
    comm = _read(os.path.join(root, f"proc/{pid}/comm")) if pid else None
    if not comm or not comm.startswith("redis"):
        return {"bytes": None, "source": "unknown: the Redis process is not visible from here", "host_bytes": None, "cgroup_bytes": None}
    host = read_memtotal(root)
    cgroup, cgroup_source = read_cgroup_limit(pid, root)
    if cgroup is not None and (host is None or cgroup < host):
        return {"bytes": cgroup, "source": cgroup_source, "host_bytes": host, "cgroup_bytes": cgroup}
    return {"bytes": host, "source": "host MemTotal (/proc/meminfo)", "host_bytes": host, "cgroup_bytes": cgroup}


# --- the config file --------------------------------------------------------------------------


def _split(line):
    """Arguments of a redis.conf line, honouring double and single quotes (sdssplitargs, simplified)."""
    args, cur, quote, i = [], None, None, 0
    while i < len(line):
        char = line[i]
        if quote:
            if char == "\\" and quote == '"' and i + 1 < len(line):
                cur += line[i + 1]
                i += 1
            elif char == quote:
                quote = None
            else:
                cur += char
        elif char in "\"'":
            quote, cur = char, cur or ""
        elif char.isspace():
            if cur is not None:
                args.append(cur)
                cur = None
        else:
            cur = (cur or "") + char
        i += 1
    if cur is not None:
        args.append(cur)
    return args


def parse_config(text):
    """The last value of each directive in a redis.conf text: {name: 'value'} (lower-case names)."""
    values = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        args = _split(line)
        if len(args) >= 2:
            values[args[0].lower()] = " ".join(args[1:])
    return values


def file_out_of_sync(desired, file_values, defaults=None):
    """Names whose value the config file would not give the server at its next start; ``defaults``
    are the server's own (defaults_for), Redis's when not given."""
    defaults = DEFAULTS if defaults is None else defaults
    out = []
    for name, value in desired.items():
        if name in file_values:
            try:
                same = normalize(name, file_values[name]) == value
            except RedisMemoryError:
                same = False
        else:
            # Absent: the server starts with its default. CONFIG REWRITE leaves a default value out, so
            # a parameter whose default we do not know counts as in sync (it cannot be told apart).
            same = name not in defaults or defaults[name] == value
        if not same:
            out.append(name)
    return sorted(out)


# --- the plan -----------------------------------------------------------------------------------


# Redis (7 and newer) and Valkey answer a CONFIG SET of an enum parameter to a value they do not accept
# with the values they do: "... argument(s) must be one of the following: volatile-lru, ...".
_ONE_OF_RE = re.compile(r"must be one of the following:\s*([A-Za-z0-9_-]+(?:\s*,\s*[A-Za-z0-9_-]+)*)")
PROBE_POLICY = "opskit-probe-not-a-policy"


def parse_policies(message):
    """The policies a server's refusal of a maxmemory-policy value names, or None when it names none."""
    match = _ONE_OF_RE.search(str(message))
    if not match:
        return None
    return tuple(p.strip() for p in match.group(1).split(",") if p.strip())


def server_policies(client, refused=(Exception,)):
    """The eviction policies this server accepts, read from it, or None when it does not say.

    Asks the server to take a policy no version has (``PROBE_POLICY``): it refuses it, changing
    nothing, and names the ones it accepts. ``refused`` is the exception class of a server error
    (redis.exceptions.ResponseError for redis-py).
    """
    try:
        client.config_set("maxmemory-policy", PROBE_POLICY)
    except refused as exc:
        return parse_policies(exc)
    return None


def desired_config(maxmemory, policy, config, limit_bytes, policies=POLICIES):
    """{name: normalised value} of everything asked for, ``maxmemory`` resolved to bytes; a policy must be
    one of ``policies`` (the server's, else Redis 7's)."""
    desired = {}
    for name, value in (config or {}).items():
        key = str(name).strip().lower().replace("_", "-")
        if value is None:
            continue
        desired[key] = normalize(key, value)
    if maxmemory is not None and str(maxmemory).strip() != "":
        desired["maxmemory"] = str(resolve_maxmemory(maxmemory, limit_bytes))
    if policy:
        desired["maxmemory-policy"] = normalize("maxmemory-policy", policy)
    if "maxmemory-policy" in desired and desired["maxmemory-policy"] not in policies:
        raise RedisMemoryError("maxmemory-policy '{}' is not one of {}".format(desired["maxmemory-policy"], ", ".join(policies)))
    return desired


def check_guards(desired, limit, force, used_as_cache):
    """(errors, warnings) of a plan: maxmemory above what the process can use, noeviction on a cache."""
    errors, warnings = [], []
    if "maxmemory" in desired and limit.get("bytes"):
        wanted = int(desired["maxmemory"])
        if wanted > limit["bytes"]:
            msg = f"maxmemory {human(wanted)} ({wanted} bytes) is above the {human(limit['bytes'])} the Redis process can use ({limit['source']})"
            if force:
                warnings.append(msg + "; applied anyway because force is set")
            else:
                errors.append(msg + "; lower it, or set force to apply it anyway")
        elif wanted == 0:
            warnings.append("maxmemory 0 means no limit: Redis grows until the {} the process can use runs out".format(human(limit["bytes"])))
    if used_as_cache and desired.get("maxmemory-policy") == "noeviction":
        warnings.append(
            "maxmemory-policy noeviction on an instance used as a cache: when it is full, writes fail with OOM errors "
            "instead of evicting keys (use allkeys-lru or allkeys-lfu for a cache)"
        )
    return errors, warnings


def plan(current, desired):
    """(before, after, changes) restricted to the names asked for."""
    before = {name: current.get(name) for name in sorted(desired)}
    after = dict(before)
    after.update(desired)
    changes = {name: desired[name] for name in sorted(desired) if current.get(name) != desired[name]}
    return before, after, changes


# --- against a server -----------------------------------------------------------------------------


def config_get(client, names):
    """{name: value} from CONFIG GET; a name the server does not know is an error."""
    current = {}
    for name in names:
        reply = client.config_get(name)
        if name not in reply:
            raise RedisMemoryError(f"the server has no configuration parameter '{name}'")
        current[name] = str(reply[name])
    return current


def config_set(client, changes):
    """One atomic CONFIG SET of every change (Redis 7 takes several pairs at once)."""
    if not changes:
        return
    args = []
    for name in sorted(changes):
        args.extend([name, changes[name]])
    client.execute_command("CONFIG", "SET", *args)


def server_info(client):
    """(config_file, process_id) of the server."""
    info = client.info("server")
    return info.get("config_file") or "", info.get("process_id")
