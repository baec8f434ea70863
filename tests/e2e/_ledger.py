"""The ledger stack (examples/ledger) as a user runs it: started by plain ``docker compose up``, adopted
by playbooks/adopt.yml, released with the collection's playbooks. Shared by test_own_stack.py (the
database in the Compose project) and test_own_stack_managed.py (a database outside it).
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
from _stack import BIN, LOG_DIR, ROOT, run_playbook

LEDGER_DIR = ROOT / "examples" / "ledger"
IMAGES = ("opskit/ledger:v1", "opskit/ledger:v2", "opskit/ledger:v3-unhealthy", "opskit/nginx:bookworm",
          "opskit/postgres:15", "opskit/redis:7")


def require_images() -> None:
    client = docker.from_env()
    try:
        missing = [image for image in IMAGES if not client.images.list(name=image)]
    finally:
        client.close()
    if missing:
        pytest.fail(f"the own-stack tests need the ledger images (make images); missing: {missing}", pytrace=False)


def secrets() -> dict[str, str]:
    """The ledger's .env (made by init-env.sh when missing)."""
    subprocess.run([str(LEDGER_DIR / "init-env.sh")], check=True, capture_output=True)
    lines = (LEDGER_DIR / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


class Ledger:
    """One ledger stack (a Compose project on 127.0.0.1:port), its inventory and the playbooks run against it."""

    def __init__(self, workdir: Path, project: str, port: int, *, compose_file: str = "compose.yml",
                 env: dict[str, str] | None = None, log_name: str = "own-stack.log"):
        self.workdir = workdir
        self.project = project
        self.url = f"http://127.0.0.1:{port}"
        self.compose_file = LEDGER_DIR / compose_file
        self.ports_env = workdir / "ports.env"
        self.ports_env.write_text("".join(f"{k}={v}\n" for k, v in ({"LEDGER_HTTP_PORT": port} | (env or {})).items()))
        self.inventory = workdir / "inventory"
        self.state_dir = workdir / "state"
        self.log = LOG_DIR / log_name
        self.times: dict[str, float] = {}
        self.extra_args: list[str] = []
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log.write_text("")

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = ["docker", "compose", "-p", self.project, "-f", str(self.compose_file),
               "--env-file", str(LEDGER_DIR / ".env"), "--env-file", str(self.ports_env), *args]
        return subprocess.run(cmd, cwd=LEDGER_DIR, capture_output=True, text=True, check=check, timeout=900)

    def up(self) -> None:
        """Start the stack as its user does, its schema at v1's head migrated by its own tooling."""
        begin = time.monotonic()
        self.compose("up", "-d", "--wait", "--wait-timeout", "600")
        self.compose("exec", "-T", "api", "alembic", "-c", "/srv/ledger/db/alembic.ini", "upgrade", "head")
        self.times["docker compose up --wait, alembic upgrade head"] = round(time.monotonic() - begin, 1)

    def playbook(self, name: str, *args: str, inventory: Path | None = None, timeout: int = 1200) -> tuple[int, str]:
        cmd = [str(BIN / "ansible-playbook"), f"playbooks/{name}", "-i", str(inventory or self.inventory),
               *([] if inventory else self.extra_args), *args]
        run = run_playbook(cmd, self.log, timeout)
        self.times[name + " " + " ".join(args)] = round(run.seconds, 1)
        return run.rc, run.output

    def adopt(self) -> tuple[int, str]:
        """playbooks/adopt.yml against the running project, from a one-host starting inventory."""
        start = self.workdir / "start"
        start.mkdir(exist_ok=True)
        (start / "hosts.yml").write_text(yaml.safe_dump(
            {"all": {"hosts": {self.project: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
        return self.playbook("adopt.yml", "-e", f"adopt_project={self.project}", "-e", f"adopt_output_dir={self.inventory}",
                             inventory=start)

    def add_vars(self, name: str, values: dict) -> None:
        """A file of the user's own lines beside adopt.yml's (group_vars/webstack/<name>)."""
        (self.inventory / "group_vars" / "webstack" / name).write_text(yaml.safe_dump(values))

    def get(self, path: str) -> tuple[int, dict | str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
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

    def service_images(self, service: str = "api") -> set[str]:
        client = docker.from_env()
        try:
            found = client.containers.list(filters={"label": [f"com.docker.compose.project={self.project}",
                                                              f"com.docker.compose.service={service}", "com.docker.compose.oneoff=False"]})
            return {c.attrs["Config"]["Image"] for c in found}
        finally:
            client.close()

    def services(self) -> set[str]:
        return set(self.compose("ps", "--services").stdout.split())

    def sql(self, query: str) -> str:
        """psql on the ledger database: in the project's "pg" service."""
        return self.compose("exec", "-T", "--user", "postgres", "pg", "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                            "-d", "ledger", "-c", query).stdout.strip()

    def reports(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.state_dir / "releases").glob("*/report.json"))
                if not p.parent.is_symlink()]

    def release_id(self, version: str) -> str:
        (found,) = [r["release_id"] for r in self.reports() if r["version"] == version and r["result"] == "success"]
        return found

    def latest_manifest(self) -> dict:
        (store,) = [p for p in (self.state_dir / "backups").iterdir() if (p / "latest").exists()]
        return json.loads((store / "latest" / "manifest.json").read_text())

    def save_times(self) -> None:
        """The durations (s) of the module's steps, with the load average at the end, beside the log."""
        times = self.times | {"load average (1, 5, 15 min) at the end": [round(x, 1) for x in os.getloadavg()], "cpus": os.cpu_count()}
        self.log.with_suffix(".times.json").write_text(json.dumps(times, indent=1))
        print(f"{self.project} times (s):", json.dumps(times), file=sys.stderr)

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", "-t", "1", check=False)
