# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""RESP2, the Redis protocol: commands encoded as bytes, replies parsed from a buffer.

Private to the opskit.webstack collection; used by the bulk loader (_redis_bulk.py), which writes
the commands on a socket itself. Pure functions, no I/O, no redis-py.

SET has one encoder, set_encoder(): the loader's paths (JSON lines, CSV, the CSV fast path) all
take their SET commands from it. It builds the byte template of a mode once, so that encoding a
key costs one ``%`` formatting. set_block_encoder() writes the same bytes for a whole block of keys
at once, for the CSV block path, with no Python code run per key.
"""

from __future__ import annotations

from itertools import chain, repeat

OK = b"+OK\r\n"
NIL = b"$-1\r\n"
_CRLF = b"\r\n"

# SET key value [PX|EX ttl] [NX|GET]: the option each load mode adds, and the array length with
# and without a TTL.
_SET_OPTION = {"overwrite": b"", "missing": b"$2\r\nNX\r\n", "replace": b"$3\r\nGET\r\n"}
_SET_LENGTH = {"overwrite": (b"*5\r\n", b"*3\r\n"), "missing": (b"*6\r\n", b"*4\r\n"), "replace": (b"*6\r\n", b"*4\r\n")}
_SET_ENCODERS = {}
_SET_BLOCK_ENCODERS = {}


class ProtocolError(Exception):
    """The server's reply could not be parsed."""


def encode_command(*args):
    """RESP array of bulk strings (bytes or str or int arguments)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, int):
            data = b"%d" % arg
        elif isinstance(arg, str):
            data = arg.encode("utf-8")
        else:
            data = arg
        out.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


def set_encoder(mode, unit="PX"):
    """The SET encoder of a load mode: ``encode(key, value, ttl=None) -> bytes``.

    ``mode`` overwrite is a plain SET, missing adds NX, replace adds GET (to compare the old value).
    ``ttl`` is in ``unit`` (PX: milliseconds, EX: seconds), an int or its ASCII digits (bytes, as
    read from a file); None, 0 or b"" set no expiry. Encoders are made once per (mode, unit).
    """
    cached = _SET_ENCODERS.get((mode, unit))
    if cached is not None:
        return cached
    length_ttl, length_none = _SET_LENGTH[mode]
    option = _SET_OPTION[mode]
    fmt_none = length_none + b"$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" + option
    fmt_ttl = (length_ttl + b"$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$2\r\n" + unit.encode("ascii")
               + b"\r\n$%d\r\n%b\r\n" + option)

    def encode(key, value, ttl=None):
        if not ttl:
            return fmt_none % (len(key), key, len(value), value)
        if ttl.__class__ is int:
            ttl = b"%d" % ttl
        return fmt_ttl % (len(key), key, len(value), value, len(ttl), ttl)

    _SET_ENCODERS[(mode, unit)] = encode
    return encode


class _Prefixes(dict):
    """``n -> fmt % n``, each made on first use. A dict, so that ``map(prefixes.__getitem__, lengths)``
    runs in C; one entry per length seen."""

    __slots__ = ("fmt",)

    def __init__(self, fmt):
        super().__init__()
        self.fmt = fmt

    def __missing__(self, length):
        piece = self[length] = self.fmt % length
        return piece


def set_block_encoder(mode, unit="PX"):
    """set_encoder() for a block of keys: ``encode(keys, values, ttls=None, ttl=None) -> bytes``.

    Returns the bytes of ``b"".join(map(set_encoder(mode, unit), keys, values, ttls))``, built by
    joining the keys and values with the pieces between them (the length prefixes, made once per
    length), all iterated in C: no Python code runs per key. ``ttls`` gives each key its TTL in
    ``unit``, ASCII digits (bytes, none empty or 0); without it every key gets ``ttl`` (an int or
    digits), or no expiry when ``ttl`` is None, 0 or b"".
    """
    cached = _SET_BLOCK_ENCODERS.get((mode, unit))
    if cached is not None:
        return cached
    length_ttl, length_none = _SET_LENGTH[mode]
    end = _CRLF + _SET_OPTION[mode]
    key_ttl = _Prefixes(length_ttl + b"$3\r\nSET\r\n$%d\r\n")
    key_none = _Prefixes(length_none + b"$3\r\nSET\r\n$%d\r\n")
    value_prefix = _Prefixes(b"\r\n$%d\r\n")
    ttl_prefix = _Prefixes(b"\r\n$2\r\n" + unit.encode("ascii") + b"\r\n$%d\r\n")

    def encode(keys, values, ttls=None, ttl=None):
        values_part = (map(value_prefix.__getitem__, map(len, values)), values)
        if ttls is not None:
            parts = zip(map(key_ttl.__getitem__, map(len, keys)), keys, *values_part,
                        map(ttl_prefix.__getitem__, map(len, ttls)), ttls, repeat(end))
        elif ttl:
            if ttl.__class__ is int:
                ttl = b"%d" % ttl
            parts = zip(map(key_ttl.__getitem__, map(len, keys)), keys, *values_part, repeat(ttl_prefix[len(ttl)] + ttl + end))
        else:
            parts = zip(map(key_none.__getitem__, map(len, keys)), keys, *values_part, repeat(end))
        return b"".join(chain.from_iterable(parts))

    _SET_BLOCK_ENCODERS[(mode, unit)] = encode
    return encode


def set_command(key, value, ttl_ms, mode):
    """One SET with a TTL in milliseconds (PX), through set_encoder()."""
    return set_encoder(mode)(key, value, ttl_ms)


def key_encoder(name):
    """The encoder of a command of one key (``GET``, ``EXISTS``): ``encode(key) -> bytes``."""
    name = name.encode("ascii")
    fmt = b"*2\r\n$%d\r\n%b\r\n" % (len(name), name) + b"$%d\r\n%b\r\n"

    def encode(key):
        return fmt % (len(key), key)

    return encode


def restore_command(key, payload, expire_ms, mode):
    """RESTORE with the absolute expiry (ABSTTL); REPLACE unless mode is missing."""
    args = [b"RESTORE", key, expire_ms if expire_ms and expire_ms > 0 else 0, payload]
    if expire_ms and expire_ms > 0:
        args.append(b"ABSTTL")
    if mode != "missing":
        args.append(b"REPLACE")
    return encode_command(*args)


def parse_reply(buf, pos):  # noqa: PLR0911 -- one return per RESP type
    """Parse one RESP2 reply of buf at pos: (kind, value, next_pos) or None when incomplete.

    kind is one of "+", "-", ":", "$", "*"; arrays are returned with parsed elements.
    """
    end = buf.find(_CRLF, pos)
    if end < 0:
        return None
    kind = buf[pos:pos + 1]
    line = bytes(buf[pos + 1:end])
    if kind == b"_":
        return "$", None, end + 2
    if kind in (b"+", b"-"):
        return kind.decode(), line, end + 2
    if kind == b":":
        return ":", int(line), end + 2
    if kind == b"$":
        size = int(line)
        if size < 0:
            return "$", None, end + 2
        stop = end + 2 + size
        if len(buf) < stop + 2:
            return None
        return "$", bytes(buf[end + 2:stop]), stop + 2
    if kind == b"*":
        count = int(line)
        nxt = end + 2
        items = []
        for _dummy in range(max(count, 0)):
            sub = parse_reply(buf, nxt)
            if sub is None:
                return None
            items.append(sub[1])
            nxt = sub[2]
        return "*", items if count >= 0 else None, nxt
    raise ProtocolError(f"unexpected reply type {kind!r}")
