"""Ledger: the second example app of opskit.webstack, of another shape than examples/webstack.

A Bottle app served by waitress: accounts and their entries in PostgreSQL (psycopg2, a small
connection pool), balances cached in Redis. Its health answer is ``GET /api/ping`` ->
``{"ok": true, "build": "<build>"}``. Configuration comes from the environment only:
POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB (no URL),
REDIS_HOST, REDIS_PORT, REDIS_PASSWORD, and LEDGER_BUILD (set by the image: v1, v2, v3-unhealthy).
"""

from __future__ import annotations

import json
import os
import threading

import bottle
import psycopg2
import psycopg2.pool
import redis

BUILD = os.environ.get("LEDGER_BUILD", "v1")
# v2 added the entries' memo (migration 0003); v3-unhealthy is v2's code with a ping that never passes.
HAS_MEMO = BUILD != "v1"
BROKEN = BUILD == "v3-unhealthy"
BALANCE_TTL = 30

app = bottle.Bottle()
_state = {"pool": None}
_pool_lock = threading.Lock()
_cache = redis.Redis(
    host=os.environ.get("REDIS_HOST", "cache"),
    port=int(os.environ.get("REDIS_PORT", "6379")),
    password=os.environ.get("REDIS_PASSWORD") or None,
    socket_timeout=2,
    socket_connect_timeout=2,
)


def pool():
    with _pool_lock:
        if _state["pool"] is None:
            _state["pool"] = psycopg2.pool.ThreadedConnectionPool(
                1, 8,
                host=os.environ.get("POSTGRES_HOST", "pg"),
                port=int(os.environ.get("POSTGRES_PORT", "5432")),
                user=os.environ.get("POSTGRES_USER", "ledger"),
                password=os.environ.get("POSTGRES_PASSWORD", ""),
                dbname=os.environ.get("POSTGRES_DB", "ledger"),
                connect_timeout=3,
                application_name=f"ledger-{BUILD}",
            )
        return _state["pool"]


def query(sql, args=(), *, write=False):
    """Run one statement on a pooled connection; a broken connection is dropped and tried once more."""
    for attempt in (1, 2):
        conn = pool().getconn()
        broken = False
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                rows = cur.fetchall() if cur.description else []
            conn.commit()
            return rows
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            broken = True
            if attempt == 2 or write:
                raise
        finally:
            if not broken:
                try:
                    conn.rollback()
                except psycopg2.Error:
                    broken = True
            pool().putconn(conn, close=broken)
    return []


def _json(data, status=200):
    bottle.response.status = status
    bottle.response.content_type = "application/json"
    bottle.response.set_header("X-Ledger-Build", BUILD)
    return json.dumps(data, default=str)


@app.get("/api/ping")
def ping():
    problems = []
    try:
        query("SELECT 1")
    except psycopg2.Error as exc:
        problems.append(f"database: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
    try:
        _cache.ping()
    except redis.RedisError as exc:
        problems.append(f"cache: {exc}")
    if BROKEN:
        problems.append("this build never turns healthy (v3-unhealthy)")
    body = {"ok": not problems, "build": BUILD}
    if problems:
        body["problems"] = problems
    return _json(body, 200 if not problems else 503)


@app.get("/api/accounts")
def accounts():
    rows = query("SELECT id, name FROM accounts ORDER BY id")
    return _json({"accounts": [{"id": r[0], "name": r[1]} for r in rows]})


@app.get("/api/accounts/<account:int>/balance")
def balance(account):
    key = f"ledger:balance:{account}"
    try:
        cached = _cache.get(key)
    except redis.RedisError:
        cached = None
    if cached is not None:
        bottle.response.set_header("X-Cache", "HIT")
        return _json(json.loads(cached))
    rows = query("SELECT a.id, a.name, COALESCE(SUM(e.amount_cents), 0) FROM accounts a "
                 "LEFT JOIN entries e ON e.account_id = a.id WHERE a.id = %s GROUP BY a.id, a.name", (account,))
    if not rows:
        return _json({"error": f"no account {account}"}, 404)
    data = {"account": rows[0][0], "name": rows[0][1], "balance_cents": int(rows[0][2])}
    try:
        _cache.set(key, json.dumps(data), ex=BALANCE_TTL)
    except redis.RedisError:
        pass
    bottle.response.set_header("X-Cache", "MISS")
    return _json(data)


@app.get("/api/accounts/<account:int>/entries")
def entries(account):
    if HAS_MEMO:
        rows = query("SELECT id, amount_cents, booked_at, memo FROM entries WHERE account_id = %s ORDER BY id DESC LIMIT 50",
                     (account,))
    else:
        rows = query("SELECT id, amount_cents, booked_at FROM entries WHERE account_id = %s ORDER BY id DESC LIMIT 50", (account,))
    out = [{"id": r[0], "amount_cents": r[1], "booked_at": r[2]} | ({"memo": r[3]} if HAS_MEMO else {}) for r in rows]
    return _json({"account": account, "entries": out})


@app.post("/api/accounts/<account:int>/entries")
def book(account):
    body = bottle.request.json or {}
    try:
        amount = int(body["amount_cents"])
    except (KeyError, TypeError, ValueError):
        return _json({"error": "amount_cents (an integer) is required"}, 400)
    if HAS_MEMO:
        rows = query("INSERT INTO entries (account_id, amount_cents, memo) VALUES (%s, %s, %s) RETURNING id",
                     (account, amount, body.get("memo")), write=True)
    else:
        rows = query("INSERT INTO entries (account_id, amount_cents) VALUES (%s, %s) RETURNING id", (account, amount), write=True)
    try:
        _cache.delete(f"ledger:balance:{account}")
    except redis.RedisError:
        pass
    return _json({"id": rows[0][0]}, 201)


@app.get("/")
def index():
    bottle.response.content_type = "text/plain"
    return f"ledger {BUILD}\n"
