"""Tests of plugins/module_utils/_redis_resp.py, the RESP codec of the bulk loader (pure functions)."""

from __future__ import annotations

import pytest
from ansible_collections.opskit.webstack.plugins.module_utils import _redis_resp as resp


def _decode(payload):
    """Every command of a RESP payload, as lists of bytes."""
    commands, pos = [], 0
    while pos < len(payload):
        kind, value, pos = resp.parse_reply(payload, pos)
        assert kind == "*"
        commands.append(value)
    return commands


@pytest.mark.parametrize(
    ("mode", "ttl", "expected"),
    [
        ("overwrite", None, [b"SET", b"k", b"v"]),
        ("overwrite", 1500, [b"SET", b"k", b"v", b"PX", b"1500"]),
        ("missing", 1000, [b"SET", b"k", b"v", b"PX", b"1000", b"NX"]),
        ("missing", None, [b"SET", b"k", b"v", b"NX"]),
        ("replace", None, [b"SET", b"k", b"v", b"GET"]),
        ("replace", 7, [b"SET", b"k", b"v", b"PX", b"7", b"GET"]),
    ],
)
def test_set_command_is_valid_resp(mode, ttl, expected):
    cmd = resp.set_command(b"k", b"v", ttl, mode)
    kind, value, end = resp.parse_reply(cmd, 0)
    assert (kind, value, end) == ("*", expected, len(cmd))


@pytest.mark.parametrize("mode", ["overwrite", "missing", "replace"])
@pytest.mark.parametrize(("unit", "ttl"), [("EX", b"3600"), ("EX", 3600), ("PX", b"250"), ("PX", 250)])
def test_set_encoder_takes_ttl_as_int_or_digits(mode, unit, ttl):
    encode = resp.set_encoder(mode, unit)
    assert resp.set_encoder(mode, unit) is encode  # made once
    value = b"a value, with\r\nCRLF and % signs %d %b"
    (command,) = _decode(encode(b"key:1", value, ttl))
    tail = {"overwrite": [], "missing": [b"NX"], "replace": [b"GET"]}[mode]
    digits = ttl if isinstance(ttl, bytes) else b"%d" % ttl
    assert command == [b"SET", b"key:1", value, unit.encode(), digits, *tail]


@pytest.mark.parametrize("ttl", [None, 0, b""])
def test_set_encoder_without_ttl(ttl):
    assert _decode(resp.set_encoder("overwrite", "EX")(b"k", b"", ttl)) == [[b"SET", b"k", b""]]


def test_set_encoder_matches_the_generic_encoder():
    for mode, extra in (("overwrite", []), ("missing", [b"NX"]), ("replace", [b"GET"])):
        assert resp.set_command(b"k\x00", b"\xff", 12, mode) == resp.encode_command(b"SET", b"k\x00", b"\xff", b"PX", 12, *extra)


@pytest.mark.parametrize("mode", ["overwrite", "missing", "replace"])
@pytest.mark.parametrize("unit", ["EX", "PX"])
def test_set_block_encoder_writes_the_bytes_of_set_encoder(mode, unit):
    encode, block = resp.set_encoder(mode, unit), resp.set_block_encoder(mode, unit)
    assert resp.set_block_encoder(mode, unit) is block  # made once
    keys = [b"k", b"key:%d" % 10**12, b"\xff\x00", b"k" * 300]
    values = [b"", b"a value, with\r\nCRLF and % signs %d %b", b"v" * 70000, b"\x00"]
    ttls = [b"1", b"3600", b"99999999999", b"7"]
    assert block(keys, values, ttls) == b"".join(map(encode, keys, values, ttls))
    for ttl in (None, 0, b"", 250, b"250"):
        assert block(keys, values, ttl=ttl) == b"".join(encode(k, v, ttl) for k, v in zip(keys, values, strict=True))
    assert block([], []) == b""


def test_key_encoder_and_encode_command():
    assert resp.key_encoder("EXISTS")(b"a:b") == resp.encode_command("EXISTS", b"a:b") == b"*2\r\n$6\r\nEXISTS\r\n$3\r\na:b\r\n"
    assert _decode(resp.key_encoder("GET")(b"")) == [[b"GET", b""]]
    assert resp.encode_command("SELECT", 3) == b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n"


def test_restore_command():
    _kind, value, _unused = resp.parse_reply(resp.restore_command(b"k", b"\x00\x01", 1700000000000, "overwrite"), 0)
    assert value == [b"RESTORE", b"k", b"1700000000000", b"\x00\x01", b"ABSTTL", b"REPLACE"]
    _kind, value, _unused = resp.parse_reply(resp.restore_command(b"k", b"p", -1, "missing"), 0)
    assert value == [b"RESTORE", b"k", b"0", b"p"]


@pytest.mark.parametrize(
    ("buf", "expected"),
    [
        (b"+OK\r\n", ("+", b"OK", 5)),
        (b"-ERR no\r\n", ("-", b"ERR no", 9)),
        (b":42\r\n", (":", 42, 5)),
        (b"$3\r\nabc\r\n", ("$", b"abc", 9)),
        (b"$-1\r\n", ("$", None, 5)),
        (b"_\r\n", ("$", None, 3)),
        (b"*2\r\n$1\r\na\r\n:1\r\n", ("*", [b"a", 1], 15)),
        (b"$3\r\nab", None),
        (b"+OK", None),
        (b"*2\r\n$1\r\na\r\n", None),
    ],
)
def test_parse_reply(buf, expected):
    assert resp.parse_reply(bytearray(buf), 0) == expected


def test_parse_reply_rejects_garbage():
    with pytest.raises(resp.ProtocolError):
        resp.parse_reply(b"?what\r\n", 0)


def test_ok_and_nil_are_the_replies_the_loader_counts():
    assert resp.parse_reply(resp.OK, 0) == ("+", b"OK", len(resp.OK))
    assert resp.parse_reply(resp.NIL, 0) == ("$", None, len(resp.NIL))
