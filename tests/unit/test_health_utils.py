"""module_utils/_health.py against real sockets and HTTP servers on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import socket
import ssl
import subprocess
import threading
import time
from typing import ClassVar

import pytest
from ansible_collections.opskit.webstack.plugins.module_utils import _health as health


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict] = {
        "/health": (200, {"status": "healthy", "services": {"database": "healthy", "redis": "healthy"}}),
        "/degraded": (503, {"status": "unhealthy", "services": {"database": "down"}}),
        "/boom": (500, "Internal Server Error: database is on fire"),
        "/text": (200, "all systems nominal"),
        "/list": (200, {"items": [{"name": "first"}]}),
    }

    def do_GET(self):
        if self.path == "/slow":
            time.sleep(2)
        if self.path == "/echo-header":
            body, status = self.headers.get("X-Probe", "none"), 200
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/health")
            self.end_headers()
            return
        else:
            status, body = self.routes.get(self.path, (404, "not found"))
        data = (json.dumps(body) if not isinstance(body, str) else body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    """An HTTPS server with a self-signed certificate for 127.0.0.1."""
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                   check=True, capture_output=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(d / "cert.pem"), str(d / "key.pem"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", str(d / "cert.pem")
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 where nothing listens."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def silent_port():
    """A listening socket that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


def one(check, **kw):
    results, message = health.run_checks([check], **kw)
    return results[0], message


def test_http_passes_with_json_path(http_server):
    result, message = one({"type": "http", "url": http_server + "/health", "json_path": "services.database",
                           "json_value": "healthy", "name": "app"})
    assert message is None
    assert result["ok"] is True and result["status"] == 200 and result["json_value"] == "healthy"
    assert result["attempts"] == 1 and result["latency_ms"] >= 0 and result["error"] is None


def test_http_status_500(http_server):
    result, message = one({"type": "http", "url": http_server + "/boom", "name": "app"})
    assert result["ok"] is False and result["error_kind"] == "status" and result["status"] == 500
    assert "status 500" in result["error"] and "expected 200" in result["error"]
    assert "database is on fire" in result["error"]
    assert message.startswith("1 of 1 health check failed: app: status 500")


def test_http_expected_status(http_server):
    result, _unused = one({"type": "http", "url": http_server + "/degraded", "status_codes": [503]})
    assert result["ok"] is True


def test_http_json_value_mismatch(http_server):
    result, _unused = one({"type": "http", "url": http_server + "/degraded", "status_codes": [503],
                           "json_path": "services.database", "json_value": "healthy"})
    assert result["error_kind"] == "json_mismatch"
    assert 'is "down", expected "healthy"' in result["error"]


def test_http_json_path_missing(http_server):
    result, _unused = one({"type": "http", "url": http_server + "/health", "json_path": "services.cache"})
    assert result["error_kind"] == "json_mismatch"
    assert "services.cache not found" in result["error"] and "database, redis" in result["error"]


def test_http_json_path_into_list(http_server):
    result, _unused = one({"type": "http", "url": http_server + "/list", "json_path": "items.0.name", "json_value": "first"})
    assert result["ok"] is True


def test_http_not_json(http_server):
    result, _unused = one({"type": "http", "url": http_server + "/text", "json_path": "status"})
    assert result["error_kind"] == "json_mismatch" and "not JSON" in result["error"]


def test_http_body_mismatch_shows_body(http_server):
    result, _unused = one({"type": "http", "url": http_server + "/text", "body_pattern": "^OK$"})
    assert result["error_kind"] == "body_mismatch"
    assert "/^OK$/" in result["error"] and "all systems nominal" in result["error"]
    good, _unused = one({"type": "http", "url": http_server + "/text", "body_pattern": "nominal"})
    assert good["ok"]


def test_http_headers_are_sent(http_server):
    result, _unused = one({"type": "http", "url": http_server + "/echo-header", "headers": {"X-Probe": "yes"},
                           "body_pattern": "^yes$"})
    assert result["ok"], result["error"]


def test_http_redirects(http_server):
    followed, _unused = one({"type": "http", "url": http_server + "/redirect"})
    assert followed["ok"] and followed["status"] == 200
    kept, _unused = one({"type": "http", "url": http_server + "/redirect", "follow_redirects": False, "status_codes": [302]})
    assert kept["ok"] and kept["status"] == 302


def test_http_refused(closed_port):
    result, message = one({"type": "http", "url": f"http://127.0.0.1:{closed_port}/", "name": "proxy"})
    assert result["error_kind"] == "refused" and "connection refused" in result["error"]
    assert "proxy: connection refused" in message


def test_http_timeout(silent_port):
    start = time.monotonic()
    result, _unused = one({"type": "http", "url": f"http://127.0.0.1:{silent_port}/"}, timeout=0.5)
    assert result["error_kind"] == "timeout" and "timed out after 0.5s" in result["error"]
    assert time.monotonic() - start < 3


def test_http_read_timeout(http_server):
    result, _unused = one({"type": "http", "url": http_server + "/slow"}, timeout=0.5)
    assert result["error_kind"] == "timeout"


def test_https_self_signed(https_server):
    url, cert = https_server
    strict, _unused = one({"type": "http", "url": url + "/health"})
    assert strict["error_kind"] == "tls" and "certificate verification failed" in strict["error"]
    loose, _unused = one({"type": "http", "url": url + "/health", "validate_certs": False})
    assert loose["ok"], loose["error"]
    pinned, _unused = one({"type": "http", "url": url + "/health", "ca_path": cert})
    assert pinned["ok"], pinned["error"]


def test_https_against_plain_http(http_server):
    result, _unused = one({"type": "http", "url": http_server.replace("http:", "https:") + "/health"})
    assert result["error_kind"] == "tls" and "TLS error" in result["error"]


def test_tcp(silent_port, closed_port):
    ok, _unused = one({"type": "tcp", "host": "127.0.0.1", "port": silent_port})
    assert ok["ok"] and ok["target"] == f"127.0.0.1:{silent_port}"
    refused, _unused = one({"type": "tcp", "host": "127.0.0.1", "port": closed_port})
    assert refused["error_kind"] == "refused"


def test_postgres_refused(closed_port):
    pytest.importorskip("psycopg")
    result, _unused = one({"type": "postgres", "host": "127.0.0.1", "port": closed_port, "password": "x"}, timeout=2)
    assert result["error_kind"] == "refused", result["error"]


def test_redis_refused_and_timeout(closed_port, silent_port):
    pytest.importorskip("redis")
    refused, _unused = one({"type": "redis", "host": "127.0.0.1", "port": closed_port})
    assert refused["error_kind"] == "refused", refused["error"]
    slow, _unused = one({"type": "redis", "host": "127.0.0.1", "port": silent_port}, timeout=0.5)
    assert slow["error_kind"] == "timeout", slow["error"]


def test_retries_until_it_passes(closed_port):
    """A server that starts after the first attempt: the second or a later attempt passes."""
    def start_later():
        time.sleep(0.4)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", closed_port), _Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)

    started = []
    threading.Thread(target=start_later, daemon=True).start()
    result, message = one({"type": "http", "url": f"http://127.0.0.1:{closed_port}/health"}, retries=20, delay=0.1)
    for server in started:
        server.shutdown()
        server.server_close()
    assert message is None and result["ok"] and result["attempts"] > 1


def test_deadline_stops_retries(closed_port):
    start = time.monotonic()
    result, _unused = one({"type": "tcp", "port": closed_port}, retries=100, delay=0.2, deadline=1)
    assert 1 <= time.monotonic() - start < 2
    assert not result["ok"] and 3 <= result["attempts"] < 10
    assert "deadline reached" in result["error"]


def test_checks_run_concurrently(silent_port, http_server):
    checks = [{"type": "http", "url": f"http://127.0.0.1:{silent_port}/", "name": f"slow{i}"} for i in range(4)]
    checks.append({"type": "http", "url": http_server + "/health", "name": "good"})
    start = time.monotonic()
    results, message = health.run_checks(checks, timeout=1)
    assert time.monotonic() - start < 2.5  # four 1 s timeouts side by side, not one after the other
    assert [r["name"] for r in results] == ["slow0", "slow1", "slow2", "slow3", "good"]
    assert results[-1]["ok"] and message.startswith("4 of 5 health checks failed")
    assert "good" not in message


@pytest.mark.parametrize("path, expected", [("a.b", 1), ("a.c.0", "x"), ("", {"a": {"b": 1, "c": ["x"]}})])
def test_json_path_get(path, expected):
    assert health.json_path_get({"a": {"b": 1, "c": ["x"]}}, path) == expected


@pytest.mark.parametrize("actual, expected, equal", [
    (200, "200", True), (True, "true", True), (True, True, True), (1, True, False), ("healthy", "healthy", True),
    ("up", "healthy", False), (None, "null", True)])
def test_json_equal(actual, expected, equal):
    assert health._json_equal(actual, expected) is equal


def test_target_hides_credentials():
    assert health.target_of({"type": "http", "url": "http://u:pw@127.0.0.1/x"}) == "http://127.0.0.1/x"
    assert health.target_of({"type": "redis"}) == "127.0.0.1:6379"
