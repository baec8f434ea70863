"""The example stack under its own Compose project per test, and the playbooks run against it.

Each test gets inventories written into its temporary directory (one host per Compose project,
``ansible_connection: local``), runs the repository's playbooks against them with the venv's
``ansible-playbook`` the way a user does, and reads the outcome from Docker, PostgreSQL, Redis and
the proxy. Projects are named ``e2e-*`` and publish ports 18200-18299 on 127.0.0.1 only
(CONTRIBUTING.md); every one is removed at the end of its test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import docker
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROJECT_DIR = ROOT / "examples" / "webstack"
IMAGES = (
    "opskit/postgres:15",
    "opskit/redis:7",
    "opskit/nginx:bookworm",
    "opskit/webapp:v1",
    "opskit/webapp:v2",
    "opskit/webapp:v3-unhealthy",
    "opskit/webapp:v3-badmigration",
)
LOG_DIR = ROOT / "tests" / "output" / "e2e"


@dataclass
class Run:
    """The outcome of one ansible-playbook run."""

    rc: int
    output: str
    seconds: float


def playbook_env() -> dict[str, str]:
    """ansible-playbook's environment: this checkout's ansible.cfg, its venv first on the PATH."""
    return dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="false",
                PATH=f"{BIN}:{os.environ.get('PATH', '')}")


def run_playbook(cmd: list[str], log_path: Path, timeout: int) -> Run:
    """Run ansible-playbook with this checkout's ansible.cfg and venv, its output appended to log_path
    (straight, so that a slow run can be watched while it runs); the Run has this run's part of the log."""
    env = playbook_env()
    begin = time.monotonic()
    with log_path.open("a") as log:
        log.write(f"\n===== {' '.join(cmd)}\n")
        log.flush()
        start = log.tell()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False)
    output = log_path.read_text()[start:]
    run = Run(proc.returncode, output, time.monotonic() - begin)
    with log_path.open("a") as log:
        log.write(f"===== rc={run.rc} in {run.seconds:.1f}s (load average {os.getloadavg()[0]:.1f})\n")
    return run


class Stack:
    """One copy of the example stack: Compose project ``e2e-<name>`` with ports from ``base_port``."""

    def __init__(self, name: str, base_port: int, workdir: Path):
        if not 18200 <= base_port <= 18297:
            raise ValueError("tests/e2e publish ports 18200-18299 only")
        self.name = f"e2e-{name}"
        self.http_port, self.db_port, self.redis_port = base_port, base_port + 1, base_port + 2
        self.state_dir = workdir / self.name
        self.release_dir = self.state_dir / "releases"
        self.backup_dir = self.state_dir / "backups"
        self.url = f"http://127.0.0.1:{self.http_port}"

    def hostvars(self) -> dict:
        return {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "webstack_project_name": self.name,
            "webstack_project_dir": str(PROJECT_DIR),
            "webstack_state_dir": str(self.state_dir),
            "webstack_release_dir": str(self.release_dir),
            "webstack_backup_dir": str(self.backup_dir),
            "webstack_env_files": [str(PROJECT_DIR / ".env")],
            "webstack_release_env_file": str(self.state_dir / "release.env"),
            "webstack_http_port": self.http_port,
            "webstack_db_port": self.db_port,
            "webstack_redis_port": self.redis_port,
            "webstack_proxy_url": self.url,
            "webstack_app_image": "opskit/webapp",
            "webstack_app_service": "app",
            "webstack_db_service": "db",
            "webstack_redis_service": "redis",
            "webstack_proxy_service": "proxy",
            "webstack_db_name": "webstack",
            "webstack_db_user": "webstack",
        }

    # --- reading the stack ---------------------------------------------------------------------
    def containers(self, service: str) -> list:
        client = docker.from_env()
        try:
            return client.containers.list(
                filters={"label": [f"com.docker.compose.project={self.name}", f"com.docker.compose.service={service}",
                                   "com.docker.compose.oneoff=False"]}
            )
        finally:
            client.close()

    def app_images(self) -> set[str]:
        """The image tags of the running app containers."""
        return {tag for c in self.containers("app") for tag in (c.image.tags or [c.image.id])}

    def app_image_ids(self) -> set[str]:
        return {c.image.id for c in self.containers("app")}

    def exec(self, service: str, argv: list[str], user: str | None = None, environment: dict | None = None) -> str:
        (container,) = self.containers(service)[:1]
        result = container.exec_run(argv, user=user or "", demux=True, environment=environment)
        stdout, stderr = result.output
        if result.exit_code != 0:
            raise AssertionError(f"{argv} in {service} exited {result.exit_code}: {(stderr or b'').decode()}")
        return (stdout or b"").decode().strip()

    def sql(self, query: str) -> str:
        """Run SQL in the database as the postgres superuser (socket inside the db container)."""
        return self.exec("db", ["psql", "-X", "-q", "-d", "webstack", "-At", "-v", "ON_ERROR_STOP=1", "-c", query], user="postgres")

    def revision(self) -> str:
        return self.sql("SELECT version_num FROM alembic_version ORDER BY 1")

    def redis(self, *argv: str) -> str:
        # the password goes through the environment (REDISCLI_AUTH), never on a command line
        return self.exec("redis", ["sh", "-c", 'REDISCLI_AUTH="$REDIS_PASSWORD" exec redis-cli "$@"', "redis-cli", *argv])

    def get(self, path: str = "/health") -> tuple[int, dict | str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                body = response.read().decode()
                status = response.status
        except urllib.error.HTTPError as err:
            body, status = err.read().decode(), err.code
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body

    def served_version(self) -> str | None:
        status, body = self.get("/health")
        return body.get("version") if status == 200 and isinstance(body, dict) else None

    def release_records(self) -> list[dict]:
        # one directory per release; `latest` is a pointer to one of them
        return [json.loads(p.read_text()) for p in sorted(self.release_dir.glob("*/record.json")) if not p.parent.is_symlink()]

    def reports(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(self.release_dir.glob("*/report.json")) if not p.parent.is_symlink()]


def env_value(name: str) -> str | None:
    """A value of examples/webstack/.env (the stack's secrets), None when absent."""
    path = PROJECT_DIR / ".env"
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == name:
            return value.strip().strip("'\"")
    return None


class Release:
    """Inventory of one or more stacks, and the playbooks run against it."""

    def __init__(self, workdir: Path, stacks: list[Stack], group_vars: dict | None = None):
        self.workdir = workdir
        self.stacks = stacks
        self.inventory = workdir / "inventory"
        (self.inventory / "group_vars" / "webstack").mkdir(parents=True, exist_ok=True)
        hosts = {"webstack": {"hosts": {s.name: s.hostvars() for s in stacks}}}
        (self.inventory / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
        # What the example app is like, as inventories/local describes it (nothing of it is built into the roles).
        shutil.copy(ROOT / "inventories" / "local" / "group_vars" / "webstack" / "app.yml", self.inventory / "group_vars" / "webstack" / "app.yml")
        (self.inventory / "group_vars" / "webstack" / "test.yml").write_text(yaml.safe_dump(group_vars) if group_vars else "---\n{}\n")
        self.log = LOG_DIR / f"{workdir.name}.log"
        LOG_DIR.mkdir(parents=True, exist_ok=True)

    def playbook(self, name: str, *args: str, extravars: dict | None = None, timeout: int = 1200) -> Run:
        cmd = [str(BIN / "ansible-playbook"), f"playbooks/{name}", "-i", str(self.inventory), *args]
        if extravars:
            cmd += ["-e", json.dumps(extravars)]
        return run_playbook(cmd, self.log, timeout)

    def start(self, name: str, *args: str, extravars: dict | None = None) -> subprocess.Popen:
        """Start a playbook in the background, in its own session (so that SIGINT reaches all of it, as
        Ctrl-C in a terminal does); its output goes to the log."""
        cmd = [str(BIN / "ansible-playbook"), f"playbooks/{name}", "-i", str(self.inventory), *args]
        if extravars:
            cmd += ["-e", json.dumps(extravars)]
        env = playbook_env()
        log = self.log.open("a")
        log.write(f"\n===== (background) {' '.join(cmd)}\n")
        log.flush()
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def up(self, version: str = "v1") -> None:
        run = self.playbook("stack_up.yml", extravars={"webstack_app_version": version})
        assert run.rc == 0, f"stack_up.yml failed:\n{run.output[-4000:]}"

    def down(self) -> None:
        self.playbook("stack_down.yml")
        for stack in self.stacks:
            subprocess.run(["docker", "compose", "-p", stack.name, "down", "-v", "--remove-orphans", "-t", "1"],
                           cwd=PROJECT_DIR, capture_output=True, check=False)
            shutil.rmtree(stack.state_dir, ignore_errors=True)
