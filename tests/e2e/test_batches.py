"""Several app hosts (one Compose project each) roll in serial batches; a failing batch stops the rest."""

from __future__ import annotations

BATCHES = {"webstack_deploy_serial": [1, "100%"], "webstack_deploy_max_fail_percentage": 0}


def test_hosts_roll_in_batches_and_a_failing_first_batch_stops_the_rest(release_factory):
    release = release_factory([("batch-a", 18230), ("batch-b", 18240), ("batch-c", 18250)], group_vars=BATCHES)
    first, *rest = release.stacks
    release.up("v1")

    run = release.playbook("deploy.yml", extravars={"webstack_app_version": "v2"})
    assert run.rc == 0, run.output[-6000:]
    assert {s.served_version() for s in release.stacks} == {"v2"}
    # batch 1 is the first host alone, and it finished before batch 2 began
    first_done = first.reports()[-1]["finished"]
    assert all(s.release_records()[-1]["created"] >= first_done for s in rest), [s.release_records() for s in rest]
    assert run.output.count("PLAY [") >= 2 * 1

    # v3-unhealthy: the first batch fails and is rolled back; the later hosts are never touched
    records_before = {s.name: len(s.release_records()) for s in rest}
    run = release.playbook("deploy.yml", extravars={"webstack_app_version": "v3-unhealthy"})
    assert run.rc != 0
    assert first.served_version() == "v2"
    for stack in rest:
        assert stack.served_version() == "v2"
        assert stack.app_images() == {"opskit/webapp:v2"}
        assert len(stack.release_records()) == records_before[stack.name], "a later batch was started"
