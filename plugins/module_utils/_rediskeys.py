# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Key patterns of a Redis database: count, purge (SCAN + UNLINK) and snapshot (SCAN + DUMP).

Private to the opskit.webstack collection. Every function takes a redis-py client and never sends
KEYS: the keyspace is walked with SCAN in steps of ``scan_count``, so that no client waits long
behind one command.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import time

from ansible_collections.opskit.webstack.plugins.module_utils._redis_bulk import (
    SNAPSHOT_FORMAT,
    SNAPSHOT_VERSION,
)


def _glob_tokens(pattern):
    """Split a Redis glob into ``("*", None)``, ``("?", None)`` and ``("set", frozenset of byte values)``
    tokens, reading ``[...]`` classes, ``^`` negation, ranges and ``\\`` escapes as Redis's
    stringmatchlen() does (an unterminated class ends at the end of the pattern)."""
    data = pattern.encode("utf-8", "surrogateescape") if isinstance(pattern, str) else bytes(pattern)
    tokens = []
    i = 0
    while i < len(data):
        char = data[i]
        if char == 0x2A:  # *
            tokens.append(("*", None))
        elif char == 0x3F:  # ?
            tokens.append(("?", None))
        elif char == 0x5C and i + 1 < len(data):  # \x: the literal x
            i += 1
            tokens.append(("set", frozenset([data[i]])))
        elif char == 0x5B:  # [
            i += 1
            negate = i < len(data) and data[i] == 0x5E
            if negate:
                i += 1
            members = set()
            while i < len(data) and data[i] != 0x5D:
                if data[i] == 0x5C and i + 1 < len(data):
                    i += 1
                    members.add(data[i])
                elif i + 2 < len(data) and data[i + 1] == 0x2D:
                    low, high = sorted((data[i], data[i + 2]))
                    members.update(range(low, high + 1))
                    i += 2
                else:
                    members.add(data[i])
                i += 1
            tokens.append(("set", frozenset(set(range(256)) - members if negate else members)))
        else:
            tokens.append(("set", frozenset([char])))
        i += 1
    return tokens


def scan_argument_spec():
    """The options of the modules that walk a key pattern with SCAN (redis_keys_info, redis_purge,
    redis_snapshot); each module documents O(pattern) in its own words."""
    return dict(
        pattern=dict(type="str", required=True),
        scan_count=dict(type="int", default=1000),
    )


def matches_everything(pattern):
    """True for a glob that can match every key of a database, in any spelling.

    That is a pattern with a ``*`` and no fixed character: only ``*``, ``?`` and character classes
    of more than one character (``*``, ``**``, ``?*``, ``[^x]*``, ``*[^:]*``, ``[\\x00-\\xff]*``,
    ``[a-z]*`` when every key is lower case...). A literal character or a one-character class
    (``user:*``, ``[*]``, ``\\**``) anchors it to some keys; ``?`` alone matches one-byte keys only.
    Purging such a pattern can empty the database, which needs an explicit confirmation.
    """
    if not pattern:
        return False
    tokens = _glob_tokens(pattern)
    has_star = any(kind == "*" for kind, _members in tokens)
    fixed = any(kind == "set" and len(members) <= 1 for kind, members in tokens)
    return has_star and not fixed


def scan_keys(client, pattern, scan_count=1000, limit=0, key_type=None):
    """Yield the keys matching pattern, each once, in SCAN order; stop after ``limit`` (0: all)."""
    seen = set()
    cursor = 0
    while True:
        kwargs = dict(match=pattern, count=scan_count)
        if key_type:
            kwargs["_type"] = key_type
        cursor, keys = client.scan(cursor, **kwargs)
        for key in keys:
            if key in seen:
                continue
            seen.add(key)
            yield key
            if limit and len(seen) >= limit:
                return
        if int(cursor) == 0:
            return


def count_keys(client, pattern, scan_count=1000, limit=0, sample=5, with_ttl=False):  # noqa: PLR0917 -- keywords in every caller
    """How many keys match (up to ``limit``), a sample of them, and their TTLs when asked."""
    found = 0
    keys = []
    for key in scan_keys(client, pattern, scan_count, limit):
        found += 1
        if len(keys) < sample:
            keys.append(key)
    result = dict(count=found, sample=[k.decode("utf-8", "backslashreplace") for k in keys])
    if with_ttl and keys:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.pttl(key)
        result["sample_ttl_ms"] = dict(zip(result["sample"], pipe.execute(), strict=False))
    return result


def purge(client, pattern, batch_size=500, scan_count=1000, check_mode=False):
    """UNLINK every key matching pattern, found with SCAN, in batches of batch_size.

    Returns the keys removed (UNLINK's own count, so a key gone meanwhile is not counted), the
    batches sent and the longest batch (ms) as seen by the client. In check mode, counts only.
    """
    started = time.monotonic()
    removed = 0
    matched = 0
    batches = 0
    longest = 0.0
    pending = []

    def flush(keys):
        t0 = time.monotonic()
        done = client.unlink(*keys)
        return done, (time.monotonic() - t0) * 1000.0

    for key in scan_keys(client, pattern, scan_count):
        matched += 1
        if check_mode:
            continue
        pending.append(key)
        if len(pending) >= batch_size:
            done, ms = flush(pending)
            removed += done
            batches += 1
            longest = max(longest, ms)
            pending = []
    if pending:
        done, ms = flush(pending)
        removed += done
        batches += 1
        longest = max(longest, ms)
    return dict(
        matched=matched,
        purged=0 if check_mode else removed,
        batches=batches,
        longest_batch_ms=round(longest, 2),
        seconds=round(time.monotonic() - started, 3),
    )


def _expiry_ms(client, keys):
    """Absolute expiry (unix ms, -1 none, -2 gone) of each key: PEXPIRETIME, else now + PTTL."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("PEXPIRETIME", key)
    try:
        return pipe.execute()
    except Exception as exc:  # Redis < 7.0 has no PEXPIRETIME
        if "unknown command" not in str(exc).lower():
            raise
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.pttl(key)
    now = int(time.time() * 1000)
    return [now + ttl if ttl >= 0 else ttl for ttl in pipe.execute()]


def snapshot_lines(client, pattern, scan_count=1000, batch_size=1000):
    """The lines of a snapshot of pattern (header first, records sorted by key) and the key count.

    Each record holds the key, its DUMP payload and its absolute expiry, so that the same data
    gives the same file (a run that finds nothing new writes nothing) and a restore keeps the
    original deadline. Keys gone between SCAN and DUMP are left out.
    """
    keys = sorted(scan_keys(client, pattern, scan_count))
    records = []
    for start in range(0, len(keys), batch_size):
        chunk = keys[start : start + batch_size]
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.dump(key)
        payloads = pipe.execute()
        expiries = _expiry_ms(client, chunk)
        for key, payload, expiry in zip(chunk, payloads, expiries, strict=False):
            if payload is None or expiry == -2:
                continue
            records.append(
                json.dumps(
                    dict(
                        k=base64.b64encode(key).decode("ascii"),
                        v=base64.b64encode(payload).decode("ascii"),
                        x=int(expiry),
                    ),
                    separators=(",", ":"),
                    sort_keys=True,
                )
            )
    header = json.dumps(dict(format=SNAPSHOT_FORMAT, version=SNAPSHOT_VERSION, pattern=pattern, keys=len(records)), separators=(",", ":"), sort_keys=True)
    return [header, *records], len(records)


def file_sha256(path):
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def write_snapshot(lines, dest, mode=0o600, check_mode=False):
    """Write the lines atomically to dest unless it holds them already; return (changed, sha256)."""
    data = ("\n".join(lines) + "\n").encode("utf-8")
    new_sha = hashlib.sha256(data).hexdigest()
    if file_sha256(dest) == new_sha:
        return False, new_sha
    if check_mode:
        return True, new_sha
    directory = os.path.dirname(os.path.abspath(dest))
    fd, tmp = tempfile.mkstemp(prefix=".snapshot.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True, new_sha
