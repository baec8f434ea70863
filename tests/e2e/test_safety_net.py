"""The release's safety net: a rollout that fails after a successful migration, under each schema
policy; Ctrl-C (SIGINT) half-way through a rollout, then the same command again; two deploys
started together. Each ends with a release serving, no failed request under load, and no row lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from loadgen import Load

V1_REVISION = "0002_items_name_index"
V2_REVISION = "0003_items_featured"


def _seed(stack, rows=1000):
    stack.sql("CREATE TABLE IF NOT EXISTS e2e_rows (id int primary key)")
    stack.sql(f"INSERT INTO e2e_rows SELECT generate_series(1, {rows}) ON CONFLICT DO NOTHING")


def _no_failed_request(load, served):
    summary = load.summary()
    failed_at = [round(r[0], 1) for r in load.snapshot() if not 200 <= r[2] < 300]
    assert summary["requests"] > 20, summary
    assert summary["failed"] == 0, (summary["errors"], failed_at[:5])
    assert set(summary["versions"]) <= set(served), summary["versions"]


@pytest.mark.parametrize(
    ("policy", "base_port", "revision_after", "said"),
    [
        ("keep", 18205, V2_REVISION, f"schema kept at {V2_REVISION}"),
        ("downgrade", 18215, V1_REVISION, f"downgraded from {V2_REVISION} to {V1_REVISION} with the code of opskit/webapp:v3-unhealthy"),
    ],
)
def test_rollout_fails_after_the_migration_succeeded(release_factory, policy, base_port, revision_after, said):
    """v3-unhealthy carries v2's migration: it migrates 0002 -> 0003, then never turns healthy."""
    release = release_factory([(f"net-{policy}", base_port)])
    (stack,) = release.stacks
    release.up("v1")
    assert stack.revision() == V1_REVISION
    _seed(stack)
    images_v1 = stack.app_image_ids()

    with Load(f"{stack.url}/health", rate=10, timeout=15) as load:
        run = release.playbook("deploy.yml", extravars={"webstack_app_version": "v3-unhealthy", "webstack_rollback_schema": policy,
                                                        "webstack_deploy_health_timeout": "60"}, timeout=900)

    assert run.rc != 0, run.output[-6000:]
    assert "Release of v3-unhealthy failed" in run.output and "step 'rollout'" in run.output, run.output[-6000:]
    assert said in run.output, run.output[-6000:]
    assert stack.served_version() == "v1" and stack.app_image_ids() == images_v1
    assert stack.revision() == revision_after
    assert stack.sql("SELECT count(*) FROM e2e_rows") == "1000"
    report = stack.reports()[-1]
    assert report["result"] == "rolled_back" and report["failed_step"] == "rollout", report
    assert report["migration"]["from"] == V1_REVISION and report["migration"]["to"] == V2_REVISION, report
    _no_failed_request(load, {"v1"})


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _interrupt(proc):
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_sigint_during_a_rollout_then_the_same_command_again(release_factory):
    release = release_factory([("net-sigint", 18225)])
    (stack,) = release.stacks
    release.up("v1")
    _seed(stack)
    extravars = {"webstack_app_version": "v3-unhealthy", "webstack_deploy_health_timeout": "60"}

    with Load(f"{stack.url}/health", rate=10, timeout=15) as load:
        # 1. Ctrl-C while the rollout waits for an unhealthy v3: the old container keeps serving
        proc = release.start("deploy.yml", extravars=extravars)
        _wait_for(lambda: len(stack.containers("app")) >= 2, 600, "a new app container beside the old one")
        _interrupt(proc)
        assert stack.served_version() == "v1"
        # the same command again: it finds the unhealthy leftover, removes it, fails again, and puts v1 back
        run = release.playbook("deploy.yml", extravars=extravars, timeout=900)
        assert run.rc != 0 and "Release of v3-unhealthy failed" in run.output, run.output[-6000:]
        assert "Took over the lock" in run.output, run.output[-6000:]
        assert stack.served_version() == "v1"
        assert {c.image.tags[0] for c in stack.containers("app")} == {"opskit/webapp:v1"}

        # 2. Ctrl-C while a healthy v2 drains beside v1: the same command again finishes the rollout
        proc = release.start("deploy.yml", extravars={"webstack_app_version": "v2"})
        _wait_for(lambda: any("opskit/webapp:v2" in c.image.tags and c.attrs["State"].get("Health", {}).get("Status") == "healthy"
                              for c in stack.containers("app")), 900, "a healthy v2 container beside v1")
        _interrupt(proc)
        run = release.playbook("deploy.yml", extravars={"webstack_app_version": "v2"}, timeout=900)
        assert run.rc == 0, run.output[-6000:]

    assert stack.served_version() == "v2"
    assert {c.image.tags[0] for c in stack.containers("app")} == {"opskit/webapp:v2"}
    assert stack.sql("SELECT count(*) FROM e2e_rows") == "1000"
    _no_failed_request(load, {"v1", "v2"})


def test_two_deploys_started_together(release_factory):
    release = release_factory([("net-twice", 18255)])
    (stack,) = release.stacks
    release.up("v1")
    first = release.start("deploy.yml", extravars={"webstack_app_version": "v2"})
    _wait_for(lambda: any(stack.release_dir.glob(".lock")), 600, "the first deploy to take the lock")
    second = release.playbook("deploy.yml", extravars={"webstack_app_version": "v2"}, timeout=600)
    assert second.rc != 0
    assert "Another run is changing this stack: deploy of v2" in second.output, second.output[-4000:]
    assert "since" in second.output
    assert first.wait(timeout=900) == 0
    assert stack.served_version() == "v2"
    assert not any(stack.release_dir.glob(".lock"))  # given back
    assert [r["result"] for r in stack.reports()] == ["success"]
