"""Your own stack: the ledger stack (examples/ledger), started by plain ``docker compose up``, adopted
by playbooks/adopt.yml, then released with the collection's playbooks and no change to them.

The ledger is of another shape than the example web stack: Bottle on waitress behind nginx, health at
``/api/ping`` answering ``{"ok": true, "build": ...}``, its ``alembic.ini`` in ``/srv/ledger/db``,
an ``env.py`` that builds the database URL from ``POSTGRES_*``, a literal image tag in its compose
file, no database or Redis port, no backup mount. One stack for the whole module (Compose project
``own-ledger``, port 18500 on 127.0.0.1); the inventory is what adopt.yml writes plus the few lines
docs/own-stack.md tells a user to add. Its database is the project's ``pg`` service (the tools run in
its container, the dump streamed out); test_own_stack_managed.py runs the ledger on a database
outside its project.
"""

from __future__ import annotations

import json

import pytest
import yaml
from _ledger import LEDGER_DIR, Ledger, require_images, secrets
from loadgen import Load

PROJECT = "own-ledger"
PORT = 18500
URL = f"http://127.0.0.1:{PORT}"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    require_images()
    secrets()
    stack = Ledger(tmp_path_factory.mktemp("own"), PROJECT, PORT)
    stack.down()  # leftovers of an interrupted earlier run
    stack.up()
    yield stack
    stack.down()
    stack.save_times()


def test_adopt_writes_a_starting_inventory(ledger):
    assert ledger.build() == "v1"
    rc, out = ledger.adopt()
    assert rc == 0, out[-5000:]
    stack = yaml.safe_load((ledger.inventory / "group_vars" / "webstack" / "stack.yml").read_text())
    app = yaml.safe_load((ledger.inventory / "group_vars" / "webstack" / "app.yml").read_text())
    hosts = yaml.safe_load((ledger.inventory / "hosts.yml").read_text())
    assert hosts["webstack"]["hosts"][PROJECT]["ansible_connection"] == "local"
    assert stack["webstack_project_name"] == PROJECT and stack["webstack_project_dir"] == str(LEDGER_DIR)
    assert stack["webstack_compose_files"] == [str(LEDGER_DIR / "compose.yml")]
    assert stack["webstack_env_files"] == [str(LEDGER_DIR / ".env"), str(ledger.ports_env)]
    assert (stack["webstack_app_service"], stack["webstack_app_image"]) == ("api", "opskit/ledger")
    assert (stack["webstack_db_service"], stack["webstack_db_name"], stack["webstack_db_user"]) == ("pg", "ledger", "ledger")
    assert stack["webstack_redis_service"] == "cache" and stack["webstack_proxy_url"] == URL
    assert app["webstack_alembic_config_file"] == "/srv/ledger/db/alembic.ini"
    assert app["webstack_alembic_database_env"]["password"] == "POSTGRES_PASSWORD"
    assert app["webstack_health_url"] == ""
    written = "".join(p.read_text() for p in ledger.inventory.rglob("*.yml"))
    secrets = [line.split("=", 1)[1] for line in (LEDGER_DIR / ".env").read_text().splitlines() if "=" in line]
    assert secrets and not any(secret in written for secret in secrets), "a secret was written into the inventory"
    assert "Could not guess" in written and "health URL" in written and "Could not guess" in out
    # a second run changes nothing
    rc, out = ledger.adopt()
    assert rc == 0 and "changed=0" in out, out[-3000:]
    # the few lines docs/own-stack.md tells a user to add: the health answer, the warm paths, where
    # the collection keeps its state (here: the test's directory)
    ledger.add_vars("vars.yml", {
        "webstack_health_url": "{{ webstack_proxy_url }}/api/ping",
        "webstack_health_json_path": "ok",
        "webstack_health_json_value": "true",
        "webstack_health_version_json_path": "build",
        "webstack_warm_paths": ["/api/accounts", "/api/accounts/1/balance"],
        "webstack_release_cache_patterns": ["ledger:balance:*"],
        "webstack_state_dir": str(ledger.state_dir),
    })


def test_a_missing_alembic_variable_fails_before_anything_changes(ledger):
    # a typo in the name of the password's variable, given as text (-e with JSON), as a user would try it
    wrong = {"webstack_alembic_database_env": {"host": "POSTGRES_HOST", "port": "POSTGRES_PORT", "user": "POSTGRES_USER",
                                               "password": "POSTGRES_PASSWD", "name": "POSTGRES_DB"}}
    rc, out = ledger.playbook("deploy.yml", "-e", "webstack_app_version=v2", "-e", json.dumps(wrong))
    assert rc != 0, out[-4000:]
    assert "webstack_alembic_database_env names POSTGRES_PASSWD, which the environment of service api" in out, out[-4000:]
    assert "nothing was changed" in out and "POSTGRES_PASSWORD" in out, out[-4000:]
    # the message names the variables, never their values
    assert not any(value in out for value in secrets().values())
    # nothing changed: no release record, no backup, v1 serving on v1's schema, the lock given back
    assert not list((ledger.state_dir / "releases").glob("*/record.json"))
    (refused,) = ledger.reports()
    assert refused["result"] == "refused" and refused["failed_step"] == "preflight", refused
    # the report says why, as the play did
    assert "webstack_alembic_database_env names POSTGRES_PASSWD" in refused["reason"], refused
    assert refused["failed_task"] and not any(value in json.dumps(refused) for value in secrets().values()), refused
    assert not (ledger.state_dir / "backups").exists() or not any((ledger.state_dir / "backups").iterdir())
    assert ledger.build() == "v1" and ledger.service_images() == {"opskit/ledger:v1"}
    assert ledger.sql("SELECT version_num FROM alembic_version") == "l002"
    assert not (ledger.state_dir / "releases" / ".lock").exists()


def test_check_then_deploy_v2_under_load(ledger):
    rc, out = ledger.playbook("deploy.yml", "-e", "webstack_app_version=v2", "--check")
    assert rc == 0, out[-6000:]
    assert "Plan of the release of opskit/ledger:v2" in out and "(pending: l003)" in out, out[-6000:]
    assert ledger.build() == "v1" and not list((ledger.state_dir / "releases").glob("*/record.json"))
    assert ledger.sql("SELECT version_num FROM alembic_version") == "l002"

    with Load(f"{URL}/api/ping", rate=10, timeout=15) as load:
        rc, out = ledger.playbook("deploy.yml", "-e", "webstack_app_version=v2")
    assert rc == 0, out[-6000:]
    summary = load.summary()
    assert ledger.build() == "v2" and ledger.service_images() == {"opskit/ledger:v2"}
    assert ledger.sql("SELECT version_num FROM alembic_version") == "l003"
    report = ledger.reports()[-1]
    assert report["result"] == "success", report
    assert report["revision"] == {"from": "l002", "to": "l003"}, report
    assert int(report["warm"]["paths"]) == 2 and int(report["warm"]["failed_paths"]) == 0, report["warm"]
    # the compose file is the user's, untouched; the release's image is pinned by the collection's override
    assert "image: opskit/ledger:v1" in (LEDGER_DIR / "compose.yml").read_text()
    assert "opskit/ledger:v2" in (ledger.state_dir / "release.compose.yml").read_text()
    # on failure: when the failed requests were sent (s from the start) beside the release's steps (s each)
    failures = [(round(r[0], 1), r[4]) for r in load.snapshot() if not 200 <= r[2] < 300]
    assert summary["requests"] > 20 and summary["failed"] == 0, (summary["errors"], failures[:3], failures[-3:], report["steps"])


def test_failed_rollout_is_rolled_back(ledger):
    with Load(f"{URL}/api/ping", rate=5, timeout=15) as load:
        # inputs as text, as -e gives them; no backup (v2's release took one) and a short health timeout keep it lean
        rc, out = ledger.playbook("deploy.yml", "-e", "webstack_app_version=v3-unhealthy", "-e", "webstack_deploy_health_timeout=30",
                                  "-e", "webstack_deploy_backup=false")
    assert rc != 0, out[-6000:]
    assert "Release of v3-unhealthy failed" in out and "step 'rollout'" in out, out[-6000:]
    summary = load.summary()
    assert ledger.build() == "v2" and ledger.service_images() == {"opskit/ledger:v2"}
    assert ledger.reports()[-1]["result"] == "rolled_back"
    assert "opskit/ledger:v2" in (ledger.state_dir / "release.compose.yml").read_text()
    assert summary["failed"] == 0, summary["errors"]


def test_rollback_to_v1(ledger):
    # the record written before v2's release holds v1's state
    v2_release = ledger.release_id("v2")
    # as a record written before the collection had its override: no copy of it (the rollback then
    # pins each recorded service to the image it ran)
    record_file = ledger.state_dir / "releases" / v2_release / "record.json"
    record = json.loads(record_file.read_text())
    override = str(ledger.state_dir / "release.compose.yml")
    assert override in record["compose_files"], record["compose_files"]
    record["compose_files"].remove(override)
    record["files"].pop(override)
    record_file.write_text(json.dumps(record))
    rc, out = ledger.playbook("rollback.yml", "-e", f"webstack_rollback_release_id={v2_release}", "-e", "webstack_rollback_schema=keep")
    assert rc == 0, out[-6000:]
    assert ledger.build() == "v1" and ledger.service_images() == {"opskit/ledger:v1"}
    # schema policy keep: v1's code serves on v2's schema
    assert ledger.sql("SELECT version_num FROM alembic_version") == "l003"
    status, body = ledger.get("/api/accounts/1/balance")
    assert status == 200 and "balance_cents" in body, body
    assert "opskit/ledger:v1" in (ledger.state_dir / "release.compose.yml").read_text()
    assert "pinning the recorded images" in out, out[-3000:]


def test_rollback_with_the_restore_policy(ledger):
    """rollback.yml with webstack_rollback_schema=restore: v2's pre-release backup (taken by the deploy,
    streamed out of the pg container) restored through the same connection as the backup: the schema is
    v1's again, and a row written since is gone."""
    v2_release = ledger.release_id("v2")
    backup = json.loads((ledger.state_dir / "releases" / v2_release / "backup.json").read_text())
    ledger.sql("INSERT INTO accounts (id, name) VALUES (900001, 'written after the release backup')")
    accounts = ledger.sql("SELECT count(*) FROM accounts")
    rc, out = ledger.playbook("rollback.yml", "-e", f"webstack_rollback_release_id={v2_release}", "-e", "webstack_rollback_schema=restore",
                              "-e", "webstack_rollback_confirm_restore=true")
    assert rc == 0, out[-6000:]
    assert f"restored from backup {backup['name']}" in out, out[-4000:]
    assert ledger.sql("SELECT version_num FROM alembic_version") == "l002"
    assert int(ledger.sql("SELECT count(*) FROM accounts")) == int(accounts) - 1
    assert ledger.sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'ledger_old_%'") == "1"
    assert ledger.build() == "v1" and ledger.service_images() == {"opskit/ledger:v1"}
    status, body = ledger.get("/api/accounts/1/balance")
    assert status == 200 and "balance_cents" in body, body


def test_backup_restore_and_drill_of_the_compose_database(ledger):
    """backup.yml, restore.yml and dr_drill.yml on the project's pg service, which mounts no backup
    directory (the dump is streamed out of the container and back in); inputs as text."""
    rc, out = ledger.playbook("backup.yml")
    assert rc == 0, out[-6000:]
    manifest = ledger.latest_manifest()
    assert (manifest["mode"], manifest["transfer"]) == ("container", "stream"), manifest
    ledger.sql("INSERT INTO accounts (id, name) VALUES (900002, 'written after the backup')")
    accounts = int(ledger.sql("SELECT count(*) FROM accounts"))
    rc, out = ledger.playbook("restore.yml", "-e", "postgres_restore_confirm=true")
    assert rc == 0, out[-6000:]
    assert int(ledger.sql("SELECT count(*) FROM accounts")) == accounts - 1
    rc, out = ledger.playbook("dr_drill.yml")
    assert rc == 0, out[-6000:]
    assert "Restore drill on own-ledger passed" in out, out[-3000:]
    assert int(ledger.sql("SELECT count(*) FROM accounts")) == accounts - 1
    # the app serves on the restored database (it drops a broken pooled connection and tries once more)
    status, body = ledger.get("/api/accounts/1/balance")
    assert status == 200 and "balance_cents" in body, body
