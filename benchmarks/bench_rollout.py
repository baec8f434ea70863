#!/usr/bin/env python3
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""make bench-rollout: compose_rollout against plain ``docker compose up -d`` under constant load.

Brings the example stack up as Compose project ``bench-rollout`` (proxy on 127.0.0.1:18310, db 18311,
redis 18312), migrates it to v2's schema (v1 and v2 both run on it), then, under one constant load of
``--rate`` requests per second on the proxy, alternates the app between v1 and v2: ``--rollouts`` times
with the role (ansible-playbook benchmarks/rollout/roll.yml) and as many times with
``docker compose up -d app``. Per side: failed requests (errors and non-2xx) during the rollouts,
the longest gap between two successful answers, and the rollout seconds (command wall time, and time
until the new version answers every request). Also the floor of any Ansible rollout: the seconds of
ansible-playbook running one module call that does nothing (benchmarks/noop.yml). Removes the stack at the end.
Last line: JSON.
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
from floor import ansible_noop  # noqa: E402
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
        with open(Path(logdir, "ours.log"), "a", encoding="utf-8") as fh:
            fh.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError("the role's rollout failed:\n" + proc.stdout[-3000:])


def roll_plain(state, version):
    compose(state, version, "up", "--detach", "--no-deps", "app")


def main():
    parser = argparse.ArgumentParser(description="compose_rollout vs docker compose up -d, under load")
    parser.add_argument("--rollouts", type=int, default=3)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--drain", type=float, default=None, help="compose_rollout_drain_seconds (default: the role's)")
    parser.add_argument("--stop-timeout", type=int, default=None, help="compose_rollout_stop_timeout (default: the role's)")
    args = parser.parse_args()
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
        sides = {"ours": [], "plain": []}
        version = "v1"
        with Load(URL, rate=args.rate, duration=900) as load:
            time.sleep(3)
            for side in ("ours", "plain"):
                for _ in range(args.rollouts):
                    version = "v2" if version == "v1" else "v1"
                    since = load.mark()
                    t0 = time.monotonic()
                    if side == "ours":
                        roll_ours(state, version, args.drain, args.stop_timeout)
                    else:
                        roll_plain(state, version)
                    command_s = time.monotonic() - t0
                    served_s = until_all_served(load, version, since)
                    time.sleep(2)
                    window = load.summary(since=since, until=load.mark())
                    sides[side].append({"to": version, "command_s": round(command_s, 2),
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

        ours_s = agg(sides["ours"], "command_s")
        plain_served = agg(sides["plain"], "served_s")
        plain_s = agg(sides["plain"], "command_s")
        result = {
            "rollouts": {side: len(runs) for side, runs in sides.items()},
            "rate": total["rate"],
            "requests": total["requests"],
            "ours_failed": sum(r["failed"] for r in sides["ours"]),
            "plain_failed": sum(r["failed"] for r in sides["plain"]),
            "ours_longest_gap_s": max(r["longest_gap_s"] for r in sides["ours"]),
            "plain_longest_gap_s": max(r["longest_gap_s"] for r in sides["plain"]),
            "ours_rollout_s": ours_s,
            "plain_rollout_s": plain_s,
            "ours_served_s": agg(sides["ours"], "served_s"),
            "plain_served_s": plain_served,
            "ratio_ours_to_plain_until_served": round(ours_s / plain_served, 2) if ours_s and plain_served else None,
            "ratio_ours_to_plain_command": round(ours_s / plain_s, 2) if ours_s and plain_s else None,
            # Any Ansible rollout's floor: ansible-playbook with one no-op task, and its ratio to the plain command.
            "ansible_noop_playbook_s": round(floor_s, 2),
            "ratio_ansible_noop_to_plain_command": round(floor_s / plain_s, 2) if plain_s else None,
            "target": {"ours_failed": 0, "ratio_ours_to_plain_command": "<= 2"},
        }
    finally:
        compose(state, "v1", "down", "--volumes", "--remove-orphans", "--timeout", "5", check=False)
        shutil.rmtree(state, ignore_errors=True)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
