"""deploy.yml run through ansible-runner the way AWX / Automation Controller runs a job template.

AWX lays out a private data directory (``project/``, ``inventory/``, ``env/extravars``,
``env/envvars``, ``env/settings``) and calls ``ansible_runner.run(private_data_dir=...)``; the job's
status and its events are what AWX shows. This test does the same.
"""

from __future__ import annotations

import json
import os

import ansible_runner
import yaml
from _stack import BIN, ROOT, env_value


def test_deploy_through_ansible_runner(release_factory, tmp_path, monkeypatch):
    release = release_factory([("runner", 18260)])
    (stack,) = release.stacks
    release.up("v1")

    data = tmp_path / "private_data_dir"
    (data / "env").mkdir(parents=True)
    (data / "inventory").mkdir()
    (data / "project").symlink_to(ROOT)  # AWX copies the synced project here
    (data / "inventory" / "hosts.yml").write_text((release.inventory / "hosts.yml").read_text())
    (data / "inventory" / "group_vars").symlink_to(release.inventory / "group_vars")
    # the survey answers of the "webstack: deploy" job template
    survey = yaml.safe_load((ROOT / "awx" / "surveys" / "deploy.yml").read_text())
    answers = {"webstack_app_version": "v2", "webstack_deploy_services": ["app"], "webstack_feature_enabled": "true",
               "webstack_rollout_percentage": 25, "webstack_deploy_backup": "true"}
    assert {q["variable"] for q in survey["spec"]} == set(answers)
    (data / "env" / "extravars").write_text(yaml.safe_dump(answers))
    (data / "env" / "envvars").write_text(yaml.safe_dump({
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
        "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
        "ANSIBLE_FORCE_COLOR": "false",
    }))
    (data / "env" / "settings").write_text(yaml.safe_dump({"job_timeout": 420, "suppress_ansible_output": True}))

    # the execution environment has ansible-playbook on its PATH; here it is the venv's
    monkeypatch.setenv("PATH", f"{BIN}:{os.environ.get('PATH', '')}")
    result = ansible_runner.run(private_data_dir=str(data), playbook="playbooks/deploy.yml", quiet=True)
    stdout = result.stdout.read()
    (release.log.parent / "awx-runner.log").write_text(stdout)

    assert result.status == "successful", stdout[-6000:]
    assert result.rc == 0
    events = list(result.events)
    kinds = {event["event"] for event in events}
    assert "playbook_on_stats" in kinds
    assert "runner_on_failed" not in kinds or all(e["event_data"].get("ignore_errors") for e in events if e["event"] == "runner_on_failed")
    stats = result.stats
    assert stats["failures"] == {} and stats["dark"] == {}, stats
    assert stack.name in stats["ok"]
    ok_tasks = {e["event_data"].get("task") for e in events if e["event"] == "runner_on_ok"}
    assert any("health" in (task or "").lower() for task in ok_tasks), ok_tasks
    # the run released v2 with the survey's feature flags
    assert stack.served_version() == "v2"
    release_env = (stack.state_dir / "release.env").read_text()
    assert "APP_VERSION=v2" in release_env
    assert "FEATURE_ENABLED=true" in release_env and "ROLLOUT_PERCENTAGE=25" in release_env
    # AWX keeps the job's artifacts; no secret of the stack reaches them
    artifacts = json.dumps([e.get("stdout", "") for e in events]) + stdout
    for secret in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "DB_PASSWORD"):
        value = env_value(secret)
        if value:
            assert value not in artifacts, f"{secret} appears in the job's output"
