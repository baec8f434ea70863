# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pipelined bulk loading of Redis keys: file readers and a writer/reader loader.

Private to the opskit.webstack collection. The connection (TLS, AUTH with ACL user, SELECT) is made
by redis-py (_redis.connect_raw()); after that the loader writes RESP it encodes itself
(_redis_resp.py), in large buffers, on the connection's socket while a second thread reads and
checks every reply, so that the client is never idle waiting for the server and the server never
waits for the client (as ``redis-cli --pipe``). redis-py's pipeline builds a Python object per
command and reads the replies only after the whole batch was sent, which caps it at about a fifth
of the throughput.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import threading
import time
from collections import deque
from itertools import chain, repeat

from ansible_collections.opskit.webstack.plugins.module_utils._redis_resp import (
    NIL,
    OK,
    ProtocolError,
    key_encoder,
    parse_reply,
    restore_command,
    set_block_encoder,
    set_encoder,
)

SNAPSHOT_FORMAT = "opskit.redis-snapshot"
SNAPSHOT_VERSION = 1

LOAD_MODES = ("missing", "replace", "overwrite")
FILE_FORMATS = ("auto", "jsonl", "csv", "snapshot")


# --- input files -------------------------------------------------------------------------------
class RecordError(ValueError):
    """A line of the input file that cannot be loaded."""


def _as_bytes(value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8")


def ttl_to_ms(ttl, default_ttl):
    """Seconds (int, float or numeric string; empty or None for the default) to milliseconds.

    0 or a negative number means no expiry; returns None then.
    """
    if ttl is None or ttl == "":
        ttl = default_ttl
    if ttl is None or ttl == "":
        return None
    if isinstance(ttl, bool):
        raise RecordError("ttl must be a number of seconds, not a boolean")
    try:
        seconds = float(ttl)
    except (TypeError, ValueError):
        raise RecordError(f"ttl {ttl!r} is not a number of seconds") from None
    if math.isnan(seconds) or math.isinf(seconds):
        raise RecordError(f"ttl {ttl!r} is not a number of seconds")
    if seconds <= 0:
        return None
    return max(1, round(seconds * 1000))


def detect_format(path, first_line):
    """The format of an input file from its name, else from its first line."""
    lower = path.lower()
    for suffix, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".csv", "csv"), (".snapshot", "snapshot")):
        if lower.endswith(suffix) or lower.endswith(suffix + ".gz"):
            return fmt
    stripped = first_line.strip()
    if stripped.startswith(b"{"):
        try:
            head = json.loads(stripped)
        except ValueError:
            return "jsonl"
        return "snapshot" if isinstance(head, dict) and head.get("format") == SNAPSHOT_FORMAT else "jsonl"
    return "csv"


def parse_jsonl_line(line, default_ttl):
    """One JSON line {"key": ..., "value": ..., "ttl": seconds} to (key, value, ttl_ms)."""
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise RecordError(f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise RecordError("a JSON line must be an object with key, value and optionally ttl")
    if "key" not in obj or "value" not in obj:
        raise RecordError("a JSON line needs 'key' and 'value'")
    key = obj["key"]
    if not isinstance(key, str) or key == "":
        raise RecordError("'key' must be a non-empty string")
    return key.encode("utf-8"), _as_bytes(obj["value"]), ttl_to_ms(obj.get("ttl"), default_ttl)


def parse_csv_row(row, default_ttl):
    """One CSV row key,value[,ttl] to (key, value, ttl_ms)."""
    if len(row) not in (2, 3):
        raise RecordError(f"a CSV row needs 2 or 3 fields (key,value[,ttl]), found {len(row)}")
    if row[0] == "":
        raise RecordError("empty key")
    return row[0].encode("utf-8"), row[1].encode("utf-8"), ttl_to_ms(row[2] if len(row) == 3 else None, default_ttl)


def parse_snapshot_line(line):
    """One snapshot line {"k": b64 key, "v": b64 DUMP payload, "x": absolute expiry in ms or -1}."""
    try:
        obj = json.loads(line)
        key = base64.b64decode(obj["k"], validate=True)
        payload = base64.b64decode(obj["v"], validate=True)
        expire = int(obj.get("x", -1))
    except (ValueError, KeyError, TypeError) as exc:
        raise RecordError(f"not a snapshot record: {exc}") from None
    return key, payload, expire


def read_records(fileobj, fmt, default_ttl=None, errors=None):  # noqa: PLR0912 -- one branch per format and per kind of bad line
    """Yield (lineno, key, value, ttl_ms) from a binary file; a bad line is added to ``errors``.

    For ``snapshot`` the value is the DUMP payload and ttl_ms the absolute expiry (ms, -1: none).
    ``errors`` (a list) receives dicts {line, key, error}; without it a bad line raises RecordError.
    """

    def bad(lineno, exc, key=None):
        if errors is None:
            raise RecordError(f"line {lineno}: {exc}")
        errors.append(dict(line=lineno, key=key, error=str(exc)))

    if fmt == "csv":
        text = io.TextIOWrapper(fileobj, encoding="utf-8", newline="")
        reader = csv.reader(text)
        for row in reader:
            lineno = reader.line_num
            if not row or (lineno == 1 and [c.strip().lower() for c in row[:3]] in (["key", "value", "ttl"], ["key", "value"])):
                continue
            try:
                key, value, ttl = parse_csv_row(row, default_ttl)
            except RecordError as exc:
                bad(lineno, exc, row[0] if row else None)
                continue
            yield lineno, key, value, ttl
        text.detach()
        return
    lineno = 0
    for line in fileobj:
        lineno += 1
        if not line.strip():
            continue
        try:
            if fmt == "snapshot":
                if lineno == 1:
                    head = json.loads(line)
                    if not isinstance(head, dict) or head.get("format") != SNAPSHOT_FORMAT:
                        raise RecordError(f"not an {SNAPSHOT_FORMAT} file (no header line)")
                    if head.get("version") != SNAPSHOT_VERSION:
                        raise RecordError("snapshot version {!r} is not supported".format(head.get("version")))
                    continue
                key, value, ttl = parse_snapshot_line(line)
            else:
                key, value, ttl = parse_jsonl_line(line, default_ttl)
        except RecordError as exc:
            if fmt == "snapshot" and lineno == 1:
                raise
            bad(lineno, exc)
            continue
        except ValueError as exc:
            raise RecordError(f"line {lineno}: {exc}") from None
        yield lineno, key, value, ttl


# --- the loader ----------------------------------------------------------------------------------
class _Batch:
    __slots__ = ("done", "keys", "values")

    def __init__(self, keys, values):
        self.keys = keys
        self.values = values
        self.done = 0


class BulkLoader:
    """Write commands on a socket in large buffers; a reader thread checks every reply.

    ``classify(kind, value, batch, index)`` returns one of "written", "unchanged", "same", or
    an error string. "written" counts a key written that differs (changed), "same" a key written
    with the value it had (mode replace), "unchanged" a key left as it was (mode missing).
    """

    def __init__(self, sock, buffer_bytes=1 << 20, max_errors=20, threaded=True, reply_timeout=120.0):
        self.sock = sock
        self.buffer_bytes = buffer_bytes
        self.max_errors = max_errors
        self.threaded = threaded
        self.reply_timeout = reply_timeout
        self.counts = dict(sent=0, written=0, same=0, unchanged=0, failed=0)
        self.errors = []
        self._batches = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._reader_error = None
        self._buf = bytearray()

    # reply side
    def _record(self, outcome, batch, index):
        if outcome in ("written", "same", "unchanged"):
            self.counts[outcome] += 1
            return
        self.counts["failed"] += 1
        if len(self.errors) < self.max_errors:
            key = batch.keys[index]
            self.errors.append(dict(key=key.decode("utf-8", "backslashreplace"), error=outcome))

    def _consume(self, classify, fast):
        """Match the buffered replies with the sent commands; return False when more bytes are needed."""
        buf = self._buf
        pos = 0
        batches = self._batches
        while batches:
            batch = batches[0]
            remaining = len(batch.keys) - batch.done
            if remaining == 0:
                batches.popleft()
                continue
            if len(buf) - pos < 5:
                break
            token = bytes(buf[pos:pos + 5])
            if token in fast:
                run = min(remaining, (len(buf) - pos) // 5)
                if buf[pos:pos + 5 * run] == token * run:
                    self.counts[fast[token]] += run
                    batch.done += run
                    pos += 5 * run
                    continue
            parsed = parse_reply(buf, pos)
            if parsed is None:
                break
            kind, value, pos = parsed
            self._record(classify(kind, value, batch, batch.done), batch, batch.done)
            batch.done += 1
        del buf[:pos]

    def _reader(self, classify, fast):
        try:
            while True:
                with self._cond:
                    while not self._batches and not self._closed:
                        self._cond.wait()
                    if not self._batches and self._closed:
                        return
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    raise ProtocolError("the server closed the connection")
                self._buf += chunk
                self._consume(classify, fast)
        except Exception as exc:  # noqa: BLE001 -- any failure of the thread is handed to the writer, which raises it
            with self._cond:
                self._reader_error = exc
                self._cond.notify_all()

    def _send(self, keys, values, payload):
        batch = _Batch(keys, values)
        with self._cond:
            if self._reader_error is not None:
                raise self._reader_error
            self._batches.append(batch)
            self._cond.notify_all()
        self.sock.sendall(payload)
        self.counts["sent"] += len(keys)
        if not self.threaded:
            while self._batches:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    raise ProtocolError("the server closed the connection")
                self._buf += chunk
                self._consume(self._classify, self._fast)

    def run(self, batches, classify, fast=None):
        """Send every batch (keys, values, RESP payload) of ``batches``; return once each reply was read."""
        self._classify = classify
        self._fast = fast or {}
        thread = None
        if self.threaded:
            thread = threading.Thread(target=self._reader, args=(classify, self._fast), daemon=True)
            thread.start()
        try:
            for keys, values, payload in batches:
                if keys:
                    self._send(keys, values, payload)
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
        if thread is not None:
            deadline = time.monotonic() + self.reply_timeout
            while thread.is_alive():
                thread.join(0.5)
                if time.monotonic() > deadline:
                    raise ProtocolError(f"no complete reply from the server within {self.reply_timeout}s")
            if self._reader_error is not None:
                raise self._reader_error
        return self.counts


def _error_text(value):
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)


def set_classifier(mode):
    """Reply classification and fast paths for SET in the given mode."""
    if mode == "overwrite":
        def classify(kind, value, batch, index):
            return "written" if kind == "+" else _error_text(value)
        return classify, {OK: "written"}
    if mode == "missing":
        def classify(kind, value, batch, index):
            if kind == "+":
                return "written"
            if kind == "$" and value is None:
                return "unchanged"
            return _error_text(value) if kind == "-" else f"unexpected reply {value!r}"
        return classify, {OK: "written", NIL: "unchanged"}

    def classify_replace(kind, value, batch, index):
        if kind == "$":
            return "same" if value == batch.values[index] else "written"
        return _error_text(value) if kind == "-" else f"unexpected reply {value!r}"
    return classify_replace, {NIL: "written"}


def restore_classifier(mode):
    def classify(kind, value, batch, index):
        if kind == "+":
            return "written"
        if kind == "-" and mode == "missing" and value.startswith(b"BUSYKEY"):
            return "unchanged"
        return _error_text(value)
    return classify, {OK: "written"}


def check_classifier(mode, snapshot):
    """Classification of the read-only probes sent in check mode (EXISTS or GET)."""
    if mode == "missing" or snapshot:
        def classify(kind, value, batch, index):
            if kind == ":":
                return "unchanged" if value and mode == "missing" else "written"
            return _error_text(value)
        return classify, {b":0\r\n": "written", b":1\r\n": "unchanged" if mode == "missing" else "written"}

    def classify_get(kind, value, batch, index):
        if kind == "$":
            return "same" if value == batch.values[index] else "written"
        return _error_text(value)
    return classify_get, {NIL: "written"}


def commands_for(records, mode, snapshot, check_mode, now_ms, skipped):  # noqa: PLR0917 -- internal generator
    """Turn records into (key, value, command) for a load, a restore or a check-mode probe.

    Snapshot records whose absolute expiry has passed are counted in skipped["expired"], not sent.
    """
    if check_mode:
        probe = key_encoder("GET" if mode == "replace" and not snapshot else "EXISTS")
    encode_set = set_encoder(mode)
    for _dummy, key, value, ttl in records:
        if snapshot and ttl is not None and 0 < ttl <= now_ms:
            skipped["expired"] += 1
            continue
        if check_mode:
            yield key, value, probe(key)
        elif snapshot:
            yield key, value, restore_command(key, value, ttl, mode)
        else:
            yield key, value, encode_set(key, value, ttl)


def batched(commands, buffer_bytes, keep_values):
    """Group (key, value, command) into (keys, values, payload) of about buffer_bytes."""
    # Bound methods, rebound with each new batch: this loop runs once per key. ``len`` is a cheap
    # no-op for the values that need not be kept.
    parts, keys, values, size = [], [], [], 0
    add_part, add_key, add_value = parts.append, keys.append, values.append if keep_values else len
    for key, value, cmd in commands:
        add_part(cmd)
        add_key(key)
        add_value(value)
        size += len(cmd)
        if size >= buffer_bytes:
            yield keys, values, b"".join(parts)
            parts, keys, values, size = [], [], [], 0
            add_part, add_key, add_value = parts.append, keys.append, values.append if keep_values else len
    if parts:
        yield keys, values, b"".join(parts)


def csv_fast_commands(fileobj, mode, default_ttl, errors, lineno=0):
    """The (key, value, SET command) of a CSV file, without the csv module while the lines need no quoting.

    A line with exactly one or two commas and no double quote is split as it is (bytes, no
    decoding); from the first line with a double quote on, the rest of the file goes through the
    csv module (quoted fields, commas and newlines in values). Integer TTLs are sent as they are
    written, with SET ... EX; others become milliseconds (PX). Bad lines are added to ``errors``.
    ``fileobj`` is a binary file or an iterator of its lines; ``lineno`` the lines before them.
    """
    encode_ex = set_encoder(mode, "EX")
    encode_px = set_encoder(mode, "PX")
    default_ms = ttl_to_ms(None, default_ttl)
    rest = None
    for raw in fileobj:
        lineno += 1
        if b'"' in raw:
            rest = raw
            break
        fields = raw.rstrip(b"\r\n").split(b",")
        nfields = len(fields)
        if nfields == 3:
            key, value, ttl = fields
        elif nfields == 2:
            key, value = fields
            ttl = b""
        elif fields == [b""]:
            continue
        else:
            errors.append(dict(line=lineno, key=None, error=f"a CSV row needs 2 or 3 fields (key,value[,ttl]), found {nfields}"))
            continue
        if lineno == 1 and key.strip().lower() == b"key" and value.strip().lower() == b"value":
            continue
        if not key:
            errors.append(dict(line=lineno, key=None, error="empty key"))
            continue
        if ttl.isdigit() and ttl[:1] != b"0":
            yield key, value, encode_ex(key, value, ttl)
            continue
        try:
            ttl_ms = ttl_to_ms(ttl.decode("ascii", "replace"), default_ttl) if ttl else default_ms
        except RecordError as exc:
            errors.append(dict(line=lineno, key=key.decode("utf-8", "backslashreplace"), error=str(exc)))
            continue
        yield key, value, encode_px(key, value, ttl_ms)
    if rest is not None:
        yield from commands_for(_quoted_csv_records(rest, fileobj, lineno - 1, default_ttl, errors), mode, False, False, 0, None)


def _is_csv_header(line):
    """Whether the first line of a CSV file is a header (key,value[,ttl]) that csv_fast_commands() skips."""
    fields = line.split(b",")
    return len(fields) in (2, 3) and fields[0].strip().lower() == b"key" and fields[1].strip().lower() == b"value"


def _csv_block(lines, encode_ex, encode_px, default_ms, keep_values):
    """The batch (keys, values, payload) of lines that are all ``key,value,ttl`` with a TTL of whole
    seconds (ASCII digits, no leading 0) or all ``key,value``, no key empty; None for any other block.

    The caller has made sure that no line holds a double quote or a CR. The commands are those that
    csv_fast_commands() would send for the same lines; each key, value and TTL is sliced out of one
    split of the whole block, and set_block_encoder() encodes them without Python code per key.
    """
    commas = set(map(bytes.count, lines, repeat(b",")))
    if commas == {2}:
        fields = b",".join(lines).split(b",")
        keys, values, ttls = fields[0::3], fields[1::3], fields[2::3]
        if not all(keys) or not all(map(bytes.isdigit, ttls)) or min(ttls)[:1] == b"0":
            return None
        payload = encode_ex(keys, values, ttls)
    elif commas == {1}:
        fields = b",".join(lines).split(b",")
        keys, values = fields[0::2], fields[1::2]
        if not all(keys):
            return None
        payload = encode_px(keys, values, ttl=default_ms)
    else:
        return None
    return keys, values if keep_values else [], payload


def csv_fast_batches(fileobj, mode, default_ttl, errors, buffer_bytes=1 << 20, keep_values=False):  # noqa: PLR0917 -- as load_file() passes them
    """The batches (keys, values, payload) of a CSV file, read a block of whole lines (about
    ``buffer_bytes``) at a time; the commands are csv_fast_commands()'s, in the same order.

    A block with no double quote and no CR whose lines are all ``key,value,ttl`` with whole seconds
    or all ``key,value`` is encoded at once (_csv_block(): most files, and 3-4 times less CPU per key
    than a command per line). Any other block goes line by line through csv_fast_commands(), which
    reports its bad lines with their numbers; from a block with a double quote on, the rest of the
    file does, which hands it to the csv module from the first quote on.
    """
    encode_ex = set_block_encoder(mode, "EX")
    encode_px = set_block_encoder(mode, "PX")
    default_ms = ttl_to_ms(None, default_ttl)
    lineno = 0
    while True:
        block = fileobj.read(buffer_bytes)
        if not block:
            return
        if not block.endswith(b"\n"):
            block += fileobj.readline()
        lines = block.split(b"\n")
        last = lines.pop()  # b"" after a final newline, else the file's last line (no newline)
        if last:
            lines.append(last)
        before = lineno
        lineno += len(lines)
        quoted = b'"' in block
        if not quoted and b"\r" not in block:
            if before == 0 and _is_csv_header(lines[0]):
                lines = lines[1:]
                before = 1
            batch = _csv_block(lines, encode_ex, encode_px, default_ms, keep_values) if lines else None
            if batch is not None:
                yield batch
                continue
        raw = [line + b"\n" for line in lines]
        if last and raw:
            raw[-1] = last
        if quoted:
            yield from batched(csv_fast_commands(chain(raw, fileobj), mode, default_ttl, errors, before), buffer_bytes, keep_values)
            return
        yield from batched(csv_fast_commands(raw, mode, default_ttl, errors, before), buffer_bytes, keep_values)


def _quoted_csv_records(first_line, fileobj, lines_before, default_ttl, errors):
    """The records of the rest of a CSV file read with the csv module, from ``first_line`` on."""

    def remaining():
        yield first_line
        yield from fileobj

    reader = csv.reader(chunk.decode("utf-8") for chunk in remaining())
    for row in reader:
        if not row:
            continue
        try:
            key, value, ttl_ms = parse_csv_row(row, default_ttl)
        except RecordError as exc:
            errors.append(dict(line=lines_before + reader.line_num, key=row[0] or None, error=str(exc)))
            continue
        yield lines_before + reader.line_num, key, value, ttl_ms


def sniff_format(path, fileobj):
    """The format of an open binary file (its position is kept)."""
    pos = fileobj.tell()
    first = fileobj.readline()
    fileobj.seek(pos)
    return detect_format(path, first)


def load_file(sock, fileobj, fmt, mode="missing", default_ttl=None, check_mode=False, threaded=True,  # noqa: PLR0917 -- keywords in every caller
              buffer_bytes=1 << 20, max_errors=20):
    """Load (or, in check mode, probe) every record of a file; return the figures of the run."""
    snapshot = fmt == "snapshot"
    parse_errors = []
    skipped = dict(expired=0)
    keep_values = mode == "replace" and not snapshot
    started = time.monotonic()
    if fmt == "csv" and not check_mode:
        batches = csv_fast_batches(fileobj, mode, default_ttl, parse_errors, buffer_bytes, keep_values)
    else:
        records = read_records(fileobj, fmt, default_ttl, parse_errors)
        cmds = commands_for(records, mode, snapshot, check_mode, int(time.time() * 1000), skipped)
        batches = batched(cmds, buffer_bytes, keep_values)
    if check_mode:
        classify, fast = check_classifier(mode, snapshot)
    elif snapshot:
        classify, fast = restore_classifier(mode)
    else:
        classify, fast = set_classifier(mode)
    loader = BulkLoader(sock, buffer_bytes=buffer_bytes, max_errors=max_errors, threaded=threaded)
    counts = loader.run(batches, classify, fast)
    seconds = time.monotonic() - started
    if check_mode and mode == "overwrite":
        counts["written"] += counts["same"] + counts["unchanged"]
        counts["same"] = counts["unchanged"] = 0
    errors = [dict(line=e["line"], key=e["key"], error=e["error"]) for e in parse_errors[:max_errors]]
    errors += [dict(line=None, key=e["key"], error=e["error"]) for e in loader.errors[: max(0, max_errors - len(errors))]]
    processed = counts["written"] + counts["same"] + counts["unchanged"]
    return dict(
        records=counts["sent"] + len(parse_errors) + skipped["expired"],
        loaded=counts["written"] + counts["same"],
        written=counts["written"],
        same=counts["same"],
        unchanged=counts["unchanged"],
        expired=skipped["expired"],
        failures=counts["failed"] + len(parse_errors),
        errors=errors,
        seconds=round(seconds, 3),
        keys_per_second=round(processed / seconds, 1) if seconds > 0 else 0.0,
    )
