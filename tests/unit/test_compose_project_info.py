"""compose_project_info's pure parts: what a Compose configuration says about a stack's roles."""

from __future__ import annotations

import pytest
from ansible_collections.opskit.webstack.plugins.modules import compose_project_info as info

# docker compose config --format json of a stack shaped like examples/ledger (secrets as Compose shows them).
LEDGER = {
    "services": {
        "gateway": {"image": "opskit/nginx:bookworm", "environment": {"UPSTREAM_HOST": "api"},
                    "ports": [{"host_ip": "127.0.0.1", "published": "18500", "target": 80}], "depends_on": {"api": {}}},
        "api": {"image": "opskit/ledger:v1",
                "environment": {"POSTGRES_HOST": "pg", "POSTGRES_PORT": "5432", "POSTGRES_USER": "ledger",
                                "POSTGRES_PASSWORD": "s3cret", "POSTGRES_DB": "ledger", "REDIS_HOST": "cache",
                                "REDIS_PASSWORD": "r3dis"},
                "healthcheck": {"test": ["CMD", "python3", "-m", "ledger.probe"]},
                "depends_on": {"pg": {}, "cache": {}}},
        "pg": {"image": "opskit/postgres:15",
               "environment": {"POSTGRES_USER": "ledger", "POSTGRES_DB": "ledger", "POSTGRES_PASSWORD": "s3cret"},
               "healthcheck": {"test": ["CMD", "pg_isready", "-q"]},
               "volumes": [{"type": "volume", "source": "pgdata", "target": "/var/lib/postgresql/data"}]},
        "cache": {"image": "opskit/redis:7", "environment": {"REDIS_PASSWORD": "r3dis"},
                  "healthcheck": {"test": ["CMD", "/usr/local/bin/redis-healthcheck"]}},
    }
}
RUNNING = [
    {"service": "api", "name": "own-api-1", "image": "opskit/ledger:v1"},
    {"service": "pg", "name": "own-pg-1", "image": "opskit/postgres:15"},
]


@pytest.mark.parametrize(("ref", "expected"), [
    ("opskit/ledger:v1", ("opskit/ledger", "v1")),
    ("registry.example.org:5000/shop/api:1.4.2", ("registry.example.org:5000/shop/api", "1.4.2")),
    ("registry.example.org:5000/shop/api", ("registry.example.org:5000/shop/api", None)),
    ("shop/api@sha256:abc", ("shop/api", None)),
])
def test_split_image(ref, expected):
    assert info.split_image(ref) == expected


def test_services_carry_env_names_never_values():
    services = info.describe_services(LEDGER, RUNNING)
    assert services["api"]["env_names"] == sorted(LEDGER["services"]["api"]["environment"])
    assert "s3cret" not in repr(services) and "r3dis" not in repr(services)
    assert {name: s["kind"] for name, s in services.items()} == {"gateway": "proxy", "api": "app", "pg": "postgres", "cache": "redis"}
    assert services["api"]["containers"] == ["own-api-1"]


def test_guess_of_the_ledger_shape():
    services = info.describe_services(LEDGER, RUNNING)
    out, missing = info.guess(services, LEDGER)
    assert out["app_service"] == "api" and out["app_image"] == "opskit/ledger" and out["app_version"] == "v1"
    assert out["deploy_services"] == ["api"]
    assert (out["db_service"], out["db_name"], out["db_user"], out["db_password_env"]) == ("pg", "ledger", "ledger", "POSTGRES_PASSWORD")
    assert (out["redis_service"], out["redis_password_env"]) == ("cache", "REDIS_PASSWORD")
    assert out["proxy_service"] == "gateway" and out["proxy_url"] == "http://127.0.0.1:18500"
    assert out["alembic_database_env"] == {"host": "POSTGRES_HOST", "port": "POSTGRES_PORT", "user": "POSTGRES_USER",
                                           "password": "POSTGRES_PASSWORD", "name": "POSTGRES_DB"}
    assert out["alembic_database_url_env"] is None
    # the healthcheck names no URL: the health URL is left to the user, and said so
    assert out["health_url"] is None
    assert any(line.startswith("the app's health URL") for line in missing), missing
    assert "s3cret" not in repr((out, missing))


def test_guess_reads_a_health_url_from_the_healthcheck_and_a_database_url_variable():
    config = {"services": {
        "web": {"image": "shop/api:2.0", "environment": ["DATABASE_URL=postgresql://x:y@db/shop"],
                "healthcheck": {"test": "curl -fsS http://localhost:8000/api/v1/utils/health-check/"},
                "ports": [{"host_ip": "0.0.0.0", "published": "8000", "target": 8000}], "depends_on": ["db"]},
        "worker": {"image": "shop/api:2.0", "depends_on": ["db"]},
        "db": {"image": "postgres:16", "environment": {"POSTGRES_PASSWORD": "x"}},
    }}
    services = info.describe_services(config, [])
    out, missing = info.guess(services, config)
    assert out["app_service"] == "web" and out["deploy_services"] == ["web", "worker"]
    assert out["proxy_url"] == "http://127.0.0.1:8000"
    assert out["health_url"] == "http://127.0.0.1:8000/api/v1/utils/health-check/"
    assert out["alembic_database_url_env"] == "DATABASE_URL" and out["alembic_database_env"] is None
    assert out["db_name"] is None and any("database name" in line for line in missing)
    assert any("Redis" in line for line in missing) and any("which service is the app" in line for line in missing)


def test_health_test_forms():
    assert info.health_test({"healthcheck": {"test": "pg_isready"}}) == ["CMD-SHELL", "pg_isready"]
    assert info.health_test({"healthcheck": {"disable": True, "test": ["CMD", "x"]}}) == []
    assert info.health_test({}, {"Test": ["CMD", "probe"]}) == ["CMD", "probe"]
    assert info.health_test({}, {"Test": ["NONE"]}) == []
