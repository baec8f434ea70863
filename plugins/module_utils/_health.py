# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health checks of the health_check module: http, tcp, postgres, redis; retried, concurrent, deadlined.

http and tcp use the standard library only; postgres imports psycopg (3) or psycopg2, redis imports
redis-py, each only when a check of that kind runs. Every failure is a :class:`CheckFailure` whose
``kind`` (refused, timeout, tls, dns, status, body_mismatch, json_mismatch, auth, ...) and message
say what an operator needs to act on.
"""

from __future__ import annotations

import concurrent.futures
import errno
import http.client
import json
import re
import socket
import ssl
import time
import traceback
import urllib.error
import urllib.request

BODY_LIMIT = 1024 * 1024
SNIPPET = 200
_MISSING = object()


class CheckFailure(Exception):
    """One failed attempt: ``kind`` for machines, ``message`` for operators."""

    def __init__(self, kind, message, **details):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details


class MissingLibrary(Exception):
    """A check needs a Python library that is not installed (psycopg/psycopg2, redis)."""

    def __init__(self, library, trace):
        super().__init__(library)
        self.library = library
        self.trace = trace


def _snippet(text, limit=SNIPPET):
    text = text if isinstance(text, str) else text.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "..."


def describe_socket_error(exc, where, timeout):  # noqa: PLR0911 -- one answer per kind of error
    """A CheckFailure for a socket-level error, or None when ``exc`` is not one."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return CheckFailure("tls", f"TLS error with {where}: certificate verification failed: {exc.verify_message or exc}")
    if isinstance(exc, ssl.SSLError):
        return CheckFailure("tls", f"TLS error with {where}: {exc.reason or exc}")
    if isinstance(exc, ConnectionRefusedError):
        return CheckFailure("refused", f"connection refused by {where} (nothing listens there?)")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return CheckFailure("timeout", f"timed out after {timeout:g}s waiting for {where}")
    if isinstance(exc, socket.gaierror):
        return CheckFailure("dns", f"cannot resolve the host of {where}: {exc.strerror or exc}")
    if isinstance(exc, ConnectionResetError):
        return CheckFailure("reset", f"connection reset by {where}")
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return CheckFailure("unreachable", f"{where} is unreachable: {exc.strerror}")
    if isinstance(exc, OSError):
        return CheckFailure("connection", f"connection to {where} failed: {exc.strerror or exc}")
    return None


# -- JSON path --------------------------------------------------------------------------------------
def json_path_get(document, path):
    """Follow a dotted path (``services.database``, ``items.0.name``); raise CheckFailure when it breaks."""
    node = document
    walked = []
    for part in [p for p in path.split(".") if p != ""]:
        here = ".".join(walked) or "the document"
        if isinstance(node, dict):
            if part not in node:
                keys = ", ".join(sorted(map(str, node))) or "none"
                raise CheckFailure("json_mismatch", f"JSON path {path} not found: {here} has keys {keys}")
            node = node[part]
        elif isinstance(node, list):
            try:
                node = node[int(part)]
            except (ValueError, IndexError):
                raise CheckFailure("json_mismatch", f"JSON path {path} not found: {here} is a list of {len(node)}") from None
        else:
            raise CheckFailure("json_mismatch", f"JSON path {path} not found: {here} is {json.dumps(node)}, not an object")
        walked.append(part)
    return node


def _json_equal(actual, expected):
    if actual == expected and type(actual) is type(expected):
        return True
    # Values from a playbook are often strings: "200" matches 200, "true" matches true.
    if isinstance(expected, str) and not isinstance(actual, str):
        return json.dumps(actual) == expected
    return actual == expected and not isinstance(actual, bool) and not isinstance(expected, bool)


# -- the kinds ----------------------------------------------------------------------------------------
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: PLR0917 -- urllib's signature
        return None


def _opener(spec):
    handlers = []
    if spec["url"].startswith("https:"):
        if spec.get("validate_certs", True):
            context = ssl.create_default_context(cafile=spec.get("ca_path") or None)
        else:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        handlers.append(urllib.request.HTTPSHandler(context=context))
    if not spec.get("use_proxy", True):
        handlers.append(urllib.request.ProxyHandler({}))
    if not spec.get("follow_redirects", True):
        handlers.append(_NoRedirect())
    return urllib.request.build_opener(*handlers)


def _http_fetch(spec, timeout):
    """Send the request; return (status, body text) or raise a CheckFailure that says what went wrong."""
    url = spec["url"]
    if not url or not url.startswith(("http://", "https://")):
        raise CheckFailure("config", f"an http check needs an http:// or https:// url, not {url!r}")
    body = spec.get("body")
    request = urllib.request.Request(  # noqa: S310 -- the scheme is checked above
        url, data=body.encode() if isinstance(body, str) else None, method=(spec.get("method") or "GET").upper(),
        headers=dict(spec.get("headers") or {}))
    try:
        with _opener(spec).open(request, timeout=timeout) as response:
            return response.status, response.read(BODY_LIMIT).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        try:
            payload = exc.read(BODY_LIMIT)
        except OSError:  # the body of an error may be cut short; the status says enough
            payload = b""
        return exc.code, payload.decode("utf-8", "replace")
    except urllib.error.URLError as exc:
        failure = describe_socket_error(exc.reason, url, timeout) if isinstance(exc.reason, BaseException) else None
        raise failure or CheckFailure("connection", f"request to {url} failed: {exc.reason}") from exc
    except http.client.HTTPException as exc:
        raise CheckFailure("protocol", f"{url} closed the connection without an HTTP answer ({exc.__class__.__name__}: {exc})") from exc
    except OSError as exc:
        raise describe_socket_error(exc, url, timeout) from exc


def check_http(spec, timeout):
    status, text = _http_fetch(spec, timeout)
    where = spec["url"]
    got = _snippet(text) or "(empty)"
    details = {"status": status}
    expected = list(spec.get("status_codes") or [200])
    if status not in expected:
        raise CheckFailure("status", f"status {status} from {where} (expected {', '.join(map(str, expected))}); body: {got}", **details)
    pattern = spec.get("body_pattern")
    if pattern and not re.search(pattern, text):
        raise CheckFailure("body_mismatch", f"body of {where} does not match /{pattern}/: got {got}", **details)
    if spec.get("json_path"):
        try:
            document = json.loads(text)
        except ValueError:
            raise CheckFailure("json_mismatch", f"body of {where} is not JSON: {got}", **details) from None
        try:
            actual = json_path_get(document, spec["json_path"])
        except CheckFailure as exc:
            exc.details.update(details)
            raise
        value = spec.get("json_value", _MISSING)
        if value is not _MISSING and value is not None and not _json_equal(actual, value):
            raise CheckFailure(
                "json_mismatch", f"JSON path {spec['json_path']} of {where} is {json.dumps(actual)}, expected {json.dumps(value)}", **details)
        details["json_value"] = actual
    return details


def check_tcp(spec, timeout):
    host, port = spec.get("host") or "127.0.0.1", spec.get("port")
    if not port:
        raise CheckFailure("config", "a tcp check needs port")
    where = f"{host}:{port}"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise describe_socket_error(exc, where, timeout) from exc
    return {}


def _pg_driver():
    try:
        import psycopg  # pylint: disable=import-outside-toplevel

        return psycopg, 3
    except ImportError:
        trace = traceback.format_exc()
    try:
        import psycopg2  # pylint: disable=import-outside-toplevel

        return psycopg2, 2
    except ImportError:
        raise MissingLibrary("psycopg (or psycopg2)", trace) from None


def _pg_failure(exc, where, timeout):  # noqa: PLR0911 -- one answer per kind of error
    text = str(exc).strip()
    code = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
    low = text.lower()
    if code in ("28P01", "28000") or "password authentication failed" in low or "no password supplied" in low:
        return CheckFailure("auth", "authentication failed at {}: {}".format(where, text.splitlines()[-1] if text else ""))
    if "connection refused" in low:
        return CheckFailure("refused", f"connection refused by {where} (nothing listens there?)")
    if "timeout expired" in low or "timed out" in low:
        return CheckFailure("timeout", f"timed out after {timeout:g}s connecting to {where}")
    if code == "3D000" or ("database" in low and "does not exist" in low):
        return CheckFailure("database", f"the database does not exist at {where}: {text.splitlines()[-1]}")
    if "ssl" in low or "certificate" in low:
        return CheckFailure("tls", f"TLS error with {where}: {text.splitlines()[-1]}")
    if "could not translate host name" in low or "name or service not known" in low:
        return CheckFailure("dns", f"cannot resolve the host of {where}")
    return CheckFailure("connection", "PostgreSQL at {}: {}".format(where, " ".join(text.split())))


def check_postgres(spec, timeout):
    driver, version = _pg_driver()
    host, port = spec.get("host") or "127.0.0.1", spec.get("port") or 5432
    where = "{}:{}/{}".format(host, port, spec.get("database") or "postgres")
    kwargs = dict(host=host, port=int(port), user=spec.get("user") or "postgres", dbname=spec.get("database") or "postgres",
                  connect_timeout=max(1, round(timeout)), application_name="opskit-health-check")
    if spec.get("password") is not None:
        kwargs["password"] = spec["password"]
    if spec.get("sslmode"):
        kwargs["sslmode"] = spec["sslmode"]
    # The statement itself is bounded too, so that a stuck server counts as a timeout.
    kwargs["options"] = f"-c statement_timeout={max(1, int(timeout * 1000))}"
    try:
        conn = driver.connect(**kwargs)
    except driver.Error as exc:
        raise _pg_failure(exc, where, timeout) from exc
    try:
        cur = conn.cursor()
        cur.execute(spec.get("query") or "SELECT 1")
        row = cur.fetchone()
        server = conn.info.server_version if version == 3 else conn.server_version
    except driver.Error as exc:
        raise _pg_failure(exc, where, timeout) from exc
    finally:
        conn.close()
    return {"result": list(row) if row is not None else None, "server_version": server}


def check_redis(spec, timeout):
    try:
        import redis  # pylint: disable=import-outside-toplevel
        from redis.backoff import NoBackoff  # pylint: disable=import-outside-toplevel
        from redis.retry import Retry  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise MissingLibrary("redis", traceback.format_exc()) from None
    host, port = spec.get("host") or "127.0.0.1", spec.get("port") or 6379
    where = f"{host}:{port}"
    client = redis.Redis(host=host, port=int(port), db=int(spec.get("db") or 0), username=spec.get("user") or None,
                         password=spec.get("password"), ssl=bool(spec.get("tls")), socket_timeout=timeout,
                         socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0),
                         ssl_cert_reqs="required" if spec.get("validate_certs", True) else "none",
                         ssl_ca_certs=spec.get("ca_path") or None)
    try:
        pong = client.ping()
        info = client.info("server")
    except redis.exceptions.AuthenticationError as exc:
        raise CheckFailure("auth", f"authentication failed at {where}: {exc}") from exc
    except redis.exceptions.ResponseError as exc:
        text = str(exc)
        if text.startswith(("WRONGPASS", "NOAUTH", "NOPERM")) or "auth" in text.lower():
            raise CheckFailure("auth", f"authentication failed at {where}: {text}") from exc
        raise CheckFailure("protocol", f"Redis at {where} answered an error: {text}") from exc
    except redis.exceptions.TimeoutError:
        raise CheckFailure("timeout", f"timed out after {timeout:g}s waiting for Redis at {where}") from None
    except redis.exceptions.ConnectionError as exc:
        cause = exc.__cause__ or exc.__context__
        failure = describe_socket_error(cause, where, timeout) if isinstance(cause, OSError) else None
        if failure is None:
            text = str(exc)
            if "refused" in text.lower():
                failure = CheckFailure("refused", f"connection refused by {where} (nothing listens there?)")
            elif "timed out" in text.lower() or "timeout" in text.lower():
                failure = CheckFailure("timeout", f"timed out after {timeout:g}s waiting for Redis at {where}")
            else:
                failure = CheckFailure("connection", f"Redis at {where}: {text}")
        raise failure from exc
    finally:
        client.close()
    if pong is not True:
        raise CheckFailure("protocol", f"Redis at {where} answered PING with {pong!r}")
    return {"redis_version": info.get("redis_version")}


KINDS = {"http": check_http, "tcp": check_tcp, "postgres": check_postgres, "redis": check_redis}


def target_of(spec):
    """Where a check goes, without secrets."""
    if spec["type"] == "http":
        url = spec.get("url") or ""
        return re.sub(r"//[^/@]*@", "//", url)  # no user:password@ in results
    host = spec.get("host") or "127.0.0.1"
    port = spec.get("port") or {"postgres": 5432, "redis": 6379}.get(spec["type"], "")
    return f"{host}:{port}"


def name_of(spec, index):
    return spec.get("name") or f"{spec['type']} {target_of(spec)} (check {index})"


# -- running ------------------------------------------------------------------------------------------
def run_check(spec, *, retries, delay, deadline_at, timeout, clock=time.monotonic, sleep=time.sleep):
    """Attempt one check until it passes, its retries run out or the deadline passes."""
    result = {"name": spec["_name"], "type": spec["type"], "target": target_of(spec), "ok": False, "attempts": 0,
              "latency_ms": None, "elapsed_ms": None, "error": None, "error_kind": None}
    start = clock()
    func = KINDS[spec["type"]]
    attempts = 1 + max(0, retries)
    for attempt in range(1, attempts + 1):
        remaining = deadline_at - clock()
        if remaining <= 0:
            if result["error"] is None:
                result.update(error="the deadline passed before the first attempt", error_kind="deadline")
            else:
                result["error"] += f" (deadline reached after {attempt - 1} attempt{'s' if attempt > 2 else ''})"
            break
        this_timeout = max(0.05, min(timeout, remaining))
        result["attempts"] = attempt
        began = clock()
        try:
            details = func(spec, this_timeout)
        except MissingLibrary:
            raise
        except CheckFailure as exc:
            result.update(error=exc.message, error_kind=exc.kind, latency_ms=round((clock() - began) * 1000, 1))
            result.update({k: v for k, v in exc.details.items() if k not in result})
            if exc.kind == "config":
                break
        except Exception as exc:  # noqa: BLE001 -- an unexpected error still names the check and its target
            result.update(error=f"{exc.__class__.__name__}: {exc}", error_kind="error",
                          latency_ms=round((clock() - began) * 1000, 1))
        else:
            result.update(ok=True, error=None, error_kind=None, latency_ms=round((clock() - began) * 1000, 1))
            result.update(details)
            break
        if attempt < attempts:
            pause = min(delay, deadline_at - clock())
            if pause > 0:
                sleep(pause)
    result["elapsed_ms"] = round((clock() - start) * 1000, 1)
    return result


def run_checks(checks, *, retries=0, delay=1.0, deadline=60.0, timeout=5.0, concurrency=8):
    """Run every check concurrently; return (results in the order given, failure message or None)."""
    specs = []
    for index, check in enumerate(checks, 1):
        spec = dict(check)
        spec["_name"] = name_of(spec, index)
        specs.append(spec)
    deadline_at = time.monotonic() + deadline
    workers = max(1, min(concurrency, len(specs)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(run_check, spec,
                        retries=spec.get("retries") if spec.get("retries") is not None else retries,
                        delay=spec.get("delay") if spec.get("delay") is not None else delay,
                        deadline_at=deadline_at,
                        timeout=spec.get("timeout") or timeout)
            for spec in specs
        ]
        results = [f.result() for f in futures]
    failed = [r for r in results if not r["ok"]]
    message = None
    if failed:
        reasons = "; ".join(f"{r['name']}: {r['error']} ({r['attempts']} attempt{'s' if r['attempts'] != 1 else ''})" for r in failed)
        message = f"{len(failed)} of {len(results)} health check{'s' if len(results) > 1 else ''} failed: {reasons}"
    return results, message
