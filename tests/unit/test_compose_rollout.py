"""Unit tests of the rollout decisions in plugins/module_utils/_compose_rollout.py (no Docker)."""

from __future__ import annotations

import pytest
from ansible_collections.opskit.webstack.plugins.module_utils import _compose_rollout as rollout


@pytest.mark.parametrize(
    ("outdated", "current", "replicas", "batch", "expected"),
    [
        # one old container, one replica: start one, retire the old
        (["a1"], [], 1, 1, [{"start": 1, "retire": ["a1"]}]),
        # three old, batches of two: 2+1, never fewer serving than before
        (["a1", "a2", "a3"], [], 3, 2, [{"start": 2, "retire": ["a1", "a2"]}, {"start": 1, "retire": ["a3"]}]),
        # nothing runs yet: start the declared replicas in batches
        ([], [], 3, 2, [{"start": 2, "retire": []}, {"start": 1, "retire": []}]),
        # scale up while rolling: the extra container comes after the swaps
        (["a1"], [], 2, 1, [{"start": 1, "retire": ["a1"]}, {"start": 1, "retire": []}]),
        # scale down while rolling: fewer started than retired
        (["a1", "a2"], [], 1, 1, [{"start": 1, "retire": ["a1"]}, {"start": 0, "retire": ["a2"]}]),
        # a half-done rollout: one already current, one old left
        (["a1"], ["b1"], 2, 1, [{"start": 1, "retire": ["a1"]}]),
        # all current but too many: the surplus goes
        ([], ["b1", "b2", "b3"], 2, 1, [{"start": 0, "retire": ["b3"]}]),
        # up to date: nothing
        ([], ["b1"], 1, 1, []),
    ],
)
def test_plan_batches(outdated, current, replicas, batch, expected):
    assert rollout.plan_batches(outdated, current, replicas, batch) == expected


@pytest.mark.parametrize(("size", "replicas"), [(0, 1), (1, -1)])
def test_plan_batches_rejects_bad_numbers(size, replicas):
    with pytest.raises(ValueError, match="must"):
        rollout.plan_batches(["a"], [], replicas, size)


def test_chunks_keeps_order():
    assert rollout.chunks([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]


@pytest.mark.parametrize(
    ("config", "image_hc", "has_hc", "blockers", "replicas"),
    [
        ({"image": "app:v2", "healthcheck": {"test": ["CMD", "true"]}}, None, True, 0, 1),
        ({"image": "app:v2", "healthcheck": {"disable": True}}, ["CMD", "true"], False, 0, 1),
        ({"image": "app:v2"}, ["CMD-SHELL", "curl -f localhost"], True, 0, 1),
        ({"image": "app:v2"}, ["NONE"], False, 0, 1),
        ({"image": "app:v2"}, None, False, 0, 1),
        ({"image": "app:v2", "deploy": {"replicas": 3}}, None, False, 0, 3),
        ({"image": "app:v2", "scale": 2}, None, False, 0, 2),
        ({"image": "db:15", "volumes": [{"type": "volume", "source": "db-data", "target": "/data"}]}, None, False, 1, 1),
        ({"image": "db:15", "volumes": [{"type": "bind", "source": "/srv", "target": "/srv"}]}, None, False, 0, 1),
        ({"image": "px", "ports": [{"target": 80, "published": "8080", "host_ip": "127.0.0.1"}]}, None, False, 1, 1),
        ({"image": "px", "ports": [{"target": 80}]}, None, False, 0, 1),
        ({"image": "px", "container_name": "proxy"}, None, False, 1, 1),
    ],
)
def test_service_facts(config, image_hc, has_hc, blockers, replicas):
    facts = rollout.service_facts("svc", config, image_hc)
    assert facts["has_healthcheck"] is has_hc
    assert len(facts["side_by_side_blockers"]) == blockers
    assert facts["replicas"] == replicas
    assert facts["image"] == config["image"]


def test_service_facts_names_every_blocker():
    facts = rollout.service_facts("db", {
        "image": "db", "container_name": "db1", "ports": [{"target": 5432, "published": "15432"}],
        "volumes": [{"type": "volume", "source": "db-data", "target": "/var/lib/postgresql/data"}]}, None)
    text = "; ".join(facts["side_by_side_blockers"])
    assert "'db1'" in text
    assert "15432" in text
    assert "db-data" in text


@pytest.mark.parametrize(("text", "lines", "expected"), [("a\nb\nc\n", 2, "b\nc"), ("a", 5, "a"), ("", 3, ""), ("a\nb", 0, "")])
def test_tail(text, lines, expected):
    assert rollout.tail(text, lines) == expected


def test_failure_message_names_service_container_health_and_logs():
    msg = rollout.failure_message(
        "app", "web",
        [{"name": "web-app-2", "image": "webapp:v3", "image_id": "sha256:" + "ab" * 32, "state": "running",
          "health": "unhealthy", "health_output": "HTTP 503\n", "logs": "GET /health 503\nGET /health 503"}],
        ["web-app-1"], "not healthy within 20s (web-app-2: unhealthy)")
    assert msg.startswith("Rollout of service 'app' (project web) failed: not healthy within 20s")
    assert "New container web-app-2 (image webapp:v3, sha256:abababababab)" in msg
    assert "Last health output of web-app-2: HTTP 503" in msg
    assert "Last log lines of web-app-2:\nGET /health 503\nGET /health 503" in msg
    assert msg.endswith("The new container(s) web-app-2 were removed; the old container(s) web-app-1 were left untouched and serving.")


def test_container_summary_reads_inspect():
    summary = rollout.container_summary({
        "Id": "c0ffee", "Name": "/web-app-3", "Image": "sha256:1", "Created": "2026-01-01T00:00:00Z",
        "Config": {"Image": "webapp:v2", "Labels": {rollout.LABEL_HASH: "h", rollout.LABEL_NUMBER: "3", rollout.LABEL_SERVICE: "app"}},
        "State": {"Status": "running", "Running": True,
                  "Health": {"Status": "healthy", "Log": [{"Output": "old"}, {"Output": "ok"}]}},
        "NetworkSettings": {"Networks": {"web_default": {"IPAddress": "172.18.0.5"}}},
    })
    assert summary == {
        "id": "c0ffee", "name": "web-app-3", "image": "webapp:v2", "image_id": "sha256:1", "state": "running",
        "running": True, "health": "healthy", "health_output": "ok", "service": "app", "config_hash": "h", "number": 3,
        "created": "2026-01-01T00:00:00Z", "networks": ["web_default"], "ips": ["172.18.0.5"],
        "health_test": [], "health_timeout": 30.0,
    }


def _inspect(cid, health, test=("CMD", "true")):
    return {"Id": cid, "Name": "/web-app-" + cid, "Config": {"Healthcheck": {"Test": list(test), "Timeout": 3 * 10**9}},
            "State": {"Status": "running", "Running": True, "Health": {"Status": health, "Log": []}}}


class FakeCompose:
    """inspect answers Docker's health status; health_exec answers the container's own test, in turn."""

    def __init__(self, docker_health, exec_results):
        self.docker_health = docker_health
        self.exec_results = {k: list(v) for k, v in exec_results.items()}
        self.execs = []

    def inspect(self, ids):
        return [_inspect(i, self.docker_health[i]) for i in ids]

    def health_exec(self, cid, test, timeout):
        self.execs.append((cid, test, timeout))
        results = self.exec_results[cid]
        return results.pop(0) if len(results) > 1 else results[0]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_wait_healthy_active_counts_a_passing_own_healthcheck_while_docker_says_starting():
    compose, clock = FakeCompose({"n1": "starting"}, {"n1": [False, False, True]}), Clock()
    ok, summaries, reason = rollout.wait_healthy(compose, ["n1"], 10, poll=0.25, sleep=clock.sleep, clock=clock, active=True)
    assert (ok, reason) == (True, "")
    assert clock.now == 0.5  # two failed polls, then the third passes
    assert compose.execs[0] == ("n1", ["CMD", "true"], 3.0)
    assert summaries[0]["health"] == "starting"


def test_wait_healthy_active_times_out_on_a_failing_healthcheck():
    compose, clock = FakeCompose({"n1": "starting"}, {"n1": [False]}), Clock()
    ok, _summaries, reason = rollout.wait_healthy(compose, ["n1"], 2, poll=0.5, sleep=clock.sleep, clock=clock, active=True)
    assert not ok
    assert reason == "not healthy within 2s (web-app-n1: starting)"
    assert len(compose.execs) == 5


def test_wait_healthy_passive_never_runs_the_healthcheck_itself():
    compose, clock = FakeCompose({"n1": "starting"}, {"n1": [True]}), Clock()
    ok, _summaries, _reason = rollout.wait_healthy(compose, ["n1"], 1, poll=0.5, sleep=clock.sleep, clock=clock)
    assert not ok
    assert compose.execs == []


def test_wait_healthy_active_waits_for_every_container():
    compose, clock = FakeCompose({"n1": "healthy", "n2": "starting"}, {"n1": [False], "n2": [False, True]}), Clock()
    ok, _summaries, _reason = rollout.wait_healthy(compose, ["n1", "n2"], 10, poll=0.25, sleep=clock.sleep, clock=clock, active=True)
    assert ok
    assert [e[0] for e in compose.execs] == ["n2", "n2"]  # Docker's healthy needs no exec


def test_health_exec_runs_cmd_and_cmd_shell_forms_with_a_timeout():
    calls = []

    def run(argv, env):
        calls.append(argv)
        return (0 if len(calls) == 1 else 1), "", ""

    compose = rollout.Compose(run, "web", "/srv/web")
    assert compose.health_exec("c1", ["CMD", "python3", "-m", "webapp.healthcheck"], 3.0)
    assert not compose.health_exec("c1", ["CMD-SHELL", "curl -fs localhost || exit 1"], 0.5)
    assert calls[0] == ["timeout", "3", "docker", "container", "exec", "c1", "python3", "-m", "webapp.healthcheck"]
    assert calls[1] == ["timeout", "1", "docker", "container", "exec", "c1", "/bin/sh", "-c", "curl -fs localhost || exit 1"]


def test_compose_argv_keeps_env_off_the_command_line():
    calls = []

    def run(argv, env):
        calls.append((argv, env))
        return 0, "", ""

    compose = rollout.Compose(run, "web", "/srv/web", files=["/srv/web/compose.yml"], env_files=["/srv/web/.env"],
                              env={"APP_VERSION": "v2", "SECRET": "s3cret"})
    compose.call(compose.compose_argv("config", "--hash", "app"), "hash")
    argv, env = calls[0]
    assert argv[:6] == ["docker", "compose", "--project-name", "web", "--project-directory", "/srv/web"]
    assert ["--file", "/srv/web/compose.yml", "--env-file", "/srv/web/.env"] == argv[6:10]
    assert "s3cret" not in " ".join(argv)
    assert env["SECRET"] == "s3cret"


def test_compose_call_raises_with_stderr():
    compose = rollout.Compose(lambda argv, env: (1, "", "no such service: api\n"), "web", "/srv/web")
    with pytest.raises(rollout.RolloutError, match="Failed to hash: no such service: api"):
        compose.call(["docker"], "hash")


class RetireCompose:
    def __init__(self):
        self.removed = []

    def inspect(self, ids):
        return [_inspect(i, "healthy") for i in ids]

    def remove(self, names, stop_timeout=None):
        self.removed.append((list(names), stop_timeout))


@pytest.mark.parametrize(("since", "now", "slept"), [(None, 100.0, [2.0]), (99.5, 100.0, [1.5]), (97.0, 100.0, [])])
def test_retire_waits_only_what_is_left_of_the_drain(since, now, slept):
    compose, sleeps = RetireCompose(), []
    gone = rollout.retire(compose, ["o1"], 2.0, stop_timeout=7, sleep=sleeps.append, since=since, clock=lambda: now)
    assert sleeps == slept
    assert compose.removed == [(["o1"], 7)]
    assert [g["id"] for g in gone] == ["o1"]


def test_normalize_services_types_and_keeps_order():
    out = rollout.normalize_services(["app", {"name": "worker", "replicas": "2", "drain_seconds": "1.5", "probe": {"checks": [{"type": "tcp"}]}}])
    assert out == [{"name": "app"}, {"name": "worker", "replicas": 2, "drain_seconds": 1.5, "probe": {"checks": [{"type": "tcp"}]}}]


@pytest.mark.parametrize(("services", "message"), [
    ([{"name": "a", "bogus": 1}], "service a: bogus"),
    (["a", "a"], "named twice: a"),
    ([{"name": "a", "replicas": "x"}], "unable to convert to int"),
    ([{"name": "a", "batch_size": 0}], "batch_size must be at least 1"),
    ([{"name": "a", "probe": {}}], "checks"),
    (["bad name"], "not a Compose service name"),
    ([], "no service to roll"),
    ([3], "neither a service name nor a dict"),
])
def test_normalize_services_refuses_bad_ones_by_name(services, message):
    with pytest.raises(rollout.RolloutError, match=message):
        rollout.normalize_services(services)


def test_roll_starts_then_retires_each_batch_with_the_drain_counted_from_when_its_new_containers_joined(monkeypatch):
    calls, joined = [], iter([10.0, 20.0])
    monkeypatch.setattr(rollout, "start", lambda compose, service, count, timeout, **kw: calls.append(
        ("start", service, count, timeout, kw["remove_first"], kw["active"])) or [{"name": f"new{len(calls)}", "joined_at": next(joined)}])
    monkeypatch.setattr(rollout, "retire", lambda compose, names, drain, **kw: calls.append(
        ("retire", names, drain, kw["since"], kw["stop_timeout"])) or [{"name": n} for n in names])
    batches = [{"start": 1, "retire": ["a1"], "remove_first": ["x1"]}, {"start": 1, "retire": ["a2"]}, {"start": 0, "retire": ["a3"]}]
    done = rollout.roll(object(), "app", batches, 30, 2.0, stop_timeout=5, active=True, clock=lambda: 99.0)
    assert calls == [("start", "app", 1, 30, ["x1"], True), ("retire", ["a1"], 2.0, 10.0, 5),
                     ("start", "app", 1, 30, [], True), ("retire", ["a2"], 2.0, 20.0, 5),
                     ("retire", ["a3"], 2.0, None, 5)]  # no start: the whole drain
    assert [[c["name"] for c in b["retired"]] for b in done] == [["a1"], ["a2"], ["a3"]]


def test_roll_names_the_failed_batch_and_keeps_the_batches_before_it(monkeypatch):
    def start(compose, service, count, timeout, **kw):
        if kw["remove_first"] == ["boom"]:
            raise rollout.RolloutError("Rollout of service 'app' (project web) failed: not healthy within 30s", {"removed": ["n2"]})
        return [{"name": "n1", "joined_at": 1.0}]

    monkeypatch.setattr(rollout, "start", start)
    monkeypatch.setattr(rollout, "retire", lambda compose, names, drain, **kw: [{"name": n} for n in names])
    with pytest.raises(rollout.RolloutError, match=r"^Batch 2 of 2: Rollout of service 'app'") as err:
        rollout.roll(object(), "app", [{"start": 1, "retire": ["a1"]}, {"start": 1, "retire": ["a2"], "remove_first": ["boom"]}], 30, 2.0)
    assert err.value.details["batch"] == 2
    assert err.value.details["removed"] == ["n2"]
    assert [b["retired"][0]["name"] for b in err.value.details["batches_done"]] == ["a1"]


def test_config_hashes_reads_several_services_in_one_call_and_falls_back_one_by_one():
    calls = []

    def run(argv, env):
        calls.append(argv[-1])
        if argv[-1] == "app,worker":
            return 0, "app 1111\n", ""  # a Compose that answered only the first name
        return 0, f"{argv[-1]} 2222\n", ""

    compose = rollout.Compose(run, "web", "/srv/web")
    assert compose.config_hashes(["app", "worker"]) == {"app": "1111", "worker": "2222"}
    assert calls == ["app,worker", "worker"]
    assert compose.config_hash("app") == "2222"


def test_start_records_when_compose_up_had_started_the_new_containers():
    class Fake:
        upped = False

        def remove(self, names):
            assert names == []

        def containers(self, service, all_states=False):
            return [{"id": "old", "name": "web-app-1", "running": True}] + ([{"id": "new", "name": "web-app-2", "running": True}] if self.upped else [])

        def compose_argv(self, *args):
            return list(args)

        def call(self, argv, what, check=True):
            assert "up" in argv and "--no-recreate" in argv
            self.upped = True
            return 0, "", ""

        def inspect(self, names):
            return [{"Id": "new", "Name": "/web-app-2", "State": {"Running": True, "Status": "running"}}]

    fake = Fake()

    def clock():
        assert fake.upped, "the drain must count from after docker compose up, not from before it"
        return 42.0

    new = rollout.start(fake, "app", 1, 30, wait=False, clock=clock)
    assert [(c["name"], c["joined_at"]) for c in new] == [("web-app-2", 42.0)]


def _planned(name, would_roll=True, strategy="rolling", **options):
    return {"name": name, "would_roll": would_roll, "strategy": strategy, "batches": [{"start": 1, "retire": [f"{name}-1"]}],
            "options": dict(options, name=name)}


def test_roll_services_rolls_each_service_that_rolls_in_order_with_its_own_timeout_and_drain(monkeypatch):
    calls = []
    monkeypatch.setattr(rollout, "roll", lambda compose, service, batches, timeout, drain, **kw: calls.append(
        ("roll", service, batches, timeout, drain, kw["stop_timeout"], kw["active"])) or [{"started": [{"name": f"{service}-2"}], "retired": []}])
    monkeypatch.setattr(rollout, "recreate", lambda compose, service, timeout, **kw: calls.append(
        ("recreate", service, timeout)) or [{"name": f"{service}-1"}])
    planned = [_planned("db", strategy="recreate"), _planned("cache", would_roll=False),
               _planned("app", health_timeout=90, drain_seconds=0.5), _planned("worker")]
    done = rollout.roll_services(object(), planned, 60, 2.0, stop_timeout=7, active=True)
    assert calls == [("recreate", "db", 60), ("roll", "app", planned[2]["batches"], 90, 0.5, 7, True),
                     ("roll", "worker", planned[3]["batches"], 60, 2.0, 7, True)]
    assert [(d["name"], d["strategy"]) for d in done] == [("db", "recreate"), ("app", "rolling"), ("worker", "rolling")]
    assert done[0]["containers"] == [{"name": "db-1"}] and done[1]["batches"][0]["started"] == [{"name": "app-2"}]


def test_roll_services_stops_at_the_failing_service_naming_it_and_those_rolled_before(monkeypatch):
    def roll(compose, service, batches, timeout, drain, **kw):
        if service == "worker":
            raise rollout.RolloutError("Rollout of service 'worker' (project web) failed: not healthy within 60s",
                                       {"batch": 1, "removed": ["worker-2"]})
        return [{"started": [], "retired": []}]

    monkeypatch.setattr(rollout, "roll", roll)
    with pytest.raises(rollout.RolloutError, match=r"(?s)^Rollout of service 'worker'.*Rolled before it, and left rolled: app\.$") as err:
        rollout.roll_services(object(), [_planned("app"), _planned("worker"), _planned("late")], 60, 2.0)
    assert err.value.details["service"] == "worker" and err.value.details["removed"] == ["worker-2"]
    assert [d["name"] for d in err.value.details["services_done"]] == ["app"]


def test_roll_services_refuses_a_probed_service_before_anything_rolls(monkeypatch):
    monkeypatch.setattr(rollout, "roll", lambda *a, **kw: pytest.fail("nothing may roll"))
    with pytest.raises(rollout.RolloutError, match="web have a probe"):
        rollout.roll_services(object(), [_planned("app"), _planned("web", probe={"checks": []})], 60, 2.0)
