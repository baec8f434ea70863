#!/usr/bin/env python3
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""make bench-rollout: compose_rollout against docker-rollout's procedure and ``up -d --wait``, under load.

Brings the example stack up as Compose project ``bench-rollout`` (proxy on 127.0.0.1:18310, db 18311,
redis 18312), migrates it to v2's schema (v1 and v2 both run on it), then, under one constant load of
``--rate`` requests per second on the proxy, alternates the app between v1 and v2, ``--rollouts`` times (6)
on each of three sides, in the same stack, in an order turned by one side each round:

- ``ours``: the compose_rollout role (ansible-playbook benchmarks/rollout/roll.yml);
- ``rollout``: the procedure of docker-rollout (github.com/wowu/docker-rollout), written here from its
  documented behaviour: scale the service to twice its containers with
  ``docker compose up -d --no-deps --scale app=2N --no-recreate app``, poll the new containers' Docker
  health once a second until every one is healthy (60 s at most, else remove them), then
  ``docker stop`` and ``docker rm`` the old ones;
- ``wait``: ``docker compose up -d --no-deps --wait app`` (Compose recreates the container, then waits
  until it is healthy).

Per side: failed requests (errors and non-2xx) during the rollouts, the longest gap between two
successful answers, the wall time of the command, and the time until every answer is the new version.
Also the floor of any Ansible rollout: ansible-playbook running one module call that does nothing
(benchmarks/noop.yml). Removes the stack at the end (with BENCH_ROLLOUT_LOGDIR, after keeping the playbooks' and
the proxy's logs there). Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from floor import ansible_noop, load_average  # noqa: E402
from loadgen import Load  # noqa: E402

PROJECT = "bench-rollout"
PORTS = {"WEBSTACK_HTTP_PORT": "18310", "WEBSTACK_DB_PORT": "18311", "WEBSTACK_REDIS_PORT": "18312"}
URL = f"http://127.0.0.1:{PORTS['WEBSTACK_HTTP_PORT']}/"
STACK = ROOT / "examples" / "webstack"
BIN = Path(sys.executable).parent


def compose(state, version, *args, check=True):
    env = dict(os.environ, APP_VERSION=version, WEBSTACK_BACKUP_DIR=str(state / "backups"), **PORTS)
    argv = ["docker", "compose", "--project-name", PROJECT, "--project-directory", str(STACK), "--env-file", str(state / ".env"), *args]
    return subprocess.run(argv, env=env, check=check, capture_output=True, text=True, timeout=300)


def served_version():
    try:
        with urllib.request.urlopen(URL, timeout=2) as resp:
            return resp.headers.get("X-App-Version", "")
    except OSError:
        return ""


def until_all_served(load, version, since, deadline=120.0):
    """Seconds from ``since`` until every answer from then on is ``version`` (checked on the load's records)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        time.sleep(0.5)
        recs = [r for r in load.snapshot() if r[0] >= since]
        recs.sort(key=lambda r: r[0])
        other = [r for r in recs if r[3] != version]
        last_other = other[-1][0] if other else since
        tail = [r for r in recs if r[0] > last_other]
        if len(tail) >= 50:  # a second of answers, all the new version
            return last_other - since
    return None


def roll_ours(state, version, drain, stop_timeout):
    extra = {
        "compose_rollout_project_name": PROJECT,
        "compose_rollout_project_dir": str(STACK),
        "compose_rollout_env_files": [str(state / ".env")],
        "compose_rollout_env": dict(PORTS, APP_VERSION=version, WEBSTACK_BACKUP_DIR=str(state / "backups")),
        "compose_rollout_services": ["app"],
        "compose_rollout_release_dir": str(state / "releases"),
    }
    if drain is not None:
        extra["compose_rollout_drain_seconds"] = drain
    if stop_timeout is not None:
        extra["compose_rollout_stop_timeout"] = stop_timeout
    vars_file = state / "vars.json"
    vars_file.write_text(json.dumps(extra), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), PATH=f"{BIN}:{os.environ['PATH']}")
    logdir = os.environ.get("BENCH_ROLLOUT_LOGDIR")
    if logdir:
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
    proc = subprocess.run([str(BIN / "ansible-playbook"), str(ROOT / "benchmarks" / "rollout" / "roll.yml"), "-e", f"@{vars_file}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    if logdir:
        Path(logdir).mkdir(parents=True, exist_ok=True)
        with open(Path(logdir, "ours.log"), "a", encoding="utf-8") as fh:
            fh.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError("the role's rollout failed:\n" + proc.stdout[-3000:])


def roll_wait(state, version):
    compose(state, version, "up", "--detach", "--no-deps", "--wait", "--wait-timeout", "120", "app")


def _health(container_id):
    proc = subprocess.run(["docker", "inspect", "--format", "{{if .State.Health}}{{.State.Health.Status}}{{end}}", container_id],
                          capture_output=True, text=True, check=False, timeout=60)
    return proc.stdout.strip()


def roll_docker_rollout(state, version, service="app", timeout=60):
    """docker-rollout's procedure, from its documentation: twice the containers, new ones healthy, old ones gone."""
    old = compose(state, version, "ps", "--quiet", service).stdout.split()
    compose(state, version, "up", "--detach", "--no-deps", "--scale", f"{service}={2 * len(old)}", "--no-recreate", service)
    new = [c for c in compose(state, version, "ps", "--quiet", service).stdout.split() if c not in old]
    if not new:
        raise RuntimeError("docker-rollout procedure: no new container was started")
    for _ in range(timeout):
        if all(_health(c) == "healthy" for c in new):
            break
        time.sleep(1)
    else:
        subprocess.run(["docker", "stop", *new], capture_output=True, check=False, timeout=120)
        subprocess.run(["docker", "rm", *new], capture_output=True, check=False, timeout=120)
        raise RuntimeError("docker-rollout procedure: the new containers did not turn healthy; they were removed")
    subprocess.run(["docker", "stop", *old], capture_output=True, check=True, timeout=120)
    subprocess.run(["docker", "rm", *old], capture_output=True, check=True, timeout=120)


def blocked_targets(result, floor_s, wall, served, floor_wall):
    """The targets an Ansible-run rollout doing exactly docker-rollout's work would miss, and why.

    ansible-playbook's own start (the no-op floor, measured in the same run) comes before any
    container starts, so it adds to both the wall time and the time until the new version answers.
    """
    floor_served = round((floor_s + served["rollout"]) / served["rollout"], 2) if served["rollout"] else None
    blocked = {}
    if floor_wall is not None and floor_wall > 1.3 and not result["target_met"]["ours_vs_rollout_wall"]:
        blocked["ours_vs_rollout_wall"] = (
            f"ansible-playbook of one no-op module call takes {floor_s:.2f} s and docker-rollout's procedure {wall['rollout']} s:"
            f" an Ansible-run rollout doing the same work cannot go below {floor_wall}x its wall time")
    if floor_served is not None and floor_served > 1.0 and not result["target_met"]["ours_vs_rollout_served"]:
        blocked["ours_vs_rollout_served"] = (
            f"the new version answers alone {served['rollout']} s after docker-rollout's procedure starts; an Ansible-run"
            f" rollout starts its first container only once ansible-playbook has started (about {floor_s:.2f} s, the no-op floor): {floor_served}x at best")
    for target, why in blocked.items():
        print(f"blocked: {target}: {why}", file=sys.stderr)
    return floor_served, blocked


def main():
    parser = argparse.ArgumentParser(description="compose_rollout vs docker-rollout's procedure and docker compose up -d --wait, under load")
    parser.add_argument("--rollouts", type=int, default=6)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--drain", type=float, default=None, help="compose_rollout_drain_seconds (default: the role's)")
    parser.add_argument("--stop-timeout", type=int, default=None, help="compose_rollout_stop_timeout (default: the role's)")
    args = parser.parse_args()
    load_start = os.getloadavg()
    if shutil.which("docker") is None:
        sys.exit("docker is needed")
    state = Path(tempfile.mkdtemp(prefix="bench-rollout-"))
    (state / "backups").mkdir()
    result = {}
    try:
        subprocess.run([str(STACK / "init-env.sh"), str(state / ".env")], check=True, capture_output=True)
        compose(state, "v1", "down", "--volumes", "--remove-orphans", check=False)
        compose(state, "v1", "up", "--detach", "--wait", "--wait-timeout", "180")
        compose(state, "v2", "run", "--rm", "--no-deps", "app", "python3", "-m", "alembic", "upgrade", "head")
        if served_version() != "v1":
            raise RuntimeError("the stack does not answer v1 through the proxy")
        sides = {"ours": [], "rollout": [], "wait": []}
        version = "v1"
        with Load(URL, rate=args.rate, duration=900) as load:
            time.sleep(3)
            # Interleaved, and the order turned by one side each round (ours, rollout, wait; rollout, wait,
            # ours; ...), so that a busier minute of the shared machine, and the state the side before
            # leaves (the container it started, the proxy's cached addresses), falls on every side alike.
            names = list(sides)
            for round_no in range(args.rollouts):
                for side in names[round_no % len(names):] + names[:round_no % len(names)]:
                    runs = sides[side]
                    version = "v2" if version == "v1" else "v1"
                    since = load.mark()
                    t0 = time.monotonic()
                    if side == "ours":
                        roll_ours(state, version, args.drain, args.stop_timeout)
                    elif side == "rollout":
                        roll_docker_rollout(state, version)
                    else:
                        roll_wait(state, version)
                    command_s = time.monotonic() - t0
                    served_s = until_all_served(load, version, since)
                    time.sleep(2)
                    window = load.summary(since=since, until=load.mark())
                    runs.append({"to": version, "command_s": round(command_s, 2),
                                        "served_s": None if served_s is None else round(served_s, 2),
                                        "failed": window["failed"], "requests": window["requests"],
                                        "longest_gap_s": window["longest_gap_s"], "errors": window["errors"]})
            total = load.summary()
        for side, runs in sides.items():
            print(side, json.dumps(runs), file=sys.stderr)
        floor_s = ansible_noop()

        def agg(runs, key):
            vals = [r[key] for r in runs if r[key] is not None]
            return round(sum(vals) / len(vals), 2) if vals else None

        def ratio(a, b):
            return round(a / b, 2) if a is not None and b else None

        wall = {side: agg(runs, "command_s") for side, runs in sides.items()}
        served = {side: agg(runs, "served_s") for side, runs in sides.items()}
        print(f"{'side':<10}{'failed':>8}{'longest gap s':>15}{'wall s':>9}{'only new after s':>18}", file=sys.stderr)
        for side, runs in sides.items():
            print(f"{side:<10}{sum(r['failed'] for r in runs):>8}{max(r['longest_gap_s'] for r in runs):>15}"
                  f"{wall[side]!s:>9}{served[side]!s:>18}", file=sys.stderr)
        # The floor of any Ansible-run rollout beside docker-rollout's: one no-op playbook plus the
        # procedure itself (both start, health-gate and stop the same containers).
        floor_wall = ratio(floor_s + wall["rollout"], wall["rollout"]) if wall["rollout"] else None
        print(f"floor: ansible-playbook of one no-op module call {floor_s:.2f} s; an Ansible-run rollout doing "
              f"docker-rollout's work cannot beat {floor_wall}x its wall time", file=sys.stderr)
        result = {
            "rollouts": {side: len(runs) for side, runs in sides.items()},
            "rate": total["rate"],
            "requests": total["requests"],
            "ours_failed": sum(r["failed"] for r in sides["ours"]),
            "rollout_failed": sum(r["failed"] for r in sides["rollout"]),
            "wait_failed": sum(r["failed"] for r in sides["wait"]),
            "ours_vs_rollout_wall": ratio(wall["ours"], wall["rollout"]),
            "ours_vs_rollout_served": ratio(served["ours"], served["rollout"]),
            "ours_vs_wait_wall": ratio(wall["ours"], wall["wait"]),
            "longest_gap_s": {side: max(r["longest_gap_s"] for r in runs) for side, runs in sides.items()},
            "wall_s": wall,
            # each rollout's: docker-rollout's procedure takes about 3.1 s or about 4 s, as Docker's first health
            # check lands just before or just after its third look (it looks once a second)
            "wall_s_each": {side: [r["command_s"] for r in runs] for side, runs in sides.items()},
            "served_s": served,
            # Any Ansible rollout's floor: ansible-playbook with one no-op task.
            "ansible_noop_playbook_s": round(floor_s, 2),
            "floor_ours_vs_rollout_wall": floor_wall,
            "target": {"ours_failed": 0, "ours_vs_rollout_wall": "<= 1.3", "ours_vs_rollout_served": "<= 1.0"},
        }
        result["load_average"] = load_average(load_start)
        result["target_met"] = {
            "ours_failed": result["ours_failed"] == 0,
            "ours_vs_rollout_wall": result["ours_vs_rollout_wall"] is not None and result["ours_vs_rollout_wall"] <= 1.3,
            "ours_vs_rollout_served": result["ours_vs_rollout_served"] is not None and result["ours_vs_rollout_served"] <= 1.0,
        }
        result["floor_ours_vs_rollout_served"], result["blocked"] = blocked_targets(result, floor_s, wall, served, floor_wall)
    finally:
        if os.environ.get("BENCH_ROLLOUT_LOGDIR"):
            # the proxy's access and error logs (each failed request, the upstream it tried and why), kept
            # with the playbooks' logs before the stack goes
            Path(os.environ["BENCH_ROLLOUT_LOGDIR"]).mkdir(parents=True, exist_ok=True)
            with open(Path(os.environ["BENCH_ROLLOUT_LOGDIR"], "proxy.log"), "w", encoding="utf-8") as fh:
                subprocess.run(["docker", "logs", "-t", f"{PROJECT}-proxy-1"], stdout=fh, stderr=subprocess.STDOUT, check=False)
        compose(state, "v1", "down", "--volumes", "--remove-orphans", "--timeout", "5", check=False)
        shutil.rmtree(state, ignore_errors=True)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
