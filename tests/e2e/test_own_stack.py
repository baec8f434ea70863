"""Your own stack: the ledger stack (examples/ledger), started by plain ``docker compose up``, adopted
by playbooks/adopt.yml, then released with the collection's playbooks and no change to them.

The ledger is of another shape than the example web stack: Bottle on waitress behind nginx, health at
``/api/ping`` answering ``{"ok": true, "build": ...}``, its ``alembic.ini`` in ``/srv/ledger/db``,
an ``env.py`` that builds the database URL from ``POSTGRES_*``, a literal image tag in its compose
file, no database or Redis port, no backup mount. One stack for the whole module (Compose project
``own-ledger``, port 18500 on 127.0.0.1); the inventory is what adopt.yml writes plus the few lines
docs/own-stack.md tells a user to add.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import docker
import pytest
import yaml
from _stack import BIN, LOG_DIR, ROOT
from loadgen import Load

LEDGER_DIR = ROOT / "examples" / "ledger"
PROJECT = "own-ledger"
PORT = 18500
URL = f"http://127.0.0.1:{PORT}"
IMAGES = ("opskit/ledger:v1", "opskit/ledger:v2", "opskit/ledger:v3-unhealthy", "opskit/nginx:bookworm",
          "opskit/postgres:15", "opskit/redis:7")


class Ledger:
    """The ledger stack of this module, its inventory and the playbooks run against it."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.ports_env = workdir / "ports.env"
        self.inventory = workdir / "inventory"
        self.state_dir = workdir / "state"
        self.log = LOG_DIR / "own-stack.log"
        self.times: dict[str, float] = {}

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = ["docker", "compose", "-p", PROJECT, "-f", str(LEDGER_DIR / "compose.yml"),
               "--env-file", str(LEDGER_DIR / ".env"), "--env-file", str(self.ports_env), *args]
        return subprocess.run(cmd, cwd=LEDGER_DIR, capture_output=True, text=True, check=check, timeout=900)

    def playbook(self, name: str, *args: str, inventory: Path | None = None, timeout: int = 1200) -> tuple[int, str]:
        cmd = [str(BIN / "ansible-playbook"), f"playbooks/{name}", "-i", str(inventory or self.inventory), *args]
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="false",
                   PATH=f"{BIN}:{os.environ.get('PATH', '')}")
        begin = time.monotonic()
        with self.log.open("a") as log:
            log.write(f"\n===== {' '.join(cmd)}\n")
            log.flush()
            start = log.tell()
            proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False)
        output = self.log.read_text()[start:]
        self.times[name + " " + " ".join(args)] = round(time.monotonic() - begin, 1)
        with self.log.open("a") as log:
            log.write(f"===== rc={proc.returncode} in {time.monotonic() - begin:.1f}s\n")
        return proc.returncode, output

    def get(self, path: str) -> tuple[int, dict | str]:
        try:
            with urllib.request.urlopen(URL + path, timeout=10) as response:
                status, body = response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            status, body = err.code, err.read().decode()
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body

    def build(self) -> str | None:
        status, body = self.get("/api/ping")
        return body.get("build") if status == 200 and isinstance(body, dict) else None

    def api_images(self) -> set[str]:
        client = docker.from_env()
        try:
            found = client.containers.list(filters={"label": [f"com.docker.compose.project={PROJECT}",
                                                              "com.docker.compose.service=api", "com.docker.compose.oneoff=False"]})
            return {c.attrs["Config"]["Image"] for c in found}
        finally:
            client.close()

    def sql(self, query: str) -> str:
        return self.compose("exec", "-T", "--user", "postgres", "pg", "psql", "-X", "-q", "-At", "-d", "ledger", "-c", query).stdout.strip()

    def reports(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.state_dir / "releases").glob("*/report.json"))
                if not p.parent.is_symlink()]

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", "-t", "1", check=False)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    client = docker.from_env()
    try:
        missing = [image for image in IMAGES if not client.images.list(name=image)]
    finally:
        client.close()
    if missing:
        pytest.fail(f"the own-stack test needs the ledger images (make images); missing: {missing}", pytrace=False)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    stack = Ledger(tmp_path_factory.mktemp("own"))
    stack.log.write_text("")
    subprocess.run([str(LEDGER_DIR / "init-env.sh")], check=True, capture_output=True)
    stack.ports_env.write_text(f"LEDGER_HTTP_PORT={PORT}\n")
    stack.down()  # leftovers of an interrupted earlier run
    begin = time.monotonic()
    stack.compose("up", "-d", "--wait", "--wait-timeout", "600")
    # the stack as it runs in production: its schema at v1's head, migrated by its own tooling
    stack.compose("exec", "-T", "api", "alembic", "-c", "/srv/ledger/db/alembic.ini", "upgrade", "head")
    stack.times["docker compose up --wait, alembic upgrade head"] = round(time.monotonic() - begin, 1)
    yield stack
    stack.down()
    print("own-stack times (s):", json.dumps(stack.times), file=sys.stderr)


def test_adopt_writes_a_starting_inventory(ledger):
    assert ledger.build() == "v1"
    start = ledger.workdir / "start"
    start.mkdir()
    (start / "hosts.yml").write_text(yaml.safe_dump(
        {"all": {"hosts": {PROJECT: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    args = ("-e", f"adopt_project={PROJECT}", "-e", f"adopt_output_dir={ledger.inventory}")
    rc, out = ledger.playbook("adopt.yml", *args, inventory=start)
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
    rc, out = ledger.playbook("adopt.yml", *args, inventory=start)
    assert rc == 0 and "changed=0" in out, out[-3000:]
    # the few lines docs/own-stack.md tells a user to add: the health answer, the warm paths, where
    # the collection keeps its state (here: the test's directory)
    (ledger.inventory / "group_vars" / "webstack" / "mine.yml").write_text(yaml.safe_dump({
        "webstack_health_url": "{{ webstack_proxy_url }}/api/ping",
        "webstack_health_json_path": "ok",
        "webstack_health_json_value": "true",
        "webstack_health_version_json_path": "build",
        "webstack_warm_paths": ["/api/accounts", "/api/accounts/1/balance"],
        "webstack_release_cache_patterns": ["ledger:balance:*"],
        "webstack_state_dir": str(ledger.state_dir),
    }))


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
    assert ledger.build() == "v2" and ledger.api_images() == {"opskit/ledger:v2"}
    assert ledger.sql("SELECT version_num FROM alembic_version") == "l003"
    report = ledger.reports()[-1]
    assert report["result"] == "success", report
    assert report["revision"] == {"from": "l002", "to": "l003"}, report
    assert int(report["warm"]["paths"]) == 2 and int(report["warm"]["failed_paths"]) == 0, report["warm"]
    # the compose file is the user's, untouched; the release's image is pinned by the collection's override
    assert "image: opskit/ledger:v1" in (LEDGER_DIR / "compose.yml").read_text()
    assert "opskit/ledger:v2" in (ledger.state_dir / "release.compose.yml").read_text()
    assert summary["requests"] > 20 and summary["failed"] == 0, (summary["errors"], rc)


def test_failed_rollout_is_rolled_back(ledger):
    with Load(f"{URL}/api/ping", rate=5, timeout=15) as load:
        # inputs as text, as -e gives them; no backup (v2's release took one) and a short health timeout keep it lean
        rc, out = ledger.playbook("deploy.yml", "-e", "webstack_app_version=v3-unhealthy", "-e", "webstack_deploy_health_timeout=30",
                                  "-e", "webstack_deploy_backup=false")
    assert rc != 0, out[-6000:]
    assert "Release of v3-unhealthy failed" in out and "step 'rollout'" in out, out[-6000:]
    summary = load.summary()
    assert ledger.build() == "v2" and ledger.api_images() == {"opskit/ledger:v2"}
    assert ledger.reports()[-1]["result"] == "rolled_back"
    assert "opskit/ledger:v2" in (ledger.state_dir / "release.compose.yml").read_text()
    assert summary["failed"] == 0, summary["errors"]


def test_rollback_to_v1(ledger):
    # the record written before v2's release holds v1's state
    (v2_release,) = [r["release_id"] for r in ledger.reports() if r["version"] == "v2"]
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
    assert ledger.build() == "v1" and ledger.api_images() == {"opskit/ledger:v1"}
    # schema policy keep: v1's code serves on v2's schema
    assert ledger.sql("SELECT version_num FROM alembic_version") == "l003"
    status, body = ledger.get("/api/accounts/1/balance")
    assert status == 200 and "balance_cents" in body, body
    assert "opskit/ledger:v1" in (ledger.state_dir / "release.compose.yml").read_text()
    assert "pinning the recorded images" in out, out[-3000:]
