"""Your own stack on a database outside its Compose project (a managed PostgreSQL, as in the operations
guide this project started from): the ledger stack of examples/ledger/compose.managed.yml, which has no
database service. The "managed" database is a PostgreSQL 15 container started here on its own, on a
Docker network of its own (``own-ledger-m-db``, which the stack's app joins as an external network)
and published on 127.0.0.1:18553, where the target host's backup and restore tools reach it over TCP
with a password (a one-off client container on the host). The app and its migrations reach it by
name, ``own-ledger-m-pg:5432``, from their own environment (``POSTGRES_*``).

The inventory is what adopt.yml writes plus the lines docs/own-stack.md tells a user to add for such
a database (its address from the host, name, user, and the password in a vault-encrypted file). With
no change to roles or playbooks: a release whose migration runs against the outside database (v1 ->
v2 under load, 0 failed requests), rollback.yml with the schema policy restore (v2's pre-release
backup restored over TCP: v1's schema again), then backup.yml, restore.yml and dr_drill.yml.
Project ``own-ledger-m``, port 18502 on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from _ledger import Ledger, require_images, secrets
from _stack import BIN
from loadgen import Load

PROJECT = "own-ledger-m"
PORT = 18502
DB_CONTAINER = "own-ledger-m-pg"
DB_NETWORK = "own-ledger-m-db"
DB_PORT = 18553
VAULT_PASSWORD = "own-ledger-m vault password"


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, text=True, capture_output=True, timeout=300)


def psql(query: str) -> str:
    """psql on the outside database, in its own container (as postgres, by the local socket)."""
    return sh("docker", "exec", "-u", "postgres", DB_CONTAINER, "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", "ledger",
              "-c", query).stdout.strip()


def remove_database() -> None:
    sh("docker", "rm", "-f", "-v", DB_CONTAINER, check=False)
    sh("docker", "network", "rm", DB_NETWORK, check=False)


def start_database(password: str) -> None:
    sh("docker", "network", "create", "--label", "opskit.test=db", DB_NETWORK)
    sh("docker", "run", "-d", "--name", DB_CONTAINER, "--network", DB_NETWORK, "--label", "opskit.test=db",
       "-p", f"127.0.0.1:{DB_PORT}:5432", "-e", "POSTGRES_USER=ledger", "-e", "POSTGRES_DB=ledger",
       "-e", f"POSTGRES_PASSWORD={password}", "opskit/postgres:15")
    # ready over TCP: the entrypoint's first server (while it initialises) listens on the socket only
    deadline = time.monotonic() + 180
    while sh("docker", "exec", DB_CONTAINER, "pg_isready", "-q", "-h", "127.0.0.1", "-U", "ledger", "-d", "ledger",
             check=False).returncode != 0:
        assert time.monotonic() < deadline, sh("docker", "logs", DB_CONTAINER, check=False).stderr[-2000:]
        time.sleep(1)
    # the login of a managed database is its admin user: it owns the database and may create databases
    # (roles/postgres_restore/README.md: the restore builds a scratch database, then renames)
    psql("ALTER ROLE ledger CREATEDB")
    assert psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'ledger'") == "ledger"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    require_images()
    password = secrets()["LEDGER_DB_PASSWORD"]
    stack = Ledger(tmp_path_factory.mktemp("own-managed"), PROJECT, PORT, compose_file="compose.managed.yml",
                   env={"LEDGER_DB_HOST": DB_CONTAINER, "LEDGER_DB_PORT": "5432", "LEDGER_DB_NETWORK": DB_NETWORK},
                   log_name="own-stack-managed.log")
    stack.down()  # leftovers of an interrupted earlier run
    remove_database()
    try:
        start_database(password)
        stack.up()
        yield stack
    finally:
        stack.down()
        remove_database()
        stack.save_times()


def test_adopt_then_describe_the_outside_database(ledger):
    assert ledger.build() == "v1" and ledger.services() == {"gateway", "api", "cache"}
    rc, out = ledger.adopt()
    assert rc == 0, out[-5000:]
    assert "a PostgreSQL service: none found" in out, out[-3000:]
    app = (ledger.inventory / "group_vars" / "webstack" / "app.yml").read_text()
    assert "webstack_alembic_database_env" in app and "/srv/ledger/db/alembic.ini" in app
    # the lines docs/own-stack.md tells a user to add: health and warm as for any stack, and the database
    # as the target host reaches it; its password in a vault-encrypted file
    ledger.add_vars("vars.yml", {
        "webstack_health_url": "{{ webstack_proxy_url }}/api/ping",
        "webstack_health_json_path": "ok",
        "webstack_health_json_value": "true",
        "webstack_health_version_json_path": "build",
        "webstack_warm_paths": ["/api/accounts"],
        "webstack_state_dir": str(ledger.state_dir),
        "webstack_db_host": "127.0.0.1",
        "webstack_db_port": DB_PORT,
        "webstack_db_name": "ledger",
        "webstack_db_user": "ledger",
        # no registry here: the client image is chosen among the host's opskit/postgres images
        "webstack_db_client_image_repository": "opskit/postgres",
    })
    vault_file = ledger.workdir / "vault-password"
    vault_file.write_text(VAULT_PASSWORD + "\n")
    vault_file.chmod(0o600)
    secret = ledger.inventory / "group_vars" / "webstack" / "vault.yml"
    secret.write_text(f"webstack_db_password: {json.dumps(secrets()['LEDGER_DB_PASSWORD'])}\n")
    sh(str(BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(vault_file), str(secret))
    assert secret.read_text().startswith("$ANSIBLE_VAULT")
    ledger.extra_args = ["--vault-password-file", str(vault_file)]


def test_deploy_v2_migrates_the_outside_database_under_load(ledger):
    assert psql("SELECT version_num FROM alembic_version") == "l002"
    with Load(f"{ledger.url}/api/ping", rate=10, timeout=15) as load:
        rc, out = ledger.playbook("deploy.yml", "-e", "webstack_app_version=v2")
    assert rc == 0, out[-6000:]
    summary = load.summary()
    assert ledger.build() == "v2" and ledger.service_images() == {"opskit/ledger:v2"}
    # the migration ran against the outside database, from the app's own environment
    assert psql("SELECT version_num FROM alembic_version") == "l003"
    assert psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'entries' AND column_name = 'memo'") == "1"
    report = ledger.reports()[-1]
    assert report["result"] == "success" and report["revision"] == {"from": "l002", "to": "l003"}, report
    # the release's backup was taken over TCP by a client container of the server's major, before the migration
    manifest = ledger.latest_manifest()
    assert manifest["mode"] == "client_container" and manifest["pg_dump_version"].startswith("pg_dump (PostgreSQL) 15."), manifest
    assert secrets()["LEDGER_DB_PASSWORD"] not in out
    # on failure: when the failed requests were sent (s from the start) beside the release's steps (s each)
    failures = [(round(r[0], 1), r[4]) for r in load.snapshot() if not 200 <= r[2] < 300]
    assert summary["requests"] > 20 and summary["failed"] == 0, (summary["errors"], failures[:3], failures[-3:], report["steps"])


def test_rollback_restores_the_outside_database(ledger):
    """rollback.yml with the schema policy restore (inputs as text): v2's pre-release backup restored into
    the outside database through the same connection as the backup: v1's schema and data again."""
    v2_release = ledger.release_id("v2")
    backup = json.loads((ledger.state_dir / "releases" / v2_release / "backup.json").read_text())
    psql("INSERT INTO accounts (id, name) VALUES (900001, 'written after the release backup')")
    accounts = int(psql("SELECT count(*) FROM accounts"))
    with Load(f"{ledger.url}/api/ping", rate=10, timeout=15) as load:
        rc, out = ledger.playbook("rollback.yml", "-e", f"webstack_rollback_release_id={v2_release}", "-e", "webstack_rollback_schema=restore",
                                  "-e", "webstack_rollback_confirm_restore=true")
    assert rc == 0, out[-6000:]
    # printed, not asserted: what the restore's swap did to requests (the app retries a broken connection once)
    summary = load.summary()
    ledger.times["rollback with restore: requests, failed"] = [summary["requests"], summary["failed"]]
    assert f"restored from backup {backup['name']}" in out, out[-4000:]
    assert ledger.build() == "v1" and ledger.service_images() == {"opskit/ledger:v1"}
    assert psql("SELECT version_num FROM alembic_version") == "l002"
    assert int(psql("SELECT count(*) FROM accounts")) == accounts - 1
    assert psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'ledger_old_%'") == "1"
    status, body = ledger.get("/api/accounts/1/balance")
    assert status == 200 and "balance_cents" in body, body
    assert secrets()["LEDGER_DB_PASSWORD"] not in out


def test_backup_restore_and_drill_of_the_outside_database(ledger):
    rc, out = ledger.playbook("backup.yml")
    assert rc == 0, out[-6000:]
    assert ledger.latest_manifest()["mode"] == "client_container"
    psql("INSERT INTO accounts (id, name) VALUES (900002, 'written after the backup')")
    accounts = int(psql("SELECT count(*) FROM accounts"))
    # the port as text, as -e gives it
    rc, out = ledger.playbook("restore.yml", "-e", "postgres_restore_confirm=true", "-e", f"webstack_db_port={DB_PORT}")
    assert rc == 0, out[-6000:]
    assert int(psql("SELECT count(*) FROM accounts")) == accounts - 1
    rc, out = ledger.playbook("dr_drill.yml")
    assert rc == 0, out[-6000:]
    assert f"Restore drill on {PROJECT} passed" in out, out[-3000:]
    assert int(psql("SELECT count(*) FROM accounts")) == accounts - 1
    status, body = ledger.get("/api/accounts/1/balance")
    assert status == 200 and "balance_cents" in body, body
    assert secrets()["LEDGER_DB_PASSWORD"] not in out
