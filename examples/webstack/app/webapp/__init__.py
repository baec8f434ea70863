"""The example web app of opskit.webstack: items and categories read from PostgreSQL through a
Redis cache, a /health endpoint that reports the database, the cache and the schema revision.

Configuration comes from the environment: DATABASE_URL, REDIS_URL, APP_VERSION, and the
release's feature flags FEATURE_ENABLED and ROLLOUT_PERCENTAGE.
"""

from __future__ import annotations

import json
import os
import time

from flask import Flask, Response, abort, jsonify

from webapp import store

app = Flask(__name__)
VERSION = os.environ.get("APP_VERSION", "v1")
# v2 added the featured items (migration 0003); the v3 images are built from v2's code.
HAS_FEATURED = VERSION != "v1"
ALWAYS_UNHEALTHY = VERSION == "v3-unhealthy"


def _cached(key: str, ttl: int, load):
    """Return (value, 'HIT'|'MISS'|'BYPASS') for key, loading and caching it on a miss."""
    cache = store.redis_client()
    try:
        raw = cache.get(key)
    except store.RedisError:
        return load(), "BYPASS"
    if raw is not None:
        return json.loads(raw), "HIT"
    value = load()
    try:
        cache.set(key, json.dumps(value, default=str), ex=ttl)
    except store.RedisError:
        return value, "BYPASS"
    return value, "MISS"


def _json(value, cache_state: str, status: int = 200) -> Response:
    response = jsonify(value)
    response.status_code = status
    response.headers["X-Cache"] = cache_state
    response.headers["X-App-Version"] = VERSION
    return response


@app.get("/health")
def health() -> Response:
    started = time.monotonic()
    database, revision = store.check_database()
    cache = store.check_redis()
    healthy = database == "healthy" and cache == "healthy" and not ALWAYS_UNHEALTHY
    body = {
        "status": "healthy" if healthy else "unhealthy",
        "version": VERSION,
        "services": {"database": database, "redis": cache},
        "alembic_revision": revision,
        "features": {
            "featured": HAS_FEATURED,
            "FEATURE_ENABLED": os.environ.get("FEATURE_ENABLED", "false"),
            "ROLLOUT_PERCENTAGE": os.environ.get("ROLLOUT_PERCENTAGE", "0"),
        },
        "latency_ms": round((time.monotonic() - started) * 1000, 1),
    }
    if ALWAYS_UNHEALTHY:
        body["error"] = "this build is broken on purpose (v3-unhealthy)"
    return _json(body, "BYPASS", 200 if healthy else 503)


@app.get("/")
def index() -> Response:
    lines = [f"webstack {VERSION}"]
    if HAS_FEATURED:
        featured, _unused = _cached("webstack:items:featured", 60, store.featured_items)
        lines.append("Featured: " + ", ".join(item["name"] for item in featured))
    return Response("\n".join(lines) + "\n", mimetype="text/plain", headers={"X-App-Version": VERSION})


@app.get("/items")
def items() -> Response:
    value, state = _cached("webstack:items:all", 60, store.all_items)
    return _json({"version": VERSION, "items": value}, state)


@app.get("/items/<int:item_id>")
def item(item_id: int) -> Response:
    value, state = _cached(f"webstack:item:{item_id}", 300, lambda: store.one_item(item_id))
    if value is None:
        abort(404)
    return _json(value, state)


@app.get("/categories")
def categories() -> Response:
    value, state = _cached("webstack:categories", 300, store.all_categories)
    return _json({"categories": value}, state)


if HAS_FEATURED:

    @app.get("/featured")
    def featured() -> Response:
        value, state = _cached("webstack:items:featured", 60, store.featured_items)
        return _json({"items": value}, state)
