"""Database and cache access of the example app (psycopg2 and redis-py, short timeouts)."""

from __future__ import annotations

import os
from contextlib import contextmanager

import psycopg2
import psycopg2.extras
import redis
from redis.exceptions import RedisError

__all__ = ["RedisError", "redis_client"]

_redis = None


def database_url() -> str:
    return os.environ["DATABASE_URL"]


@contextmanager
def connection():
    # A connection per request (no pool): on a busy host its start-up alone can take seconds, and
    # /health must report a database that is down, not a host that is busy (a 3 s limit made a healthy
    # v1 answer 503 at load 10 during a deploy). 10 s stays under the load probes' 15 s.
    conn = psycopg2.connect(database_url(), connect_timeout=10, application_name="webapp")
    try:
        with conn:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                yield cur
    finally:
        conn.close()


def redis_client() -> redis.Redis:
    global _redis  # noqa: PLW0603 - one pool per process
    if _redis is None:
        _redis = redis.Redis.from_url(
            os.environ.get("REDIS_URL", "redis://redis:6379/0"), socket_timeout=2, socket_connect_timeout=2
        )
    return _redis


def check_database() -> tuple[str, str | None]:
    """The database's state and the schema revision (None when unversioned or unreadable), on one connection."""
    try:
        with connection() as cur:
            cur.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL AS versioned")
            if not cur.fetchone()["versioned"]:
                return "healthy", None
            try:
                cur.execute("SELECT version_num FROM alembic_version")
            except psycopg2.Error:
                return "healthy", None
            rows = sorted(r["version_num"] for r in cur.fetchall())
    except psycopg2.Error as exc:
        return f"unhealthy: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}", None
    return "healthy", (",".join(rows) if rows else None)


def check_redis() -> str:
    try:
        redis_client().ping()
    except RedisError as exc:
        return f"unhealthy: {exc}"
    return "healthy"


def all_items() -> list[dict]:
    with connection() as cur:
        cur.execute(
            "SELECT i.id, i.name, i.price, c.name AS category FROM items i "
            "JOIN categories c ON c.id = i.category_id ORDER BY i.id"
        )
        return [dict(r) for r in cur.fetchall()]


def one_item(item_id: int) -> dict | None:
    with connection() as cur:
        cur.execute(
            "SELECT i.id, i.name, i.price, i.description, c.name AS category FROM items i "
            "JOIN categories c ON c.id = i.category_id WHERE i.id = %s",
            (item_id,),
        )
        row = cur.fetchone()
    return dict(row) if row else None


def all_categories() -> list[dict]:
    with connection() as cur:
        cur.execute("SELECT id, name FROM categories ORDER BY id")
        return [dict(r) for r in cur.fetchall()]


def featured_items() -> list[dict]:
    with connection() as cur:
        cur.execute("SELECT id, name, price FROM items WHERE featured ORDER BY id")
        return [dict(r) for r in cur.fetchall()]
