"""Every AWX job template's survey, answered with its defaults, launched the way AWX launches it
(ansible-runner on a private data directory), against one stack: deploy, backup, DR drill, restore,
Redis tuning, rollback; then the playbooks without a survey (warm_cache, status) with no input at all.
AWX passes survey answers as text (integer as a number, multiselect as a list): the playbooks must
accept them or refuse them before anything changes, with a message that says what to do.
"""

from __future__ import annotations

import json
import os

import ansible_runner
import yaml
from _stack import BIN, ROOT, env_value

SURVEYS = ROOT / "awx" / "surveys"


def survey_defaults(name: str, **answers) -> dict:
    """The extra vars AWX sends for a survey answered with its defaults (and ``answers``)."""
    spec = yaml.safe_load((SURVEYS / f"{name}.yml").read_text())["spec"]
    out = {}
    for question in spec:
        value = question.get("default", "")
        if question["type"] == "integer":
            value = int(value)
        elif question["type"] == "multiselect":
            value = [v for v in str(value).split("\n") if v]
        else:
            value = str(value)
        out[question["variable"]] = value
    unknown = set(answers) - set(out)
    assert not unknown, f"{unknown} are not questions of the {name} survey"
    out.update(answers)
    missing = [q["variable"] for q in spec if q.get("required") and out[q["variable"]] in ("", [])]
    assert not missing, f"the {name} survey requires {missing} and has no default for them"
    return out


def run_job(release, tmp_path, playbook: str, extravars: dict, monkeypatch):
    data = tmp_path / f"job-{playbook}"
    (data / "env").mkdir(parents=True)
    (data / "inventory").mkdir()
    (data / "project").symlink_to(ROOT)  # AWX copies the synced project here
    (data / "inventory" / "hosts.yml").write_text((release.inventory / "hosts.yml").read_text())
    (data / "inventory" / "group_vars").symlink_to(release.inventory / "group_vars")
    (data / "env" / "extravars").write_text(yaml.safe_dump(extravars))
    (data / "env" / "envvars").write_text(yaml.safe_dump({
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
        "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
        "ANSIBLE_FORCE_COLOR": "false",
    }))
    (data / "env" / "settings").write_text(yaml.safe_dump({"job_timeout": 900, "suppress_ansible_output": True}))
    monkeypatch.setenv("PATH", f"{BIN}:{os.environ.get('PATH', '')}")
    result = ansible_runner.run(private_data_dir=str(data), playbook=f"playbooks/{playbook}.yml", quiet=True)
    stdout = result.stdout.read()
    (release.log.parent / f"awx-{playbook}.log").write_text(stdout)
    return result, stdout


def assert_no_secret(events, stdout):
    artifacts = json.dumps([e.get("stdout", "") for e in events]) + stdout
    for secret in ("POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        value = env_value(secret)
        if value:
            assert value not in artifacts, f"{secret} appears in the job's output"


def test_every_survey_with_its_defaults(release_factory, tmp_path, monkeypatch):
    release = release_factory([("awx", 18265)])
    (stack,) = release.stacks
    release.up("v1")

    # deploy: the version is the one answer without a default; a percentage typed into the survey
    answers = survey_defaults("deploy", webstack_app_version="v2", webstack_feature_enabled="true", webstack_rollout_percentage=25)
    result, stdout = run_job(release, tmp_path, "deploy", answers, monkeypatch)
    assert result.status == "successful", stdout[-6000:]
    events = list(result.events)
    assert result.stats["failures"] == {} and result.stats["dark"] == {}, result.stats
    assert stack.served_version() == "v2"
    release_env = (stack.state_dir / "release.env").read_text()
    assert "APP_VERSION=v2" in release_env
    assert "FEATURE_ENABLED=true" in release_env and "ROLLOUT_PERCENTAGE=25" in release_env
    assert_no_secret(events, stdout)

    for name in ("backup", "dr_drill", "redis_tune"):
        result, stdout = run_job(release, tmp_path, name, survey_defaults(name), monkeypatch)
        assert result.status == "successful", f"{name}: {stdout[-6000:]}"
        assert_no_secret(list(result.events), stdout)
    assert stack.redis("CONFIG", "GET", "maxmemory-policy").splitlines()[-1] == "allkeys-lru"

    # restore with the survey's defaults: "latest" is accepted, and without the confirmation the
    # live database is not replaced: the job says so before anything changes
    result, stdout = run_job(release, tmp_path, "restore", survey_defaults("restore"), monkeypatch)
    assert result.status == "failed", stdout[-6000:]
    assert "postgres_restore_confirm" in stdout, stdout[-6000:]
    assert stack.served_version() == "v2"

    result, stdout = run_job(release, tmp_path, "rollback", survey_defaults("rollback"), monkeypatch)
    assert result.status == "successful", stdout[-6000:]
    assert stack.served_version() == "v1"

    # the playbooks without a survey, with no input at all
    for name in ("warm_cache", "status"):
        run = release.playbook(f"{name}.yml")
        assert run.rc == 0, f"{name}: {run.output[-4000:]}"
