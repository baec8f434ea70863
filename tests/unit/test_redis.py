"""Tests of plugins/module_utils/_redis.py: the connection options and connect() of every redis_* module.

The argument spec against the doc fragment, the keyword arguments given to redis-py, and the
failures, against a real opskit/redis:7 container on 127.0.0.1:18191 (skipped when Docker or the
image is missing) and a port where nothing listens (18199).
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest
import yaml
from ansible_collections.opskit.webstack.plugins.doc_fragments.redis import ModuleDocFragment
from ansible_collections.opskit.webstack.plugins.module_utils import _redis

IMAGE = "opskit/redis:7"
PORT = 18191
CLOSED_PORT = 18199
MODULES = ("redis_bulk_load", "redis_keys_info", "redis_memory", "redis_purge", "redis_snapshot")


# --- the argument spec ----------------------------------------------------------------------------
def test_spec_shape():
    spec = _redis.redis_common_argument_spec()
    assert set(spec) == {"login_host", "login_port", "login_user", "login_password", "db", "tls", "validate_certs", "ca_certs",
                         "client_cert_file", "client_key_file", "connect_timeout", "socket_timeout"}
    assert spec["login_password"] == {"type": "str", "no_log": True}
    assert [name for name, option in spec.items() if option.get("no_log")] == ["login_password"]
    assert all(option.get("type") for option in spec.values())
    spec["db"]["default"] = 5
    assert _redis.redis_common_argument_spec()["db"]["default"] == 0  # a new dict each call


def test_doc_fragment_is_true_to_the_spec():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = _redis.redis_common_argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name


@pytest.mark.parametrize("name", MODULES)
def test_every_redis_module_takes_the_shared_options(name):
    source = (_redis.__file__.rsplit("/module_utils/", 1)[0] + f"/modules/{name}.py")
    with open(source, encoding="utf-8") as handle:
        text = handle.read()
    assert "redis_module(" in text or "redis_common_argument_spec()" in text
    assert "  - opskit.webstack.redis\n" in text
    assert "redis.Redis(" not in text and "login_host=dict(" not in text


def test_connection_kwargs_plain_and_tls():
    params = dict(_redis._DEFAULTS, login_password="", login_user="")
    kwargs = _redis.connection_kwargs(params)
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("127.0.0.1", 6379, 0)
    assert kwargs["password"] is None and kwargs["username"] is None
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (10.0, 60.0)
    assert not any(key.startswith("ssl") for key in kwargs)
    tls = _redis.connection_kwargs(dict(params, tls=True, validate_certs=False, ca_certs="/ca.pem", client_cert_file="/c.pem"),
                                   decode_responses=True)
    assert tls["ssl_cert_reqs"] == "none" and tls["ssl_ca_certs"] == "/ca.pem" and tls["ssl_certfile"] == "/c.pem"
    assert tls["ssl_keyfile"] is None and tls["decode_responses"] is True
    assert _redis.connection_kwargs(dict(params, tls=True))["ssl_cert_reqs"] == "required"


def test_where_fills_in_the_defaults():
    assert _redis.where({}) == "127.0.0.1:6379"
    assert _redis.where({"login_host": "cache", "login_port": 16379, "login_password": None}) == "cache:16379"


# --- failures without a server --------------------------------------------------------------------
def _closed_port_is_closed():
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", CLOSED_PORT)) != 0


@pytest.mark.parametrize("connect", [_redis.connect, _redis.connect_raw])
def test_unreachable_port_fails_clearly(connect):
    pytest.importorskip("redis")
    if not _closed_port_is_closed():
        pytest.skip(f"something listens on {CLOSED_PORT}")
    password = "s3cret-" + secrets.token_hex(6)
    with pytest.raises(_redis.RedisConnectError) as caught:
        connect({"login_port": CLOSED_PORT, "login_password": password, "connect_timeout": 5})
    message = str(caught.value)
    assert message.startswith(f"Failed to connect to Redis at 127.0.0.1:{CLOSED_PORT}: ")
    assert "refused" in message.lower()
    assert password not in message


def test_the_password_is_masked_in_any_reason():
    assert _redis._why(OSError("cannot use hunter2 here"), "hunter2") == "cannot use ******** here"
    assert _redis._why(OSError(), None) == "OSError"


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
    name = f"redis-unit-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "-d", "--name", name, "-e", f"REDIS_PASSWORD={password}", "-p", f"127.0.0.1:{PORT}:6379", IMAGE],
                   check=True, capture_output=True)
    client = redis.Redis(host="127.0.0.1", port=PORT, password=password)
    try:
        for _unused in range(120):
            try:
                if client.ping():
                    break
            except (redis.exceptions.ConnectionError, redis.exceptions.ResponseError):
                time.sleep(0.25)
        yield {"login_port": PORT, "login_password": password}, client
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], check=False, capture_output=True)


def test_connect_gives_a_working_client_on_the_chosen_db(server):
    params, admin = server
    client = _redis.connect(dict(params, db=3))
    client.set("opskit:unit", "x")
    assert admin.execute_command("SELECT", 3) and admin.get("opskit:unit") == b"x"
    admin.execute_command("SELECT", 0)
    assert _redis.connect(dict(params, db=3), decode_responses=True).get("opskit:unit") == "x"


def test_connect_raw_is_authenticated_and_selected(server):
    params, _admin = server
    conn = _redis.connect_raw(dict(params, db=3))
    try:
        conn.send_command("GET", "opskit:unit")
        assert conn.read_response() == b"x"
    finally:
        conn.disconnect()


@pytest.mark.parametrize("connect", [_redis.connect, _redis.connect_raw])
@pytest.mark.parametrize("user", [None, "nobody"])
def test_wrong_password_fails_without_showing_it(server, connect, user):
    params, _admin = server
    wrong = "wrong-" + params["login_password"]
    with pytest.raises(_redis.RedisConnectError) as caught:
        connect(dict(params, login_password=wrong, login_user=user))
    message = str(caught.value)
    assert message.startswith(f"Failed to connect to Redis at 127.0.0.1:{PORT}: ")
    assert wrong not in message and params["login_password"] not in message
    assert "auth" in message.lower() or "password" in message.lower()


def test_no_password_where_one_is_required_fails_at_connect(server):
    params, _admin = server
    with pytest.raises(_redis.RedisConnectError, match=r"^Failed to connect to Redis at 127\.0\.0\.1:"):
        _redis.connect_raw(dict(params, login_password=None))


def _run_module(tmp_path, name, args):
    """Run a module as Ansible does (the JSON args file), in a subprocess of this Python."""
    path = tmp_path / f"args-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.run(
        [sys.executable, "-m", f"ansible_collections.opskit.webstack.plugins.modules.{name}", str(path)],
        capture_output=True, text=True, check=False, timeout=120,
        env={"PYTHONPATH": ":".join(p for p in sys.path if p), "PATH": "/usr/bin:/bin"},
    )
    return json.loads(proc.stdout)


def _module_args(name, tmp_path):
    src = tmp_path / "keys.csv"
    src.write_text("k,v\n")
    return {
        "redis_bulk_load": {"src": str(src)},
        "redis_keys_info": {"pattern": "*"},
        "redis_memory": {"maxmemory": "1mb", "memory_limit": "1gb", "persist": "none"},
        "redis_purge": {"pattern": "opskit:*"},
        "redis_snapshot": {"pattern": "opskit:*", "dest": str(tmp_path / "s.snapshot")},
    }[name]


@pytest.mark.parametrize("name", MODULES)
def test_every_module_fails_the_same_way_on_a_wrong_password(server, tmp_path, name):
    params, _admin = server
    wrong = "wrong-" + params["login_password"]
    result = _run_module(tmp_path, name, dict(_module_args(name, tmp_path), login_port=PORT, login_password=wrong))
    assert result["failed"] is True
    assert result["msg"].startswith(f"Failed to connect to Redis at 127.0.0.1:{PORT}: "), result["msg"]
    assert wrong not in json.dumps(result)


@pytest.mark.parametrize("name", MODULES)
def test_every_module_fails_the_same_way_on_a_closed_port(tmp_path, name):
    pytest.importorskip("redis")
    if not _closed_port_is_closed():
        pytest.skip(f"something listens on {CLOSED_PORT}")
    result = _run_module(tmp_path, name, dict(_module_args(name, tmp_path), login_port=CLOSED_PORT, connect_timeout=5))
    assert result["failed"] is True
    assert result["msg"].startswith(f"Failed to connect to Redis at 127.0.0.1:{CLOSED_PORT}: "), result["msg"]
