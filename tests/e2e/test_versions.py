"""Backups across PostgreSQL versions: 15's backup restores into 17, 17's is refused by 15.

Two databases side by side, opskit/postgres:15 and opskit/postgres:17 (containers e2e-versions-pg15
and e2e-versions-pg17, ports 18230 and 18231 on 127.0.0.1), each seeded with the same little data.
The roles run the way a user runs them (ansible-playbook, container mode, docker exec as postgres):

- on 15 the default compression is gzip, on 17 zstd, and lz4 is selectable on 17; the manifest
  records which, and each backup restores on its own server;
- a backup taken by 15's tools restores into 17 (the upgrade path), rows checked;
- a backup taken by 17's tools is refused by 15 with a message naming both versions, before
  anything changes: no scratch database, the live data untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
VERSIONS = {"15": 18230, "17": 18231}
PASSWORD = "e2e-versions-Pw"
SEED = """
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, created timestamptz DEFAULT now());
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint REFERENCES customers (id), total numeric(12, 2));
CREATE INDEX orders_customer ON orders (customer_id);
INSERT INTO customers (id, name) SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
INSERT INTO orders SELECT g, 1 + g % 5000, g * 1.5 FROM generate_series(1, 20000) g;
ALTER TABLE customers OWNER TO webstack;
ALTER TABLE orders OWNER TO webstack;
"""
COUNTS = "SELECT (SELECT count(*) FROM customers) || ',' || (SELECT count(*) FROM orders)"


def container(version: str) -> str:
    return f"e2e-versions-pg{version}"


def sh(*argv: str, check: bool = True, timeout: int = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, text=True, capture_output=True, timeout=timeout, **kw)


def psql(version: str, sql: str, db: str = "webstack") -> str:
    return sh("docker", "exec", "-u", "postgres", container(version), "psql", "-XAtq", "-v", "ON_ERROR_STOP=1",
              "-d", db, "-c", sql).stdout.strip()


def remove(version: str) -> None:
    sh("docker", "rm", "-f", "-v", container(version), check=False)


def start(version: str, backups: Path) -> None:
    remove(version)
    backups.mkdir(parents=True, exist_ok=True)
    sh("docker", "run", "-d", "--name", container(version), "--label", "opskit.test=e2e-versions",
       "-e", "POSTGRES_USER=webstack", "-e", "POSTGRES_DB=webstack", "-e", f"POSTGRES_PASSWORD={PASSWORD}",
       "-v", f"{backups}:/backups", "-p", f"127.0.0.1:{VERSIONS[version]}:5432", f"opskit/postgres:{version}")


def wait_ready(version: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        probe = sh("docker", "exec", "-u", "postgres", container(version), "psql", "-XAtq", "-d", "webstack", "-c", "SELECT 1",
                   check=False)
        if probe.returncode == 0 and probe.stdout.strip() == "1":
            return
        time.sleep(1)
    raise AssertionError(f"opskit/postgres:{version} did not answer within 180 s: {sh('docker', 'logs', container(version), check=False).stderr[-2000:]}")


def playbook(tmp: Path, role: str, version: str, backups: Path, **role_vars) -> subprocess.CompletedProcess:
    """Run one role against the container of ``version``, its backups in ``backups``."""
    prefix = role
    play = [{
        "name": f"Run {role} on PostgreSQL {version}",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": {
            "ansible_python_interpreter": sys.executable,
            f"{prefix}_mode": "container",
            f"{prefix}_container": container(version),
            f"{prefix}_dir": str(backups),
            f"{prefix}_container_dir": "/backups",
            f"{prefix}_db_name": "webstack",
            **role_vars,
        },
        "roles": [{"role": f"opskit.webstack.{role}"}],
    }]
    path = tmp / f"{role}-{version}-{time.monotonic_ns()}.yml"
    path.write_text(json.dumps(play), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), PATH=f"{BIN}:{os.environ['PATH']}", ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", str(path)], cwd=ROOT, env=env,
                          text=True, capture_output=True, timeout=900, check=False)


def latest_manifest(backups: Path) -> tuple[str, dict]:
    latest = (backups / "webstack" / "latest").resolve()
    return latest.name, json.loads((latest / "manifest.json").read_text())


def copy_backup(src: Path, name: str, dst: Path, version: str, source_db: str) -> None:
    """Put backup ``name`` of ``src`` into ``dst`` under ``source_db``, owned by the target's postgres user."""
    target = dst / source_db / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src / "webstack" / name, target)
    sh("docker", "exec", "-u", "root", container(version), "chown", "-R", "postgres:postgres", f"/backups/{source_db}")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("versions")
    dirs = {v: tmp / f"backups-{v}" for v in VERSIONS}
    try:
        for version in VERSIONS:
            start(version, dirs[version])
        for version in VERSIONS:
            wait_ready(version)
            psql(version, SEED)
        yield tmp, dirs
    finally:
        for version in VERSIONS:
            # The backups were written by the containers' postgres users: remove them from inside.
            sh("docker", "exec", "-u", "root", container(version), "sh", "-c", "rm -rf /backups/* /backups/.[!.]*", check=False)
            remove(version)


def test_default_compression_per_version_and_restore_on_the_same_version(servers):
    tmp, dirs = servers
    expected = {"15": "gzip", "17": "zstd"}
    for version in VERSIONS:
        run = playbook(tmp, "postgres_backup", version, dirs[version])
        assert run.returncode == 0, run.stdout[-3000:]
        _name, manifest = latest_manifest(dirs[version])
        assert manifest["compression"]["method"] == expected[version], manifest["compression"]
        assert str(manifest["server_version_num"]).startswith(version), manifest["server_version_num"]
        run = playbook(tmp, "postgres_restore", version, dirs[version], postgres_restore_confirm=True, postgres_restore_force=True)
        assert run.returncode == 0, run.stdout[-3000:]
        assert psql(version, COUNTS) == "5000,20000"


@pytest.mark.parametrize("method", ["lz4", "gzip"])
def test_other_compressions_on_17(servers, method):
    tmp, dirs = servers
    run = playbook(tmp, "postgres_backup", "17", dirs["17"], postgres_backup_compress_method=method)
    assert run.returncode == 0, run.stdout[-3000:]
    _name, manifest = latest_manifest(dirs["17"])
    assert manifest["compression"]["method"] == method, manifest["compression"]
    listing = sh("docker", "exec", "-u", "postgres", container("17"), "pg_restore", "--list",
                 f"/backups/webstack/{_name}/{manifest['entry']}")
    assert "TABLE DATA public orders" in listing.stdout


def test_backup_of_15_restores_into_17(servers):
    tmp, dirs = servers
    run = playbook(tmp, "postgres_backup", "15", dirs["15"])
    assert run.returncode == 0, run.stdout[-3000:]
    name, _manifest = latest_manifest(dirs["15"])
    copy_backup(dirs["15"], name, dirs["17"], "17", "webstack_from15")
    psql("17", "DELETE FROM orders WHERE id > 10000")
    run = playbook(tmp, "postgres_restore", "17", dirs["17"], postgres_restore_source_db="webstack_from15",
                   postgres_restore_backup=name, postgres_restore_confirm=True)
    assert run.returncode == 0, run.stdout[-3000:]
    assert psql("17", COUNTS) == "5000,20000"
    assert psql("17", "SHOW server_version_num").startswith("17")


def test_backup_of_17_is_refused_by_15_before_anything_changes(servers):
    tmp, dirs = servers
    run = playbook(tmp, "postgres_backup", "17", dirs["17"])
    assert run.returncode == 0, run.stdout[-3000:]
    name, _manifest = latest_manifest(dirs["17"])
    copy_backup(dirs["17"], name, dirs["15"], "15", "webstack_from17")
    psql("15", "DELETE FROM orders WHERE id > 15000")
    databases = psql("15", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database", db="postgres")
    run = playbook(tmp, "postgres_restore", "15", dirs["15"], postgres_restore_source_db="webstack_from17",
                   postgres_restore_backup=name, postgres_restore_confirm=True)
    assert run.returncode != 0, run.stdout[-3000:]
    assert "taken from PostgreSQL 17" in run.stdout and "target server is PostgreSQL 15" in run.stdout, run.stdout[-3000:]
    assert "Nothing was changed" in run.stdout, run.stdout[-3000:]
    assert psql("15", COUNTS) == "5000,15000"
    assert psql("15", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database", db="postgres") == databases
