"""Tests of plugins/module_utils/_redis_memory.py and the redis_memory module.

Pure functions with parametrize; cgroup and /proc layouts in a temporary root; the Redis parts
against a real opskit/redis:7 container on 127.0.0.1:18122 (the mol-redis port block), skipped
when Docker or the image is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from ansible_collections.opskit.webstack.plugins.module_utils import _redis_memory as rm

PORT = 18122
IMAGE = "opskit/redis:7"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("512mb", 512 * 1024**2),
        ("2gb", 2147483648),
        ("2GB", 2147483648),
        ("1g", 10**9),
        ("1k", 1000),
        ("1kb", 1024),
        ("100m", 100 * 10**6),
        ("42", 42),
        ("7b", 7),
        (" 3 mb ", 3 * 1024**2),
        (0, 0),
        (2147483648, 2147483648),
    ],
)
def test_parse_memory_follows_redis_units(value, expected):
    assert rm.parse_memory(value) == expected


@pytest.mark.parametrize("value", ["2tb", "-1", "1.5gb", "lots", "", True, -5])
def test_parse_memory_rejects(value):
    with pytest.raises(rm.RedisMemoryError):
        rm.parse_memory(value)


@pytest.mark.parametrize(("value", "limit", "expected"), [("50%", 1000, 500), ("75 %", 4096, 3072), ("100%", 10, 10), ("512mb", None, 536870912)])
def test_resolve_maxmemory(value, limit, expected):
    assert rm.resolve_maxmemory(value, limit) == expected


@pytest.mark.parametrize("value", ["0%", "101%", "150%"])
def test_percent_out_of_range(value):
    with pytest.raises(rm.RedisMemoryError, match="above 0 and at most 100"):
        rm.resolve_maxmemory(value, 1000)


def test_percent_needs_a_known_limit():
    with pytest.raises(rm.RedisMemoryError, match="memory_limit"):
        rm.resolve_maxmemory("50%", None)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("lazyfree-lazy-eviction", True, "yes"),
        ("activedefrag", False, "no"),
        ("activedefrag", "YES", "yes"),
        ("maxmemory-samples", 10, "10"),
        ("active-defrag-ignore-bytes", "100mb", "104857600"),
        ("maxmemory-policy", "AllKeys-LRU", "allkeys-lru"),
        ("maxmemory-clients", "10%", "10%"),
    ],
)
def test_normalize(name, value, expected):
    assert rm.normalize(name, value) == expected


def test_desired_config_normalises_and_validates():
    desired = rm.desired_config("2gb", "allkeys-lru", {"maxmemory_samples": 10, "lazyfree-lazy-eviction": True, "skipped": None}, None)
    assert desired == {"maxmemory": "2147483648", "maxmemory-policy": "allkeys-lru", "maxmemory-samples": "10", "lazyfree-lazy-eviction": "yes"}
    with pytest.raises(rm.RedisMemoryError, match="allkeys-lru"):
        rm.desired_config(None, None, {"maxmemory-policy": "allkeys-lur"}, None)


def test_plan_equal_units_is_no_change():
    before, after, changes = rm.plan({"maxmemory": "2147483648", "maxmemory-policy": "noeviction"}, rm.desired_config("2gb", "allkeys-lru", {}, None))
    assert changes == {"maxmemory-policy": "allkeys-lru"}
    assert before["maxmemory"] == after["maxmemory"] == "2147483648"
    assert after["maxmemory-policy"] == "allkeys-lru"


def test_guards():
    limit = {"bytes": 256 * 1024**2, "source": "cgroup v1 x"}
    errors, _unused = rm.check_guards({"maxmemory": str(1024**3)}, limit, force=False, used_as_cache=True)
    assert len(errors) == 1
    assert "above the 256.0 MiB" in errors[0]
    errors, warnings = rm.check_guards({"maxmemory": str(1024**3)}, limit, force=True, used_as_cache=True)
    assert errors == []
    assert "applied anyway" in warnings[0]
    errors, warnings = rm.check_guards({"maxmemory-policy": "noeviction"}, limit, force=False, used_as_cache=True)
    assert errors == []
    assert "noeviction" in warnings[0]
    assert rm.check_guards({"maxmemory-policy": "noeviction"}, limit, force=False, used_as_cache=False) == ([], [])


def test_parse_config_and_sync():
    text = '# comment\nmaxmemory 0\nmaxmemory 512mb\nmaxmemory-policy "allkeys-lru"\nrequirepass "a b\\"c"\nsave ""\n'
    values = rm.parse_config(text)
    assert values["maxmemory"] == "512mb"
    assert values["maxmemory-policy"] == "allkeys-lru"
    assert values["requirepass"] == 'a b"c'
    desired = {
        "maxmemory": str(512 * 1024**2),
        "maxmemory-policy": "allkeys-lru",
        "lazyfree-lazy-eviction": "no",
        "maxmemory-samples": "10",
        "hash-max-listpack-entries": "128",
    }
    # lazyfree absent = its default "no": in sync; samples absent = default 5, not 10; an unknown default counts as in sync
    assert rm.file_out_of_sync(desired, values) == ["maxmemory-samples"]


def _fs(tmp_path, cgroup, files, *, memtotal_kb=24 * 1024 * 1024, pid=7, comm="redis-server"):
    proc = tmp_path / "proc" / str(pid)
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text(cgroup)
    (proc / "comm").write_text(comm + "\n")
    (tmp_path / "proc" / "meminfo").write_text(f"MemTotal:       {memtotal_kb} kB\nMemFree: 1 kB\n")
    for rel, content in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content + "\n")
    return str(tmp_path)


def test_limit_cgroup_v2_tightest_ancestor(tmp_path):
    root = _fs(
        tmp_path,
        "0::/system.slice/redis.service\n",
        {"sys/fs/cgroup/system.slice/redis.service/memory.max": "max", "sys/fs/cgroup/system.slice/memory.max": str(2 * 1024**3)},
    )
    limit = rm.process_memory_limit(7, root)
    assert limit["bytes"] == 2 * 1024**3
    assert limit["source"] == "cgroup v2 /sys/fs/cgroup/system.slice/memory.max"


def test_limit_cgroup_v1_in_container_namespace_root(tmp_path):
    # Inside a container /proc/PID/cgroup names the host's path, but the mount shows the container's cgroup at its root.
    root = _fs(tmp_path, "4:memory:/docker/abc\n3:cpu:/docker/abc\n", {"sys/fs/cgroup/memory/memory.limit_in_bytes": str(256 * 1024**2)})
    limit = rm.process_memory_limit(7, root)
    assert limit["bytes"] == 256 * 1024**2
    assert "cgroup v1" in limit["source"]


def test_limit_host_when_unlimited(tmp_path):
    root = _fs(tmp_path, "4:memory:/\n", {"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712"}, memtotal_kb=1024)
    limit = rm.process_memory_limit(7, root)
    assert limit == {"bytes": 1024 * 1024, "source": "host MemTotal (/proc/meminfo)", "host_bytes": 1024 * 1024, "cgroup_bytes": None}


def test_limit_unknown_when_process_not_visible(tmp_path):
    root = _fs(tmp_path, "0::/\n", {}, comm="bash")
    assert rm.process_memory_limit(7, root)["bytes"] is None
    assert rm.process_memory_limit(99, root)["bytes"] is None


# --- against a real server ---------------------------------------------------------------------


def _docker_ok():
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="module")
def server():
    """An opskit/redis:7 container with a config file and a password, 256 MiB cgroup limit."""
    if not _docker_ok():
        pytest.skip(f"docker or {IMAGE} missing (make images)")
    redis = pytest.importorskip("redis")
    name = f"mol-redis-unit-{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    subprocess.run(
        ["docker", "run", "-d", "--name", name, "--memory", "256m", "-e", "REDIS_PASSWORD", "-p", f"127.0.0.1:{PORT}:6379", IMAGE],
        check=True,
        capture_output=True,
        env={"REDIS_PASSWORD": password, "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    client = redis.Redis(host="127.0.0.1", port=PORT, password=password, decode_responses=True)
    try:
        for _unused in range(100):
            try:
                client.ping()
                break
            except (redis.exceptions.ConnectionError, redis.exceptions.ResponseError):
                time.sleep(0.1)
        yield {"name": name, "password": password, "client": client}
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], check=False, capture_output=True)


def _run_module(tmp_path, args, check=False):
    """Run the module as Ansible does (the JSON args file), in a subprocess of this Python."""
    args = dict(args, _ansible_check_mode=check, _ansible_diff=True)
    path = tmp_path / (f"args-{uuid.uuid4().hex[:6]}.json")
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.run(
        [sys.executable, "-m", "ansible_collections.opskit.webstack.plugins.modules.redis_memory", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": ":".join(p for p in sys.path if p), "PATH": "/usr/bin:/bin"},
    )
    return json.loads(proc.stdout)


def test_set_and_normalise_against_redis(server):
    client = server["client"]
    rm.config_set(client, {"maxmemory": "1000", "maxmemory-policy": "noeviction"})
    current = rm.config_get(client, ["maxmemory", "maxmemory-policy"])
    _unused, _unused, changes = rm.plan(current, rm.desired_config("2gb", "allkeys-lru", {}, None))
    assert changes == {"maxmemory": "2147483648", "maxmemory-policy": "allkeys-lru"}
    rm.config_set(client, changes)
    current = rm.config_get(client, ["maxmemory", "maxmemory-policy"])
    assert rm.plan(current, rm.desired_config("2147483648", "allkeys-lru", {}, None))[2] == {}
    with pytest.raises(rm.RedisMemoryError, match="no configuration parameter"):
        rm.config_get(client, ["maxmemory-nonsense"])


def test_module_check_mode_apply_idempotent_and_guard(server, tmp_path):
    base = {"login_port": PORT, "login_password": server["password"]}
    server["client"].config_set("maxmemory", "0")
    # The module runs on this host, not in the container: the process is not visible, so the limit is given.
    args = dict(base, maxmemory="50%", maxmemory_policy="allkeys-lru", memory_limit="256mb", config={"maxmemory-samples": 7}, persist="none")
    checked = _run_module(tmp_path, args, check=True)
    assert checked["changed"] is True
    assert checked["maxmemory"] == 128 * 1024**2
    assert "maxmemory 134217728" in checked["diff"]["after"]
    assert server["client"].config_get("maxmemory")["maxmemory"] == "0"  # check mode changed nothing
    applied = _run_module(tmp_path, args)
    assert applied["changed"] is True
    assert server["client"].config_get("maxmemory")["maxmemory"] == str(128 * 1024**2)
    again = _run_module(tmp_path, dict(args, maxmemory="128mb"))
    assert again["changed"] is False
    assert again["changes"] == {}
    refused = _run_module(tmp_path, dict(args, maxmemory="1gb"))
    assert refused["failed"] is True
    assert "above the 256.0 MiB" in refused["msg"]
    assert server["password"] not in json.dumps(refused)


def test_module_wrong_password_fails_clearly(server, tmp_path):
    result = _run_module(tmp_path, {"login_port": PORT, "login_password": "wrong-" + server["password"], "maxmemory": "1mb"})
    assert result["failed"] is True
    assert "Failed to authenticate" in result["msg"] or "Failed to connect" in result["msg"]
