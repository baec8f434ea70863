"""The release record (write, attachments, journal, read, list) and the stack lock, on real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from ansible_collections.opskit.webstack.plugins.module_utils import _compose_rollout as rollout
from ansible_collections.opskit.webstack.plugins.module_utils import _release_lock as lock
from ansible_collections.opskit.webstack.plugins.module_utils import _release_record as records

CONTAINERS = [
    {"Name": "/web-app-2", "Image": "sha256:a", "Config": {"Image": "webapp:v1", "Labels": {records.LABEL_SERVICE: "app"}}},
    {"Name": "/web-app-1", "Image": "sha256:a", "Config": {"Image": "webapp:v1", "Labels": {records.LABEL_SERVICE: "app"}}},
    {"Name": "/web-db-1", "Image": "sha256:d", "Config": {"Image": "postgres:15", "Labels": {records.LABEL_SERVICE: "db"}}},
]
IMAGES = [{"Id": "sha256:a", "RepoDigests": ["webapp@sha256:aa"]}, {"Id": "sha256:d", "RepoDigests": []}]


def _record(src, release_id="r1", names=("app",)):
    return records.build_record(
        release_id, project="web", project_dir=str(src), host="h1", env={"APP_VERSION": "v2"},
        compose_files=[str(src / "compose.yml")], env_files=[str(src / ".env")], containers=CONTAINERS, images=IMAGES,
        names=list(names), target={"app": "webapp:v2"}, extra={"target_version": "v2"}, clock=lambda: (2026, 12, 3, 12, 0, 0, 3, 337, 0))


@pytest.fixture
def src(tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "compose.yml").write_text("services: {}\n")
    (folder / ".env").write_text("POSTGRES_PASSWORD=s3cret\n")
    return folder


def test_write_record_is_whole_private_and_never_overwritten(tmp_path, src):
    releases = tmp_path / "releases"
    record = _record(src)
    path = records.write_record(str(releases), record)
    assert path == str(releases / "r1")
    on_disk = json.loads((releases / "r1" / "record.json").read_text())
    assert on_disk == record
    assert record["created"] == "2026-12-03T12:00:00Z"
    assert record["services"] == {"app": {"image": "webapp:v1", "image_id": "sha256:a", "image_ids": ["sha256:a"],
                                          "repo_digests": ["webapp@sha256:aa"], "replicas": 2,
                                          "containers": ["web-app-1", "web-app-2"]}}
    assert "s3cret" not in (releases / "r1" / "record.json").read_text()
    assert oct(os.stat(releases / "r1" / "record.json").st_mode & 0o777) == "0o600"
    assert oct(os.stat(releases / "r1").st_mode & 0o777) == "0o700"
    assert oct(os.stat(releases / "r1" / "files" / ".env").st_mode & 0o777) == "0o600"
    assert oct(os.stat(releases / "r1" / "files" / "compose.yml").st_mode & 0o777) == "0o640"
    assert os.readlink(releases / "latest") == "r1"
    assert sorted(p.name for p in (releases / "r1").iterdir()) == ["files", "record.json"]  # no partial left
    with pytest.raises(records.RecordError, match="exists already and is never overwritten"):
        records.write_record(str(releases), record)
    every = _record(src, "r2", names=())
    assert sorted(every["services"]) == ["app", "db"]
    records.write_record(str(releases), every, check_mode=True)
    assert not (releases / "r2").exists()
    assert os.readlink(releases / "latest") == "r1"


def test_base_names_must_differ(src, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "compose.yml").write_text("x")
    with pytest.raises(records.RecordError, match="base names must differ"):
        records.build_record("r1", project="web", project_dir=str(src), host="", env={}, compose_files=[str(src / "compose.yml"), str(other / "compose.yml")],
                             env_files=[], containers=[], images=[], names=["app"], target={}, extra={})


def test_no_env_file_given_records_the_projects_own_dot_env_when_it_exists(src):
    def build(project_dir):
        return records.build_record("r1", project="web", project_dir=str(project_dir), host="", env={}, compose_files=[str(src / "compose.yml")],
                                    env_files=[], containers=[], images=[], names=["app"], target={}, extra={})

    record = build(src)  # the .env Compose reads when it is given no --env-file
    assert record["env_files"] == [str(src / ".env")] and record["files"][str(src / ".env")] == "files/.env"
    (src / ".env").unlink()
    assert build(src)["env_files"] == []


def test_read_returns_record_attachments_and_timings(tmp_path, src):
    releases = tmp_path / "releases"
    path, _created = records.ensure_release_dir(str(releases), "r1")
    clock = iter([100.0, 101.5, 104.0, 110.25])
    for step in ("preflight", "record", "migrate", "rollout"):
        records.mark_step(path, step, "started", clock=lambda: next(clock))
    records.write_record(str(releases), _record(src))
    assert records.attach(path, "migration", {"from": "0002", "to": "0003", "image": "webapp:v2"}) is True
    assert records.attach(path, "migration", {"from": "0002", "to": "0003", "image": "webapp:v2"}) is False  # unchanged
    found = records.read(records.resolve(str(releases), "previous"), project="web")
    assert found["release_id"] == "r1"
    assert found["migration"]["to"] == "0003"
    assert found["backup"] == {}
    assert [(s["step"], s["seconds"]) for s in found["steps"][:3]] == [("preflight", 1.5), ("record", 2.5), ("migrate", 6.25)]
    assert records.failed_step(found["journal"]) == "rollout"  # it was running when the release stopped
    assert records.fail_running(path) == "rollout"
    records.mark_step(path, "rollback", "started")
    records.mark_step(path, "rollback", "ok")
    assert records.failed_step(records.read_journal(path)) == "rollout"
    assert [s["result"] for s in records.step_timings(records.read_journal(path))] == ["ok", "ok", "ok", "failed", "ok"]
    records.mark_step(path, "rollback", "failed")  # the rollback failing too does not hide what failed first
    assert records.failed_step(records.read_journal(path)) == "rollout"
    with pytest.raises(records.RecordError, match="describes project web, not other"):
        records.read(path, project="other")


def test_journal_survives_a_cut_line(tmp_path):
    path, _created = records.ensure_release_dir(str(tmp_path), "r1")
    records.mark_step(path, "backup", "started", clock=lambda: 1.0)
    with open(os.path.join(path, "journal.jsonl"), "a", encoding="utf-8") as out:
        out.write('{"step": "migr')
    assert [e["step"] for e in records.read_journal(path)] == ["backup"]


@pytest.mark.parametrize(("record", "problem"), [
    ("[]", "not a JSON object"),
    ('{"format": 1}', "it lacks release_id"),
    ('{"format": 9, "release_id": "r", "created": "", "project": "web", "services": {}, "compose_files": [], '
     '"env_files": [], "files": {}, "extra": {}}', "format is 9"),
])
def test_validate_names_each_problem(record, problem):
    assert any(problem in p for p in records.validate_record(json.loads(record), "web"))


def test_list_releases_names_their_backups(tmp_path, src):
    releases = tmp_path / "releases"
    records.write_record(str(releases), _record(src, "r1"))
    records.attach(str(releases / "r1"), "backup", {"name": "web-1", "path": "/b/web-1"})
    records.ensure_release_dir(str(releases), "r2")  # stopped before its record: not listed
    assert [(r["release_id"], r["backup"]) for r in records.list_releases(str(releases))] == [("r1", "web-1")]


def test_bad_release_id_is_refused(tmp_path):
    with pytest.raises(records.RecordError, match="Bad release id"):
        records.ensure_release_dir(str(tmp_path), "../etc")


def test_lock_is_exclusive_reentrant_and_taken_over_only_from_its_holder(tmp_path):
    path = str(tmp_path / "releases" / ".lock")
    me = {"controller": "c1", "pid": os.getpid(), "pid_start": lock.process_start(os.getpid()), "what": "deploy"}
    other = {"controller": "c1", "pid": 1, "pid_start": "1", "what": "rollback"}
    assert lock.acquire(path, me) == ("acquired", None)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert lock.acquire(path, me)[0] == "ours"
    state, current = lock.acquire(path, other)
    assert state == "held" and current["what"] == "deploy"
    assert lock.release(path, other) is False
    assert lock.acquire(path, other, takeover=other)[0] == "held"  # only the named holder's lock is taken over
    assert lock.acquire(path, other, takeover=me)[0] == "taken_over"
    assert lock.read(path)["what"] == "rollback"
    assert lock.release(path, other) is True
    assert not os.path.exists(path)


def test_process_alive_tells_a_dead_or_reused_process():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert lock.process_alive(os.getpid(), lock.process_start(os.getpid()))
    assert not lock.process_alive(child.pid)
    assert not lock.process_alive(os.getpid(), "1")  # same pid, another start time: another process
    assert not lock.process_alive("x")


def test_plan_counts_a_container_current_only_when_healthy():
    def ctr(name, image_id, health):
        return {"name": name, "image_id": image_id, "config_hash": "h", "health": health}
    old, new_bad = ctr("a-1", "old", "healthy"), ctr("a-2", "new", "unhealthy")
    out = rollout.classify([old, new_bad], "new", "h")
    assert out["current"] == [] and out["outdated"] == ["a-1"] and out["leftover"] == ["a-2"]
    assert "interrupted or failed rollout" in out["half_done"]
    batches = rollout.with_leftovers(rollout.plan_batches(out["outdated"], out["current"], 1, 1), out["leftover"])
    assert batches == [{"start": 1, "retire": ["a-1"], "remove_first": ["a-2"]}]
    # only unhealthy containers at the target and nothing else serving: replaced like outdated ones
    alone = rollout.classify([new_bad], "new", "h")
    assert alone["leftover"] == [] and alone["outdated"] == ["a-2"]
    # interrupted during the drain: the healthy new one is current, the old one is retired
    done = rollout.classify([old, ctr("a-2", "new", "healthy")], "new", "h")
    assert done["current"] == ["a-2"] and done["outdated"] == ["a-1"] and "finished" in done["half_done"]
    assert rollout.with_leftovers([], ["x"]) == [{"start": 0, "retire": ["x"]}]


# --- the plan step of compose_rollout: lock, plan and record in one call ---------------------------------

class PlanCompose:
    """What rollout.plan and the record read: app at v1 and db (running, healthy), their targets are other images."""
    project = "web"

    def config(self):
        return {"services": {"app": {"image": "webapp:v2", "healthcheck": {"test": ["CMD", "true"]}},
                             "db": {"image": "postgres:15", "volumes": [{"type": "volume", "source": "db-data"}]}}}

    def config_hashes(self, services):
        return {s: "h" for s in services}

    def image(self, ref):
        return {"Id": {"webapp:v2": "sha256:b", "postgres:15": "sha256:e"}[ref], "Config": {}}

    def project_containers(self):
        return [dict(c, Id=c["Name"], Config=dict(c["Config"], Labels=dict(c["Config"]["Labels"], **{rollout.LABEL_HASH: "h"})),
                     State={"Status": "running", "Running": True, "Health": {"Status": "healthy"}}) for c in CONTAINERS]

    def images(self, ids):
        return [i for i in IMAGES if i["Id"] in ids]


class PlanModule:
    check_mode = False

    def __init__(self, **params):
        self.params = dict({"services": ["app"], "probed": [], "allow_no_healthcheck": [], "recreate": [], "batch_size": 1,
                            "replicas": {}, "batch_sizes": {}, "project_name": "web", "env": {"APP_VERSION": "v2"},
                            "files": [], "env_files": [], "takeover": None, "record": None, "lock": None}, **params)


def _plan_module(tmp_path, src, **params):
    from ansible_collections.opskit.webstack.plugins.modules import compose_rollout as module
    holder = {"controller": "c1", "pid": 1, "pid_start": "1", "what": "rollout of app"}
    record = {"release_dir": str(tmp_path / "releases"), "release_id": "r1", "files": [str(src / "compose.yml")], "services": [],
              "extra": {"app_version": "v1"}, "host": "h1"}
    fake = PlanModule(project_src=str(src), env_files=[str(src / ".env")], lock=str(tmp_path / "releases" / ".lock"),
                      holder=holder, record=record, **params)
    return module, fake, holder


def test_plan_step_takes_the_lock_then_writes_the_record_before_anything_changes(tmp_path, src):
    module, fake, _holder = _plan_module(tmp_path, src)
    out = module.plan_step(fake, PlanCompose())
    assert out["would_roll"] == ["app"] and out["changed"]
    assert out["lock"]["acquired"] and lock.read(fake.params["lock"])["pid"] == 1  # held: the roll gives it back
    saved = json.loads((tmp_path / "releases" / "r1" / "record.json").read_text())
    assert saved["target"] == {"app": "webapp:v2"} and saved["services"]["app"]["image"] == "webapp:v1"
    assert saved["env"] == {"APP_VERSION": "v2"} and saved["extra"] == {"app_version": "v1"}
    assert out["record"]["path"] == str(tmp_path / "releases" / "r1")


def test_plan_step_refuses_a_held_lock_and_gives_back_its_own_when_the_plan_fails(tmp_path, src):
    module, fake, holder = _plan_module(tmp_path, src)
    other = dict(holder, pid=2)
    (tmp_path / "releases").mkdir()
    lock.acquire(fake.params["lock"], other)
    with pytest.raises(module.LockHeld) as held:
        module.plan_step(fake, PlanCompose())
    assert held.value.current["pid"] == 2
    assert not (tmp_path / "releases" / "r1").exists()
    os.unlink(fake.params["lock"])
    # a refused service (the database cannot run twice) fails the plan: no record, the lock given back
    module, fake, holder = _plan_module(tmp_path, src, services=["db"])
    with pytest.raises(rollout.RolloutError, match="side by side") as refused:
        module.plan_step(fake, PlanCompose())
    assert refused.value.lock == {"state": "acquired", "acquired": True, "released": True, "holder": holder}
    assert lock.read(fake.params["lock"]) is None
    assert not (tmp_path / "releases" / "r1").exists()


def test_plan_step_gives_the_lock_back_and_writes_no_record_when_nothing_rolls(tmp_path, src):
    class UpToDate(PlanCompose):
        def image(self, ref):
            return {"Id": "sha256:a", "Config": {}}  # what app runs already

    module, fake, _holder = _plan_module(tmp_path, src, services=[{"name": "app", "replicas": 2}])  # its two containers
    out = module.plan_step(fake, UpToDate())
    assert out["would_roll"] == [] and not out["changed"]
    assert out["lock"]["acquired"] and out["lock"]["released"]
    assert lock.read(fake.params["lock"]) is None
    assert not (tmp_path / "releases" / "r1").exists()


# --- the rollout step of compose_rollout: lock, plan, record and roll in one call ------------------------

def _rollout_params():
    return {"timeout": 60, "drain": 2.0, "stop_timeout": 10, "log_lines": 20, "settle": 2.0, "poll": 0.25}


def test_rollout_step_rolls_after_the_record_under_the_lock_then_gives_it_back(tmp_path, src, monkeypatch):
    module, fake, _holder = _plan_module(tmp_path, src, **_rollout_params())
    seen = {}

    def roll_services(compose, planned, timeout, drain, **kw):
        seen["record"] = (tmp_path / "releases" / "r1" / "record.json").is_file()
        seen["lock"] = lock.read(fake.params["lock"])["pid"]
        seen["rolling"] = [(p["name"], timeout, drain, kw["active"]) for p in planned if p["would_roll"]]
        return [{"name": "db", "strategy": "recreate", "containers": []},  # as a recreate that found nothing to show
                {"name": "app", "strategy": "rolling", "batches": [{"started": [{"name": "web-app-3"}], "retired": []}]}]

    monkeypatch.setattr(module.rollout, "roll_services", roll_services)
    out = module.rollout_step(fake, PlanCompose(), active=True)
    assert seen == {"record": True, "lock": 1, "rolling": [("app", 60, 2.0, True)]}
    assert out["changed"] and [d["name"] for d in out["rolled"]] == ["db", "app"] and out["containers"] == [{"name": "web-app-3"}]
    assert out["lock"]["acquired"] and out["lock"]["released"] and lock.read(fake.params["lock"]) is None


def test_rollout_step_gives_the_lock_back_when_a_service_fails_and_fails_with_the_plan_and_record(tmp_path, src, monkeypatch):
    module, fake, _holder = _plan_module(tmp_path, src, **_rollout_params())

    def roll_services(compose, planned, timeout, drain, **kw):
        raise rollout.RolloutError("Rollout of service 'app' (project web) failed: not healthy within 60s", {"service": "app"})

    monkeypatch.setattr(module.rollout, "roll_services", roll_services)
    with pytest.raises(rollout.RolloutError, match="not healthy") as failed:
        module.rollout_step(fake, PlanCompose(), active=True)
    assert failed.value.lock["released"] and lock.read(fake.params["lock"]) is None
    assert failed.value.planned["would_roll"] == ["app"] and failed.value.planned["record"]["release_id"] == "r1"


def test_rollout_step_refuses_a_probed_service_before_the_lock(tmp_path, src):
    module, fake, _holder = _plan_module(tmp_path, src, services=[{"name": "app", "probe": {"checks": [{"type": "tcp"}]}}],
                                         **_rollout_params())
    with pytest.raises(rollout.RolloutError, match="rolls without probes"):
        module.rollout_step(fake, PlanCompose(), active=True)
    assert not (tmp_path / "releases").exists()
