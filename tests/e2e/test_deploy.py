"""v1 -> v2 through playbooks/deploy.yml under constant load through the proxy."""

from __future__ import annotations

import json
from pathlib import Path

from loadgen import Load


def test_deploy_v1_to_v2_under_load(release_factory):
    release = release_factory([("deploy", 18200)])
    (stack,) = release.stacks
    release.up("v1")
    assert stack.served_version() == "v1"
    revision_v1 = stack.revision()
    stack.sql("CREATE TABLE IF NOT EXISTS e2e_marker (id int primary key, note text)")
    stack.sql("INSERT INTO e2e_marker SELECT g, 'row ' || g FROM generate_series(1, 500) g ON CONFLICT DO NOTHING")

    # check mode: the plan, and nothing changed
    plan = release.playbook("deploy.yml", "--check", "--diff", extravars={"webstack_app_version": "v2"})
    assert plan.rc == 0, plan.output[-6000:]
    assert "Plan of the release of opskit/webapp:v2" in plan.output
    assert "services that would roll: app'" in plan.output
    assert "(pending: 0003_items_featured)" in plan.output, plan.output[-6000:]
    assert stack.release_records() == [] and stack.served_version() == "v1" and stack.revision() == revision_v1

    with Load(f"{stack.url}/health", rate=10, timeout=15) as load:
        run = release.playbook("deploy.yml", extravars={"webstack_app_version": "v2"})
    assert run.rc == 0, run.output[-6000:]

    # zero failed requests while the release went on, and v2 answered before the end
    load_summary = load.summary()
    # the app serves v2, with the schema at v2's head (one step past v1's)
    assert stack.served_version() == "v2"
    assert stack.app_images() == {"opskit/webapp:v2"}
    revision_v2 = stack.revision()
    assert revision_v2 and revision_v2 != revision_v1
    heads = stack.exec("app", ["python3", "-m", "alembic", "heads"])
    assert revision_v2 in heads, heads
    # no row lost
    assert stack.sql("SELECT count(*) FROM e2e_marker") == "500"

    # the release record was written before the change, with v1's images; the migration it names
    # went from v1's revision to v2's, with v2's image (the code a downgrade needs)
    (record,) = stack.release_records()
    assert record["services"]["app"]["image"].endswith(":v1"), record
    # a verified backup exists, named in the report
    (report,) = stack.reports()
    assert report["result"] == "success", report
    assert report["backup"]["name"], report
    assert report["backup"]["size"] > 0, report
    backup = Path(report["backup"]["path"])
    assert backup.exists() and backup.is_relative_to(stack.backup_dir), report["backup"]
    assert (backup / "manifest.json").exists(), sorted(backup.iterdir())
    assert report["revision"] == {"from": revision_v1, "to": revision_v2}, report
    assert report["migration"]["image"] == "opskit/webapp:v2", report
    assert report["images"]["app"]["to"].endswith(":v2"), report
    steps = [step["step"] for step in report["steps"]]
    for step in ("preflight", "record", "backup", "migrate", "rollout", "warm", "verify"):
        assert step in steps, steps
    assert all(step["result"] == "ok" for step in report["steps"]), json.dumps(report["steps"], indent=1)
    # caches warmed by cache_warm: the three paths through the proxy, the app's warm command, and
    # the keys they write are in Redis with their TTLs; the next read is a cache hit
    assert int(report["warm"]["paths"]) == 3 and int(report["warm"]["failed_paths"]) == 0, report["warm"]
    assert int(report["warm"]["commands"]) == 1, report["warm"]
    assert int(report["warm"]["keys"]) > 3, report["warm"]
    for key in ("webstack:categories", "webstack:items:all", "webstack:item:1"):
        assert stack.redis("EXISTS", key) == "1", key
        assert int(stack.redis("TTL", key)) > 0, key
    # the readable summary closes the run
    assert "Release summary" in run.output

    # zero failed requests through the proxy while the release went on (checked last, so that the
    # outcome above is checked even when the load saw a failure)
    failed_at = [round(r[0], 1) for r in load.snapshot() if not 200 <= r[2] < 300]
    assert load_summary["requests"] > 50, load_summary
    assert load_summary["last_version"] == "v2", load_summary
    assert load_summary["failed"] == 0, (load_summary["errors"], failed_at, load_summary["longest_gap_s"], run.seconds)
