"""A broken v3 whose migration fails half-way is rolled back to v2 (a v3 whose migration succeeds and
whose rollout fails is test_safety_net's)."""

from __future__ import annotations

import pytest
from loadgen import Load


@pytest.mark.parametrize(
    ("tag", "base_port", "failed_step"),
    [
        ("v3-badmigration", 18210, "migrate"),
    ],
)
def test_broken_v3_rolls_back_to_v2(release_factory, tag, base_port, failed_step):
    release = release_factory([(tag.replace("v3-", "v3"), base_port)])
    (stack,) = release.stacks
    release.up("v2")  # v2 running, schema at v2's head (the v1 -> v2 release is test_deploy's)
    assert stack.served_version() == "v2"
    revision_v2 = stack.revision()
    stack.sql("CREATE TABLE e2e_rows (id int primary key)")
    stack.sql("INSERT INTO e2e_rows SELECT generate_series(1, 1000)")
    images_v2 = stack.app_image_ids()

    with Load(f"{stack.url}/health", rate=10, timeout=15) as load:
        run = release.playbook("deploy.yml", extravars={"webstack_app_version": tag})

    # the play fails, with a summary of what failed and what was put back (the report first: when the
    # release failed elsewhere than expected, its step, task and reason say where and why)
    assert run.rc != 0, run.output[-6000:]
    reports = stack.reports()
    assert reports, run.output[-6000:]
    report = reports[-1]
    assert report["failed_step"] == failed_step, (
        {key: report.get(key) for key in ("result", "failed_step", "failed_task", "reason", "steps")}, run.output[-3000:])
    assert "Release of " + tag + " failed" in run.output, run.output[-6000:]
    assert f"step '{failed_step}'" in run.output, run.output[-6000:]
    assert "put back" in run.output
    # v2 serves again (and kept serving: the proxy never answered an error)
    assert stack.served_version() == "v2"
    assert stack.app_image_ids() == images_v2
    load_summary = load.summary()
    failed_at = [round(r[0], 1) for r in load.snapshot() if not 200 <= r[2] < 300]
    assert load_summary["failed"] == 0 and load_summary["versions"].keys() == {"v2"}, (
        load_summary["errors"], failed_at[:3], failed_at[-3:], run.seconds)
    # schema at v2's head, no row lost
    assert stack.revision() == revision_v2
    assert stack.sql("SELECT count(*) FROM e2e_rows") == "1000"
    # the failed release's report says so
    assert report["result"] == "rolled_back", report
