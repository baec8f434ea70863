"""Several app hosts (one Compose project each) roll in serial batches; a failing batch stops the rest."""

from __future__ import annotations

from datetime import datetime

# batch 1: one host; batch 2: the rest. Play keywords (serial) see extra vars, not inventory vars, so
# the batches are passed with -e, as AWX passes them. Backup and warm are skipped by tag to keep it short.
BATCHES = {"webstack_deploy_serial": [1, "100%"], "webstack_deploy_max_fail_percentage": 0}
SKIP = ("--skip-tags", "backup,warm")


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_hosts_roll_in_batches_and_a_failing_first_batch_stops_the_rest(release_factory):
    release = release_factory([("batch-a", 18230), ("batch-b", 18240), ("batch-c", 18250)])
    first, *rest = release.stacks
    release.up("v1")

    run = release.playbook("deploy.yml", *SKIP, extravars={**BATCHES, "webstack_app_version": "v2"}, timeout=1200)
    assert run.rc == 0, run.output[-6000:]
    assert {s.served_version() for s in release.stacks} == {"v2"}
    # batch 1 is the first host alone, and it had finished before batch 2 recorded anything
    first_done = _time(first.reports()[-1]["finished"])
    for stack in rest:
        assert _time(stack.release_records()[-1]["created"]) >= first_done, (stack.name, first_done)
    assert [s["step"] for s in first.reports()[-1]["steps"]] == ["preflight", "record", "migrate", "rollout", "verify"]

    # v3-unhealthy: the first batch fails and is rolled back; the later hosts are never touched
    records_before = {s.name: len(s.release_records()) for s in rest}
    run = release.playbook("deploy.yml", *SKIP, extravars={**BATCHES, "webstack_app_version": "v3-unhealthy"}, timeout=1200)
    assert run.rc != 0
    assert "Release of v3-unhealthy failed on e2e-batch-a at step 'rollout'" in run.output
    assert first.served_version() == "v2"
    for stack in rest:
        assert stack.served_version() == "v2"
        assert stack.app_images() == {"opskit/webapp:v2"}
        assert len(stack.release_records()) == records_before[stack.name], f"{stack.name}: a later batch was started"
