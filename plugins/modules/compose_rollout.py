#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: compose_rollout
extends_documentation_fragment:
  - opskit.webstack.attributes
  - opskit.webstack.docker_cli
short_description: Health-gated, side-by-side rollout steps for Docker Compose services
version_added: 0.1.0
description:
  - The steps of a zero-downtime rollout of a Compose service that M(community.docker.docker_compose_v2) lacks,
    used by the C(opskit.webstack.compose_rollout) role, one step per call (O(step)).
  - This is an action plugin as well; with O(lock), the controller names the holder of the stack's lock (its
    C(ansible-playbook) process) and takes over a lock whose holder process is gone, as M(opskit.webstack.release_lock) does.
  - V(plan) reads the declared services (C(docker compose config)), their running containers and the
    target images, and says per service whether it would roll (a running container's image ID or
    Compose config hash differs from the target, or the number of containers differs from the declared
    replicas), how (V(rolling) beside the old containers, or V(recreate) in place) and in which batches.
    It refuses a service without a healthcheck (unless probed or allowed) and a service that cannot run
    twice side by side (fixed C(container_name), published host ports, named volumes) unless listed in O(recreate).
    With O(lock) it first takes the stack's lock; with O(record), once the plan says something rolls, it writes the release
    record of what runs now (as M(opskit.webstack.release_record) with O(opskit.webstack.release_record#module:record=true)),
    before anything changes. When the plan or the record fails, the lock it took is given back.
  - V(rollout) is a whole rollout in one call. It runs V(plan) (with O(lock) and O(record) as there), then every service that
    would roll, in order, as V(roll) does (or as V(recreate) does, for a service listed in O(recreate)), each with its own
    C(health_timeout) and C(drain_seconds) options over O(timeout) and O(drain). The lock this step took is given back
    when it ends, whether it succeeded or failed; a service that fails stops the rollout, the services before it stay
    rolled. A service with a C(probe) (or in O(probed)) is refused, since its probe runs between the steps. In check mode it is V(plan).
  - V(start) starts O(count) new containers beside the old ones (C(docker compose up --no-recreate --scale)),
    and waits until each is healthy within O(timeout). When one is not, it removes the new containers,
    leaves the old ones untouched and fails with the service, the container, its last health output and
    its last log lines.
  - V(retire) waits O(drain) seconds, counted from O(since) when given (a proxy that re-resolves the service spreads requests over old and new
    containers), then stops the old containers gracefully while they are still on their networks (the app
    finishes the requests in flight; the proxy retries refused connections on the new containers) and
    removes them.
  - V(roll) runs V(start) then V(retire) for each of O(batches) of one service in one call (a service without an
    external probe); a failing batch is undone as in V(start), the batches before it stay rolled. With O(lock), the
    stack's lock is given back once the step ends, whether it succeeded or failed.
  - V(abort) removes new containers (after a failed external probe) and fails with the same message as V(start).
  - V(recreate) recreates a service in place with C(docker compose up --wait) (stateful services, opt-in).
  - A container counts as current only when it runs the target image and config AND is healthy (or has no
    healthcheck). Unhealthy or starting containers at the target are leftovers of an interrupted or failed rollout
    (C(leftover)); V(plan) says so (C(half_done)) and V(start) removes them (O(remove_first))
    before it starts new ones, while the old containers serve. The release record is written by
    M(opskit.webstack.release_record).
  - Runs the C(docker) CLI with its Compose v2 plugin on the target host.
author:
  - opskit maintainers (@opskit)
options:
  step:
    description: The step to run.
    type: str
    required: true
    choices: [plan, rollout, start, retire, roll, abort, recreate]
  project_name:
    description: The Compose project name.
    type: str
    required: true
  project_src:
    description: The Compose project directory.
    type: path
    required: true
  files:
    description: The Compose files; Compose's defaults in O(project_src) when empty.
    type: list
    elements: path
    default: []
  env_files:
    description: Env files passed to Compose with C(--env-file) (they replace the default C(.env), so list it too).
    type: list
    elements: path
    default: []
  env:
    description:
      - Variables set in the environment of the C(docker compose) process (Compose interpolation, for example C(APP_VERSION)).
      - Never on a command line. Use O(secret_env) for secrets.
    type: dict
    default: {}
  secret_env:
    description: Like O(env), for secrets; never shown in the output, never on a command line.
    type: dict
    default: {}
  services:
    description:
      - The services to plan (O(step=plan) and V(rollout)), in order. Each is a service name, or a dict with C(name) (required) and
        the typed options C(image) (str), C(replicas) (int), C(batch_size) (int), C(health_timeout) (int),
        C(drain_seconds) (float) and C(probe) (a dict with C(checks), the checks of M(opskit.webstack.health_check)).
        Numbers given as text are converted; a wrong type, an unknown key or a name used twice fails the plan, before
        anything changes. Each planned service returns its options as C(options).
    type: list
    elements: raw
    default: []
  service:
    description: The service to act on (O(step=start), V(roll), V(abort), V(recreate)).
    type: str
  batches:
    description:
      - The batches of O(service) to roll (O(step=roll)), as planned (C(batches) of the service in RV(services)), in order. Each is a dict with
        C(start) (how many new containers), C(retire) (the old containers to retire after them) and optionally
        C(remove_first) (leftovers removed before the start).
    type: list
    elements: dict
    default: []
  lock:
    description:
      - The stack's lock file on the host (the one M(opskit.webstack.release_lock) takes), for O(step=plan), V(rollout) and V(roll).
      - O(step=plan) and V(rollout) take it before anything else, and fail naming its holder when another run holds it; a lock whose
        C(ansible-playbook) process is gone (same controller) is taken over. Taking it again from the same run succeeds
        (C(acquired) of RV(lock) is false then). The plan gives it back when nothing rolls, and when the plan or the record fails.
      - O(step=roll) gives it back when the step ends, succeeded or failed (only when this run holds it); V(rollout) gives it
        back when it ends, succeeded or failed, when it took it (not when this run held it already).
      - Not taken in check mode.
    type: path
  lock_what:
    description: What the holder of O(lock) does, for the message a second run shows (O(step=plan), V(rollout)).
    type: str
    default: ""
  holder:
    description: Who takes O(lock); set by the action plugin (the controller, the ansible-playbook process and its start time).
    type: dict
  takeover:
    description: The holder whose lock may be replaced (its process is gone); set by the action plugin.
    type: dict
  record:
    description:
      - With O(step=plan) and V(rollout), the release record to write once the plan says something rolls, before anything changes, as
        M(opskit.webstack.release_record) writes it; the record's environment is O(env) (O(secret_env) is never recorded),
        its env files O(env_files) (C(<project_src>/.env) when empty and it exists) and its target each rolling service's image.
      - Not written in check mode, nor when nothing rolls.
    type: dict
    suboptions:
      release_dir:
        description: The host's release directory (an absolute path).
        type: path
        required: true
      release_id:
        description: The record's name (letters, digits, C(_), C(.), C(:), C(-)); an existing record is never overwritten.
        type: str
        required: true
      files:
        description: The Compose files to keep a copy of (the project's own, without a pin override); O(files) when empty.
        type: list
        elements: path
        default: []
      services:
        description: The services to record; every running service of the project when empty.
        type: list
        elements: str
        default: []
      extra:
        description: Free data kept in the record.
        type: dict
        default: {}
      host:
        description: The host name kept in the record.
        type: str
        default: ""
  count:
    description: How many new containers to start (O(step=start)).
    type: int
    default: 1
  remove_first:
    description: Leftover containers of an interrupted rollout to remove before starting new ones (O(step=start)).
    type: list
    elements: str
    default: []
  containers:
    description: The containers to retire (O(step=retire)) or to remove (O(step=abort)), by name or ID.
    type: list
    elements: str
    default: []
  wait:
    description: Wait until the new containers are healthy (O(step=start)); with V(false), return once they are created.
    type: bool
    default: true
  timeout:
    description: Seconds a new container has to become healthy (O(step=start), V(roll), V(recreate)).
    type: int
    default: 60
  health_exec:
    description:
      - While Docker still reports a new container's health as C(starting), run the container's own healthcheck
        command in it (C(docker exec)) at every poll, and count the container healthy once it passes (O(step=start)).
      - This is the test Docker runs, without waiting for Docker's first healthcheck interval (engines
        before 25.0 have no C(start_interval)). Set V(false) when the proxy routes only to containers Docker
        reports healthy (for example Traefik's Docker provider).
      - The command is bounded by the healthcheck's own timeout with coreutils' C(timeout); on a host without it,
        only Docker's status counts.
    type: bool
    default: true
  poll:
    description: Seconds between two looks at the new containers' health (O(step=start)).
    type: float
    default: 0.25
  settle:
    description: Seconds a container without a healthcheck must keep running to count as started.
    type: float
    default: 2.0
  drain:
    description: Seconds old and new containers serve side by side before the old ones are stopped (O(step=retire), V(roll)).
    type: float
    default: 3.0
  since:
    description:
      - When the new containers joined the network (epoch seconds, RV(started_at) of O(step=start)), for O(step=retire).
      - Old and new containers have served side by side since then, so only what is left of O(drain) is waited.
    type: float
  stop_timeout:
    description: Seconds C(docker stop) gives an old container before killing it.
    type: int
    default: 10
  log_lines:
    description: How many of a failed container's last log lines the failure message carries.
    type: int
    default: 20
  reason:
    description: Why the new containers are removed (O(step=abort)), for the failure message.
    type: str
    default: the probe failed
  batch_size:
    description: How many containers of a service roll at once (O(step=plan), V(rollout)).
    type: int
    default: 1
  batch_sizes:
    description: Batch sizes per service overriding O(batch_size) (O(step=plan), V(rollout)).
    type: dict
    default: {}
  replicas:
    description: Replicas per service overriding the declared ones (O(step=plan), V(rollout)).
    type: dict
    default: {}
  probed:
    description: Services whose new containers are checked by an external probe (O(step=plan), V(rollout)).
    type: list
    elements: str
    default: []
  allow_no_healthcheck:
    description: Services allowed to roll with neither a healthcheck nor a probe (O(step=plan), V(rollout)); running for O(settle) seconds counts as healthy.
    type: list
    elements: str
    default: []
  recreate:
    description: Services allowed to be recreated in place, with downtime, because they cannot run side by side (O(step=plan), V(rollout)).
    type: list
    elements: str
    default: []
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
  check_mode:
    support: full
    details: V(plan) only reads (it takes no lock and writes no record); V(start) and V(roll) report a change when they would start or
      remove containers, V(retire) and V(abort) when the containers they name exist, V(recreate) always; none changes anything.
  diff_mode:
    support: none
notes:
  - The old containers of a failed batch are never touched; batches rolled before it stay rolled.
seealso:
  - module: community.docker.docker_compose_v2
  - module: opskit.webstack.health_check
"""

EXAMPLES = r"""
- name: Roll app to v2 in one call (lock, plan, release record, every batch health-gated, lock given back)
  opskit.webstack.compose_rollout:
    step: rollout
    project_name: webstack
    project_src: /srv/webstack
    services: [app]
    env:
      APP_VERSION: v2
    drain: 2
    lock: /srv/webstack/releases/.lock
    lock_what: rollout of app
    record:
      release_dir: /srv/webstack/releases
      release_id: 20261203T120000Z-v2
  register: __rollout

- name: Plan the rollout of the app service
  opskit.webstack.compose_rollout:
    step: plan
    project_name: webstack
    project_src: /srv/webstack
    services: [app]
    env:
      APP_VERSION: v2
  register: __plan

- name: Take the stack's lock, plan the rollout of app and write the release record when it rolls
  opskit.webstack.compose_rollout:
    step: plan
    project_name: webstack
    project_src: /srv/webstack
    services: [app]
    env:
      APP_VERSION: v2
    lock: /srv/webstack/releases/.lock
    lock_what: rollout of app
    record:
      release_dir: /srv/webstack/releases
      release_id: 20261203T120000Z-v2
  register: __plan

- name: Roll app batch by batch, each new container healthy before an old one goes, then give the lock back
  opskit.webstack.compose_rollout:
    step: roll
    project_name: webstack
    project_src: /srv/webstack
    service: app
    batches: "{{ __plan.services[0].batches }}"
    drain: 2
    env:
      APP_VERSION: v2
    lock: "{{ __plan.lock.acquired | ternary('/srv/webstack/releases/.lock', omit) }}"
  when: __plan.would_roll | length > 0

- name: Start one new app container beside the old ones and wait until it is healthy
  opskit.webstack.compose_rollout:
    step: start
    project_name: webstack
    project_src: /srv/webstack
    service: app
    count: 1
    timeout: 60
    env:
      APP_VERSION: v2

- name: Drain and remove the old app container
  opskit.webstack.compose_rollout:
    step: retire
    project_name: webstack
    project_src: /srv/webstack
    containers: "{{ __plan.services[0].batches[0].retire }}"
    drain: 3
"""

RETURN = r"""
services:
  description: Per service (O(step=plan), V(rollout)), what would roll and how.
  returned: when step is plan or rollout (also when rollout fails)
  type: list
  elements: dict
  sample:
    - name: app
      image: opskit/webapp:v2
      target_image_id: sha256:5d1e...
      replicas: 2
      would_roll: true
      strategy: rolling
      current: []
      outdated: [webstack-app-1, webstack-app-2]
      batches: [{start: 1, retire: [webstack-app-1]}, {start: 1, retire: [webstack-app-2]}]
      has_healthcheck: true
would_roll:
  description: The names of the services that would roll (O(step=plan), V(rollout)).
  returned: when step is plan or rollout (also when rollout fails)
  type: list
  elements: str
  sample: [app]
lock:
  description:
    - The stack's lock, when O(lock) is given. C(state) is V(acquired), V(ours) (this run held it already), V(taken_over), or
      V(held) by another run (the step fails). C(acquired) says this step took it (give it back then), C(holder) who holds it,
      C(released) whether this step gave it back.
  returned: when lock is given, not in check mode
  type: dict
  sample: {state: acquired, acquired: true, released: false, holder: {controller: ci-1, pid: 4242, what: rollout of app}}
record:
  description:
    - The release record written by O(step=plan) or V(rollout) with O(record). C(path) is its directory, C(release_id) its name, C(services)
      per recorded service the image, image IDs, repo digests, replicas and containers.
  returned: when a record was written
  type: dict
  sample: {path: /srv/webstack/releases/20261203T120000Z-v2, release_id: 20261203T120000Z-v2, services: {}}
batches:
  description: Per batch rolled (O(step=roll)), the containers C(started) and C(retired).
  returned: when step is roll
  type: list
  elements: dict
failed_batch:
  description: The number (from 1) of the batch that failed (O(step=roll), V(rollout)); the batches before it stay rolled.
  returned: on failure of roll or rollout
  type: int
rolled:
  description:
    - Per service rolled (O(step=rollout)), in order, C(name), C(strategy) and the C(batches) rolled (each with the containers
      C(started) and C(retired)) or, for a service recreated in place, its C(containers).
    - When the step fails, the services rolled before the one that failed (they stay rolled).
  returned: when step is rollout and something rolled, or it failed in a service
  type: list
  elements: dict
failed_service:
  description: The service whose roll failed (O(step=rollout)).
  returned: on failure of rollout in a service
  type: str
started_at:
  description: When the new containers were started (epoch seconds), for O(since) of O(step=retire).
  returned: when step is start
  type: float
containers:
  description: The new containers (O(step=start), V(recreate), V(roll), V(rollout)), or the retired ones (O(step=retire)), each with name, id,
    image_id, health and IPs.
  returned: when step is start, retire, recreate, roll or rollout
  type: list
  elements: dict
removed:
  description: The containers removed by a failed start or an abort.
  returned: on failure of start or abort
  type: list
  elements: str
failed_containers:
  description: The new containers that failed, each with its state, health, last health output and last log lines.
  returned: on failure of start or abort
  type: list
  elements: dict
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opskit.webstack.plugins.module_utils import _compose_rollout as rollout
from ansible_collections.opskit.webstack.plugins.module_utils import _release_lock as locks
from ansible_collections.opskit.webstack.plugins.module_utils import _release_record as records
from ansible_collections.opskit.webstack.plugins.module_utils._beside import Beside


class LockHeld(Exception):
    """Another run holds the stack's lock; the action plugin decides whether its holder is gone."""

    def __init__(self, current):
        super().__init__("the stack's lock is held")
        self.current = current


def check_project_files(module):
    """Fail before anything runs when the project directory or a Compose or env file is missing."""
    params = module.params
    paths = list(params["files"]) + list(params["env_files"])
    missing = [p for p in paths if not os.path.isfile(p)]
    is_dir = os.path.isdir(params["project_src"])
    if missing or not is_dir:
        module.fail_json(msg="The Compose project {} cannot be read: directory {} {}; missing files: {}.".format(
            params["project_name"], params["project_src"], "exists" if is_dir else "is missing", missing))


def check_mode_result(compose, params):
    """What a changing step would change, from what is there now; nothing is changed."""
    step = params["step"]
    if step == "start":
        return {"changed": params["count"] > 0 or bool(params["remove_first"]), "containers": []}
    if step == "roll":
        batches = params["batches"]
        return {"changed": any(int(b.get("start") or 0) > 0 or b.get("retire") or b.get("remove_first") for b in batches),
                "batches": []}
    if step in ("retire", "abort"):
        present = [rollout.container_summary(c) for c in compose.inspect(params["containers"], missing_ok=True)]
        return {"changed": bool(present), "containers": present}
    return {"changed": True, "containers": []}


def check_record_params(record):
    if not os.path.isabs(record["release_dir"]):
        raise records.RecordError("the release directory must be an absolute path, got '{}'".format(record["release_dir"]))
    records.check_release_id(record["release_id"])


def plan_step(module, compose):
    """Take the lock (when asked), plan, write the release record when something rolls (when asked). The
    lock taken here is given back when nothing rolls, and when the plan or the record fails."""
    params = module.params
    record = params["record"]
    given = rollout.normalize_services(params["services"])
    if record:
        check_record_params(record)
    out = {"changed": False}
    taken = False
    if params["lock"] and not module.check_mode:
        state, current = locks.acquire(params["lock"], params["holder"], takeover=params["takeover"])
        if state == "held":
            raise LockHeld(current)
        taken = state in ("acquired", "taken_over")
        out["lock"] = {"state": state, "acquired": taken, "released": False, "holder": params["holder"]}
        if state == "taken_over":
            out["lock"]["taken_over"] = current
    try:
        options = {s["name"]: s for s in given}
        listing = Beside("list the project's containers", compose.project_containers)  # beside Compose's reads
        services = rollout.plan(compose, [s["name"] for s in given],
                                probed=[s["name"] for s in given if "probe" in s] + list(params["probed"]),
                                allow_no_healthcheck=params["allow_no_healthcheck"], recreate=params["recreate"],
                                batch_size=params["batch_size"],
                                replicas=dict(params["replicas"], **{n: o["replicas"] for n, o in options.items() if "replicas" in o}),
                                batch_sizes=dict(params["batch_sizes"], **{n: o["batch_size"] for n, o in options.items() if "batch_size" in o}),
                                running=listing)
        running = listing.result()
        for facts in services:
            facts["options"] = options[facts["name"]]
        out.update(services=services, would_roll=[s["name"] for s in services if s["would_roll"]])
        if record and out["would_roll"] and not module.check_mode:
            images = compose.images(sorted({c.get("Image") for c in running if c.get("Image")}))
            written = records.build_record(
                record["release_id"], project=params["project_name"], project_dir=params["project_src"], host=record["host"],
                env=params["env"], compose_files=record["files"] or params["files"], env_files=params["env_files"],
                containers=running, images=images, names=record["services"],
                target={s["name"]: s["image"] for s in services if s["would_roll"]}, extra=record["extra"])
            path = records.write_record(record["release_dir"], written)
            out["record"] = {"path": path, "release_id": record["release_id"], "services": written["services"]}
            out["changed"] = True
        if taken and not out["would_roll"]:  # nothing to roll: nothing for the lock to guard any more
            out["lock"]["released"] = locks.release(params["lock"], params["holder"])
    except BaseException as exc:
        if taken:
            locks.release(params["lock"], params["holder"])
            out["lock"]["released"] = True
        if isinstance(exc, Exception):
            exc.lock = out.get("lock")
        raise
    return out


def rollout_step(module, compose, active):
    """The whole rollout in one call: the plan (lock, record) as step=plan, then every service that rolls, in
    order; the lock this step took is given back at the end, whether the services rolled or not."""
    params = module.params
    if [s for s in rollout.normalize_services(params["services"]) if "probe" in s] or params["probed"]:
        raise rollout.RolloutError("step=rollout rolls without probes: a service with a probe rolls with step=plan, "
                                   "then start, its probe and retire")
    out = plan_step(module, compose)
    if module.check_mode or not out["would_roll"]:
        return out
    lock = out.get("lock") or {}
    taken = lock.get("acquired") and not lock.get("released")
    try:
        done = rollout.roll_services(compose, out["services"], params["timeout"], params["drain"], stop_timeout=params["stop_timeout"],
                                     log_lines=params["log_lines"], settle=params["settle"], active=active, poll=params["poll"])
    except BaseException as exc:
        if taken:
            out["lock"]["released"] = locks.release(params["lock"], params["holder"])
        if isinstance(exc, Exception):
            # the plan, the record and the lock go with the failure: the caller reports and undoes from them
            exc.lock = out.get("lock")
            exc.planned = {k: v for k, v in out.items() if k in ("services", "would_roll", "record")}
        raise
    if taken:
        out["lock"]["released"] = locks.release(params["lock"], params["holder"])
    started = []
    for service in done:
        started += service["containers"] if service["strategy"] == "recreate" else [c for b in service["batches"] for c in b["started"]]
    out.update(changed=True, rolled=done, containers=started)
    return out


def roll_step(module, compose, active):
    """Every batch of one service, then the lock given back (when given), whether the batches succeeded or not."""
    params = module.params
    try:
        done = rollout.roll(compose, params["service"], params["batches"], params["timeout"], params["drain"],
                            stop_timeout=params["stop_timeout"], log_lines=params["log_lines"], settle=params["settle"],
                            active=active, poll=params["poll"])
    except BaseException as exc:
        if params["lock"]:
            released = locks.release(params["lock"], params["holder"])
            if isinstance(exc, Exception):
                exc.lock = {"released": released}
        raise
    out = {"changed": any(b["started"] or b["retired"] for b in done), "batches": done,
           "containers": [c for b in done for c in b["started"]]}
    if params["lock"]:
        out["lock"] = {"released": locks.release(params["lock"], params["holder"])}
    return out


def run(module):
    params = module.params
    docker = module.get_bin_path(params["docker_cli"], required=True)

    def runner(argv, env):
        return module.run_command(argv, environ_update=env)

    # The healthcheck run in a starting container is bounded by coreutils' timeout; without it, only
    # Docker's own health status counts.
    timeout_cli = module.get_bin_path("timeout")
    compose = rollout.Compose(runner, params["project_name"], params["project_src"], files=params["files"],
                              env_files=params["env_files"], env=dict(params["env"], **params["secret_env"]), docker=docker,
                              timeout=timeout_cli or "timeout")
    step = params["step"]
    if step in ("plan", "rollout"):
        check_project_files(module)
        return plan_step(module, compose) if step == "plan" else rollout_step(module, compose, active=params["health_exec"] and bool(timeout_cli))
    if step in ("start", "roll", "abort", "recreate") and not params["service"]:
        module.fail_json(msg=f"step={step} needs service")
    if module.check_mode:
        return check_mode_result(compose, params)
    if step == "roll":
        return roll_step(module, compose, active=params["health_exec"] and bool(timeout_cli))
    if step == "start":
        before = time.time()
        new = rollout.start(compose, params["service"], params["count"], params["timeout"], wait=params["wait"],
                            log_lines=params["log_lines"], settle=params["settle"],
                            active=params["health_exec"] and bool(timeout_cli), poll=params["poll"],
                            remove_first=params["remove_first"])
        return {"changed": bool(new), "containers": new, "started_at": max((c["joined_at"] for c in new), default=before)}
    if step == "retire":
        gone = rollout.retire(compose, params["containers"], params["drain"], stop_timeout=params["stop_timeout"],
                              since=params["since"])
        return {"changed": bool(gone), "containers": gone}
    if step == "abort":
        rollout.abort(compose, params["service"], params["containers"], params["reason"], log_lines=params["log_lines"])
    now = rollout.recreate(compose, params["service"], params["timeout"], log_lines=params["log_lines"])
    return {"changed": True, "containers": now}


def main():
    module = AnsibleModule(
        argument_spec={
            "step": {"type": "str", "required": True, "choices": ["plan", "rollout", "start", "retire", "roll", "abort", "recreate"]},
            "project_name": {"type": "str", "required": True},
            "project_src": {"type": "path", "required": True},
            "files": {"type": "list", "elements": "path", "default": []},
            "env_files": {"type": "list", "elements": "path", "default": []},
            "env": {"type": "dict", "default": {}},
            "secret_env": {"type": "dict", "default": {}, "no_log": True},
            "services": {"type": "list", "elements": "raw", "default": []},
            "service": {"type": "str"},
            "batches": {"type": "list", "elements": "dict", "default": []},
            "lock": {"type": "path"},
            "lock_what": {"type": "str", "default": ""},
            # set by the action plugin
            "holder": {"type": "dict"},
            "takeover": {"type": "dict"},
            "record": {"type": "dict", "options": {
                "release_dir": {"type": "path", "required": True},
                "release_id": {"type": "str", "required": True},
                "files": {"type": "list", "elements": "path", "default": []},
                "services": {"type": "list", "elements": "str", "default": []},
                "extra": {"type": "dict", "default": {}},
                "host": {"type": "str", "default": ""},
            }},
            "count": {"type": "int", "default": 1},
            "containers": {"type": "list", "elements": "str", "default": []},
            "remove_first": {"type": "list", "elements": "str", "default": []},
            "wait": {"type": "bool", "default": True},
            "timeout": {"type": "int", "default": 60},
            "settle": {"type": "float", "default": 2.0},
            "health_exec": {"type": "bool", "default": True},
            "poll": {"type": "float", "default": 0.25},
            "drain": {"type": "float", "default": 3.0},
            "since": {"type": "float"},
            "stop_timeout": {"type": "int", "default": 10},
            "log_lines": {"type": "int", "default": 20},
            "reason": {"type": "str", "default": "the probe failed"},
            "batch_size": {"type": "int", "default": 1},
            "batch_sizes": {"type": "dict", "default": {}},
            "replicas": {"type": "dict", "default": {}},
            "probed": {"type": "list", "elements": "str", "default": []},
            "allow_no_healthcheck": {"type": "list", "elements": "str", "default": []},
            "recreate": {"type": "list", "elements": "str", "default": []},
            "docker_cli": {"type": "path", "default": "docker"},
        },
        required_if=[("step", "start", ["service"]), ("step", "abort", ["service", "containers"]), ("step", "roll", ["service"]),
                     ("step", "recreate", ["service"]), ("step", "retire", ["containers"])],
        required_by={"lock": "holder"},
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except LockHeld as exc:
        module.fail_json(msg="Failed to take the lock {}: another run holds it".format(module.params["lock"]),
                         lock={"state": "held", "acquired": False, "released": False, "holder": exc.current or {}})
    except rollout.RolloutError as exc:
        details = exc.details or {}
        extra = {"failed_batch": details["batch"]} if "batch" in details else {}
        if "service" in details:
            extra.update(failed_service=details["service"], rolled=details.get("services_done", []))
        extra.update(getattr(exc, "planned", None) or {})
        module.fail_json(msg=str(exc), removed=details.get("removed", []), failed_containers=details.get("failed", []),
                         kept=details.get("kept", []), **_lock_result(module, exc), **extra)
    except records.RecordError as exc:
        module.fail_json(msg=f"Failed to write the release record: {exc}", **_lock_result(module, exc))
    except (ValueError, OSError) as exc:
        module.fail_json(msg="Failed to run the rollout step {}: {}".format(module.params["step"], exc), **_lock_result(module, exc))


def _lock_result(module, exc):
    """The lock's state after a failed step: what the plan took and gave back, or that the roll gave it back."""
    lock = getattr(exc, "lock", None)
    return {"lock": lock} if lock is not None else {}


if __name__ == "__main__":
    main()
