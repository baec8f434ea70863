"""Tests of plugins/module_utils/_redis_bulk.py and _rediskeys.py (the cache_warm modules' code);
the RESP codec is tested in test_redis_resp.py, the connection in test_redis.py.

Pure functions are tested directly; loading, snapshot, restore and purge run against a real
opskit/redis:7 container on 127.0.0.1:18328 (the bench-warm port block), skipped when Docker or
the image is missing.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import shutil
import subprocess
import time
import uuid

import pytest
from ansible_collections.opskit.webstack.plugins.module_utils import _redis_bulk as rb
from ansible_collections.opskit.webstack.plugins.module_utils import _rediskeys as rk
from ansible_collections.opskit.webstack.plugins.module_utils._redis import connect_raw
from ansible_collections.opskit.webstack.plugins.module_utils._redis_resp import parse_reply

IMAGE = "opskit/redis:7"
PORT = 18328


# --- pure functions -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ttl", "default", "expected"),
    [(None, None, None), ("", 30, 30000), (60, None, 60000), ("1.5", None, 1500), (0, 10, None), (-1, None, None), ("0.0001", None, 1)],
)
def test_ttl_to_ms(ttl, default, expected):
    assert rb.ttl_to_ms(ttl, default) == expected


@pytest.mark.parametrize("ttl", ["soon", True, "nan", "inf", [1]])
def test_ttl_to_ms_refuses_non_numbers(ttl):
    with pytest.raises(rb.RecordError):
        rb.ttl_to_ms(ttl, None)


@pytest.mark.parametrize(
    ("path", "first", "expected"),
    [
        ("/x/keys.csv", b"", "csv"),
        ("/x/keys.jsonl", b"", "jsonl"),
        ("/x/keys.ndjson", b"", "jsonl"),
        ("/x/a.snapshot", b"", "snapshot"),
        ("/x/data", b'{"key": "a", "value": "b"}\n', "jsonl"),
        ("/x/data", b'{"format": "opskit.redis-snapshot", "version": 1}\n', "snapshot"),
        ("/x/data", b"a,b,3\n", "csv"),
    ],
)
def test_detect_format(path, first, expected):
    assert rb.detect_format(path, first) == expected


def test_parse_jsonl_line_values_and_errors():
    assert rb.parse_jsonl_line('{"key": "k", "value": "v", "ttl": 2}', None) == (b"k", b"v", 2000)
    assert rb.parse_jsonl_line('{"key": "k", "value": {"b": 1, "a": [1]}}', 5) == (b"k", b'{"a":[1],"b":1}', 5000)
    for bad in ("nope", "[1]", '{"value": 1}', '{"key": "", "value": 1}', '{"key": 3, "value": 1}'):
        with pytest.raises(rb.RecordError):
            rb.parse_jsonl_line(bad, None)


@pytest.mark.parametrize(
    ("pattern", "everything"),
    [("*", True), ("**", True), ("?*", True), ("*?", True), ("?", False), ("a*", False), ("*:*", False), ("", False), ("[*]", False)],
)
def test_matches_everything(pattern, everything):
    assert rk.matches_everything(pattern) is everything


def test_csv_fast_path_switches_to_the_csv_module_on_quotes():
    data = b'key,value,ttl\na,1,10\nb,2\nbad\nc,"x, ""y""\nz",5\nd,4,soon\ne,5,0\n'
    errors = []
    batches = list(rb.batched(rb.csv_fast_commands(io.BytesIO(data), "overwrite", None, errors), 1 << 20, False))
    keys = [k for batch in batches for k in batch[0]]
    payload = b"".join(batch[2] for batch in batches)
    assert keys == [b"a", b"b", b"c", b"e"]
    assert [e["line"] for e in errors] == [4, 7]
    assert b'x, "y"\nz' in payload
    replies, pos = [], 0
    while pos < len(payload):
        _kind, value, pos = parse_reply(payload, pos)
        replies.append(value)
    assert replies[0] == [b"SET", b"a", b"1", b"EX", b"10"]
    assert replies[1] == [b"SET", b"b", b"2"]
    assert replies[2] == [b"SET", b"c", b'x, "y"\nz', b"PX", b"5000"]
    assert replies[3] == [b"SET", b"e", b"5"]


_CSV_BLOCK_CASES = {
    "ttls": b"".join(b"k:%d,%s,%d\n" % (i, b"v" * (i % 7), 1 + i % 90) for i in range(3000)),
    "header and no ttl": b"key,value\n" + b"".join(b"k:%d,v%d\n" % (i, i) for i in range(3000)),
    "header with ttl, no final newline": b"Key , VALUE,ttl\n" + b"".join(b"k:%d,v,%d\n" % (i, i + 1) for i in range(3000)).rstrip(b"\n"),
    "a bad line amid good ones": b"".join(b"k:%d,v,5\n" % i for i in range(2000)) + b"bad\n,x,3\nk,v,0\nk,v,1.5\nk,v,05\n\n"
    + b"".join(b"k:%d,v,5\n" % i for i in range(2000)),
    "two and three fields mixed": b"".join(b"k:%d,v\n" % i if i % 50 == 0 else b"k:%d,v,9\n" % i for i in range(3000)),
    "CRLF": b"".join(b"k:%d,v,5\r\n" % i for i in range(3000)),
    "a quote half-way": b"".join(b"k:%d,v,5\n" % i for i in range(2000)) + b'q,"x, ""y""\nz",5\n'
    + b"".join(b"k:%d,v,5\n" % i for i in range(2000)),
    "header alone": b"key,value,ttl",
    "empty": b"",
}


@pytest.mark.parametrize("case", sorted(_CSV_BLOCK_CASES))
@pytest.mark.parametrize(("mode", "default_ttl"), [("overwrite", None), ("missing", 30), ("replace", 2.5)])
@pytest.mark.parametrize("buffer_bytes", [64, 4096, 1 << 20])
def test_csv_block_path_sends_what_the_line_path_sends(case, mode, default_ttl, buffer_bytes):
    data = _CSV_BLOCK_CASES[case]
    keep = mode == "replace"
    line_errors, block_errors = [], []
    by_line = list(rb.batched(rb.csv_fast_commands(io.BytesIO(data), mode, default_ttl, line_errors), buffer_bytes, keep))
    by_block = list(rb.csv_fast_batches(io.BytesIO(data), mode, default_ttl, block_errors, buffer_bytes, keep))
    for part in range(3):
        assert [x for batch in by_block for x in batch[part]] == [x for batch in by_line for x in batch[part]]
    assert block_errors == line_errors
    assert all(batch[0] and (not keep or len(batch[1]) == len(batch[0])) for batch in by_block)


def test_csv_block_path_encodes_plain_blocks_at_once(monkeypatch):
    calls = []
    monkeypatch.setattr(rb, "csv_fast_commands", lambda *args: calls.append(args) or iter(()))
    data = b"key,value,ttl\n" + b"".join(b"k:%d,v,60\n" % i for i in range(5000))
    batches = list(rb.csv_fast_batches(io.BytesIO(data), "overwrite", None, [], 4096))
    assert sum(len(batch[0]) for batch in batches) == 5000
    assert not calls  # no line went through the line path


# --- against a real Redis -------------------------------------------------------------------------
def _docker_ok():
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="module")
def server():
    if not _docker_ok():
        pytest.skip(f"docker or {IMAGE} missing (make images)")
    redis = pytest.importorskip("redis")
    password = secrets.token_hex(12)
    name = f"bench-warm-unit-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "-d", "--name", name, "-e", f"REDIS_PASSWORD={password}", "-p", f"127.0.0.1:{PORT}:6379", IMAGE],
                   check=True, capture_output=True)
    params = dict(login_host="127.0.0.1", login_port=PORT, db=0, login_user=None, login_password=password)
    client = redis.Redis(host="127.0.0.1", port=PORT, password=password)
    try:
        for _unused in range(60):
            try:
                if client.ping():
                    break
            except redis.exceptions.ConnectionError:
                time.sleep(0.25)
        yield params, client
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], check=False, capture_output=True)


def _load(params, data, fmt, **kwargs):
    conn = connect_raw(params)
    try:
        return rb.load_file(conn._sock, io.BytesIO(data), fmt, **kwargs)
    finally:
        conn.disconnect()


@pytest.mark.parametrize("threaded", [True, False])
def test_load_modes_report_changes_honestly(server, threaded):
    params, client = server
    client.flushall()
    lines = b"".join(b'{"key": "m:%d", "value": "v%d", "ttl": 100}\n' % (i, i) for i in range(5000))
    first = _load(params, lines, "jsonl", mode="missing", threaded=threaded, buffer_bytes=4096)
    assert (first["written"], first["unchanged"], first["failures"]) == (5000, 0, 0)
    assert 0 < client.pttl("m:1") <= 100000
    again = _load(params, lines, "jsonl", mode="missing", threaded=threaded)
    assert (again["written"], again["unchanged"]) == (0, 5000)
    client.set("m:7", "other")
    replace = _load(params, lines, "jsonl", mode="replace", threaded=threaded)
    assert (replace["written"], replace["same"]) == (1, 4999)
    assert client.get("m:7") == b"v7"
    check = _load(params, lines.replace(b'"v9"', b'"new"'), "jsonl", mode="replace", check_mode=True, threaded=threaded)
    assert (check["written"], check["same"]) == (1, 4999)
    assert client.get("m:9") == b"v9"


def test_load_csv_without_ttl_and_with_default(server):
    params, client = server
    client.flushall()
    result = _load(params, b"a,1\nb,2,\nc,3,7\n", "csv", mode="overwrite", default_ttl=50)
    assert result["written"] == 3
    assert 0 < client.pttl("a") <= 50000 and 0 < client.pttl("c") <= 7000


@pytest.mark.parametrize("threaded", [True, False])
def test_load_csv_blocks_report_changes_honestly(server, threaded):
    params, client = server
    client.flushall()
    lines = b"key,value,ttl\n" + b"".join(b"c:%d,v%d,100\n" % (i, i) for i in range(20000))
    first = _load(params, lines, "csv", mode="missing", threaded=threaded, buffer_bytes=4096)
    assert (first["records"], first["written"], first["unchanged"], first["failures"]) == (20000, 20000, 0, 0)
    assert 0 < client.pttl("c:19999") <= 100000
    again = _load(params, lines, "csv", mode="missing", threaded=threaded)
    assert (again["written"], again["unchanged"]) == (0, 20000)
    client.set("c:7", "other")
    client.persist("c:8")
    replace = _load(params, lines, "csv", mode="replace", threaded=threaded, buffer_bytes=4096)
    assert (replace["written"], replace["same"], replace["failures"]) == (1, 19999, 0)
    assert client.get("c:7") == b"v7" and 0 < client.pttl("c:8") <= 100000
    plain = _load(params, b"".join(b"c:%d,w\n" % i for i in range(20000)), "csv", mode="overwrite", threaded=threaded, default_ttl=0)
    assert (plain["written"], plain["failures"]) == (20000, 0)
    assert client.get("c:5") == b"w" and client.pttl("c:5") == -1


def test_snapshot_restore_keeps_ttls_and_reports_bad_payloads(server, tmp_path):
    params, client = server
    client.flushall()
    for i in range(1200):
        client.set(f"s:{i}", f"value-{i}", ex=500 if i % 2 else None)
    client.hset("s:hash", mapping={"a": "1"})
    client.set("other", "x")
    lines, count = rk.snapshot_lines(client, "s:*", scan_count=100, batch_size=128)
    dest = tmp_path / "s.snapshot"
    assert count == 1201
    assert rk.write_snapshot(lines, str(dest))[0] is True
    again, _unused = rk.snapshot_lines(client, "s:*")
    assert rk.write_snapshot(again, str(dest))[0] is False
    assert oct(dest.stat().st_mode & 0o777) == "0o600"
    purged = rk.purge(client, "s:*", batch_size=100, scan_count=100)
    assert purged["purged"] == 1201 and client.exists("other") == 1
    restored = _load(params, dest.read_bytes(), "snapshot", mode="overwrite")
    assert (restored["written"], restored["failures"]) == (1201, 0)
    assert 0 < client.pttl("s:1") <= 500000 and client.pttl("s:2") == -1
    assert client.hgetall("s:hash") == {b"a": b"1"}
    missing = _load(params, dest.read_bytes(), "snapshot", mode="missing")
    assert missing["unchanged"] == 1201
    records = dest.read_text().splitlines()
    bad = json.loads(records[1])
    bad["v"] = base64.b64encode(b"garbage").decode()
    expired = json.loads(records[2])
    expired["x"] = 1000
    client.delete(base64.b64decode(bad["k"]), base64.b64decode(expired["k"]))
    data = "\n".join([records[0], json.dumps(bad), json.dumps(expired)]) + "\n"
    result = _load(params, data.encode(), "snapshot", mode="overwrite")
    assert (result["failures"], result["expired"], result["written"]) == (1, 1, 0)
    assert result["errors"][0]["key"] == base64.b64decode(bad["k"]).decode()
    assert "payload" in result["errors"][0]["error"].lower()


def test_purge_check_mode_and_counts(server):
    _params, client = server
    client.flushall()
    pipe = client.pipeline(transaction=False)
    for i in range(3000):
        pipe.set(f"p:{i}", 1)
        pipe.set(f"q:{i}", 1)
    pipe.execute()
    check = rk.purge(client, "p:*", check_mode=True)
    assert (check["matched"], check["purged"], client.dbsize()) == (3000, 0, 6000)
    done = rk.purge(client, "p:*", batch_size=250)
    assert (done["purged"], done["batches"], client.dbsize()) == (3000, 12, 3000)
    info = rk.count_keys(client, "q:*", limit=10, sample=2, with_ttl=True)
    assert info["count"] == 10 and len(info["sample"]) == 2 and set(info["sample_ttl_ms"].values()) == {-1}
