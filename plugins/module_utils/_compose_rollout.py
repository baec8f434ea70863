# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Health-gated rollout of Compose services: the logic community.docker lacks.

The steps, each a function of a :class:`Compose` (the ``docker`` CLI for one Compose project):

* :func:`plan` reads the declared services (``docker compose config``), the running containers
  and the target images, and says per service whether it rolls, how (``rolling`` beside the old
  containers, or ``recreate`` in place) and in which batches. It only reads.
* :func:`start` scales a service up beside its old containers (``up --no-recreate --scale``) and
  waits until every new container is healthy; when one is not, it removes the new containers,
  leaves the old ones alone and raises :class:`RolloutError` naming the container, its last health
  output and its last log lines.
* :func:`retire` waits the drain period, then stops old containers gracefully while they are still
  on their networks (in-flight requests finish; the proxy retries refused connections on the new
  containers) and removes them.
* :func:`roll` runs :func:`start` then :func:`retire` for each batch of a service (no probe between them).
* :func:`roll_services` rolls every service of a plan that rolls, in order (no probe): one call for a whole rollout.
* :func:`abort` removes containers started by :func:`start` when a later probe failed.

The pure helpers (:func:`plan_batches`, :func:`service_facts`, :func:`failure_message`) carry
the decisions and are unit-tested without Docker.
"""

from __future__ import annotations

import json
import re
import time

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.opskit.webstack.plugins.module_utils._beside import Beside

LABEL_PROJECT = "com.docker.compose.project"
LABEL_SERVICE = "com.docker.compose.service"
LABEL_ONEOFF = "com.docker.compose.oneoff"
LABEL_HASH = "com.docker.compose.config-hash"
LABEL_NUMBER = "com.docker.compose.container-number"


class RolloutError(Exception):
    """A rollout step failed; the message says what, where and what was left."""

    def __init__(self, msg, details=None):
        super().__init__(msg)
        self.details = details or {}


# --- pure helpers -------------------------------------------------------------------------------

def chunks(items, size):
    """Split ``items`` into lists of at most ``size`` elements, in order."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def plan_batches(outdated, current, replicas, batch_size):
    """The batches that take a service from its running containers to ``replicas`` at the target.

    ``outdated`` are the names of running containers not at the target, ``current`` the names of
    those already at it. Each batch starts ``start`` new containers, waits for them, then retires
    the ``retire`` old ones; a batch never leaves fewer serving containers than it found, except
    a last one that scales a service down to its declared replicas.
    """
    if replicas < 0:
        raise ValueError(f"replicas must not be negative, got {replicas}")
    current = list(current)
    needed = max(replicas - len(current), 0)
    started = 0
    batches = []
    for group in chunks(list(outdated), batch_size):
        start = min(len(group), needed)
        needed -= start
        started += start
        batches.append({"start": start, "retire": group})
    while needed > 0:
        start = min(batch_size, needed)
        needed -= start
        started += start
        batches.append({"start": start, "retire": []})
    surplus = len(current) + started - replicas
    if surplus > 0:
        batches.append({"start": 0, "retire": current[-surplus:]})
    return batches


def classify(running, target_image_id, config_hash):
    """Split a service's running containers into current, outdated and leftover (names), with a sentence
    about a half-done rollout.

    A container is current only when it runs the target image and config AND is healthy (or has no
    healthcheck): one still starting or unhealthy at the target is the leftover of an interrupted or
    failed rollout and is never served on. With other containers serving, leftovers are removed before
    anything starts; when they are all there is, they are replaced like outdated ones."""
    at_target = [c for c in running if c["image_id"] == target_image_id and c["config_hash"] == config_hash]
    current = [c for c in at_target if c["health"] in (None, "healthy")]
    unhealthy = [c for c in at_target if c not in current]
    serving = [c for c in running if c not in unhealthy and c["health"] in (None, "healthy")]
    leftover = [c["name"] for c in unhealthy] if serving else []
    running = [c for c in running if c["name"] not in leftover]
    outdated = [c for c in running if c not in current]
    if leftover:
        half_done = (f"found {len(leftover)} unhealthy container(s) at the target ({', '.join(leftover)}), left by an "
                     "interrupted or failed rollout: they are removed before the rollout starts again")
    elif current and outdated:
        half_done = (f"found {len(current)} healthy container(s) at the target beside {len(outdated)} outdated one(s), "
                     "left by an interrupted rollout: it is finished")
    else:
        half_done = ""
    return {"running": running, "current": [c["name"] for c in current], "outdated": [c["name"] for c in outdated],
            "leftover": leftover, "half_done": half_done}


def with_leftovers(batches, leftover):
    """The first batch removes the leftovers before it starts new containers (or retires them, when it starts none)."""
    if not leftover:
        return batches
    if batches and batches[0]["start"] > 0:
        return [dict(batches[0], remove_first=list(leftover)), *batches[1:]]
    return [{"start": 0, "retire": list(leftover)}, *batches]


# The options of one service of a rollout (names alone stand for {"name": NAME}).
SERVICE_SPEC = {
    "name": {"type": "str", "required": True},
    "image": {"type": "str"},
    "replicas": {"type": "int"},
    "batch_size": {"type": "int"},
    "health_timeout": {"type": "int"},
    "drain_seconds": {"type": "float"},
    "probe": {"type": "dict", "options": {"checks": {"type": "list", "elements": "dict", "required": True}}},
}
SERVICE_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def normalize_services(raw):
    """The services of a rollout as dicts checked against SERVICE_SPEC (types converted: "2" -> 2), in
    order. Raises RolloutError naming the service and what is wrong."""
    validator = ArgumentSpecValidator(SERVICE_SPEC)
    out, problems = [], []
    for item in raw or []:
        given = {"name": item} if isinstance(item, str) else item
        if not isinstance(given, dict):
            problems.append(f"{item!r} is neither a service name nor a dict")
            continue
        result = validator.validate(given)
        name = given.get("name", "?")
        if result.error_messages:
            problems.append("service {}: {}".format(name, "; ".join(result.error_messages)))
            continue
        params = {k: v for k, v in result.validated_parameters.items() if v is not None}
        if not SERVICE_NAME.match(params["name"]):
            problems.append(f"service name '{params['name']}' is not a Compose service name (letters, digits, '_', '.', '-')")
        for key in ("replicas", "batch_size", "health_timeout"):
            if key in params and params[key] < (0 if key == "replicas" else 1):
                problems.append(f"service {name}: {key} must be at least {0 if key == 'replicas' else 1}, got {params[key]}")
        if params.get("drain_seconds", 0) < 0:
            problems.append(f"service {name}: drain_seconds must not be negative")
        out.append(params)
    names = [s["name"] for s in out]
    if not raw:
        problems.append("no service to roll")
    if len(set(names)) != len(names):
        problems.append("a service is named twice: " + ", ".join(sorted({n for n in names if names.count(n) > 1})))
    if problems:
        raise RolloutError("Bad services of the rollout: " + "; ".join(problems) + ". Each is a name or a dict with the keys "
                           + ", ".join(SERVICE_SPEC) + ".")
    return out


def _published_host_ports(ports):
    out = []
    for port in ports or []:
        if isinstance(port, dict):
            published = port.get("published")
            if published not in (None, "", 0, "0"):
                out.append(str(published))
        elif isinstance(port, str) and ":" in port:
            out.append(port.rsplit(":", 1)[0])
    return out


def service_facts(name, config, image_healthcheck=None):
    """What matters for a rollout of one service, from its ``docker compose config`` entry.

    Returns the declared image, replicas, whether a healthcheck exists (in the Compose file or in
    the image) and the reasons, if any, why two containers of it cannot run side by side.
    """
    deploy = config.get("deploy") or {}
    replicas = deploy.get("replicas")
    if replicas is None:
        replicas = config.get("scale", 1)
    healthcheck = config.get("healthcheck") or {}
    if healthcheck.get("disable"):
        has_healthcheck = False
    elif healthcheck.get("test"):
        has_healthcheck = healthcheck["test"] not in (["NONE"], "NONE")
    else:
        has_healthcheck = bool(image_healthcheck) and image_healthcheck not in (["NONE"], "NONE")
    blockers = []
    if config.get("container_name"):
        blockers.append("container_name {!r} is fixed".format(config["container_name"]))
    fixed = _published_host_ports(config.get("ports"))
    if fixed:
        blockers.append("host port(s) {} are published".format(", ".join(fixed)))
    named = [v.get("source") for v in config.get("volumes") or [] if isinstance(v, dict) and v.get("type") == "volume" and v.get("source")]
    if named:
        blockers.append("named volume(s) {} hold state".format(", ".join(named)))
    return {
        "name": name,
        "image": config.get("image") or "",
        "replicas": int(replicas),
        "has_healthcheck": has_healthcheck,
        "side_by_side_blockers": blockers,
    }


def tail(text, lines):
    """The last ``lines`` lines of ``text``."""
    parts = (text or "").rstrip("\n").splitlines()
    return "\n".join(parts[-lines:]) if lines > 0 else ""


def failure_message(service, project, failures, kept, reason):
    """The message of a failed rollout: the service, each failed container, its health and logs."""
    lines = [f"Rollout of service '{service}' (project {project}) failed: {reason}."]
    for fail in failures:
        lines.append(
            "New container {name} (image {image}, {image_id}) state {state}, health {health}.".format(
                name=fail.get("name"), image=fail.get("image"), image_id=(fail.get("image_id") or "?")[:19],
                state=fail.get("state"), health=fail.get("health") or "none")
        )
        lines.append("Last health output of {}: {}".format(fail.get("name"), (fail.get("health_output") or "none").strip()))
        lines.append("Last log lines of {}:\n{}".format(fail.get("name"), fail.get("logs") or "(none)"))
    lines.append(
        "The new container(s) {} were removed; the old container(s) {} were left untouched and serving.".format(
            ", ".join(f.get("name", "?") for f in failures) or "(none)", ", ".join(kept) or "(none)")
    )
    return "\n".join(lines)


def container_summary(inspect):
    """A small dict of one ``docker inspect`` entry."""
    state = inspect.get("State") or {}
    health = state.get("Health") or {}
    log = health.get("Log") or []
    labels = (inspect.get("Config") or {}).get("Labels") or {}
    networks = ((inspect.get("NetworkSettings") or {}).get("Networks") or {})
    check = (inspect.get("Config") or {}).get("Healthcheck") or {}
    test = list(check.get("Test") or [])
    return {
        "id": inspect.get("Id", ""),
        "name": (inspect.get("Name") or "").lstrip("/"),
        "image": (inspect.get("Config") or {}).get("Image", ""),
        "image_id": inspect.get("Image", ""),
        "state": state.get("Status", ""),
        "running": bool(state.get("Running")),
        "health": health.get("Status"),
        "health_output": (log[-1].get("Output") if log else "") or "",
        "service": labels.get(LABEL_SERVICE, ""),
        "config_hash": labels.get(LABEL_HASH, ""),
        "number": int(labels.get(LABEL_NUMBER, "0") or 0),
        "created": inspect.get("Created", ""),
        "networks": sorted(networks),
        "ips": sorted(n.get("IPAddress") for n in networks.values() if n.get("IPAddress")),
        "health_test": test if test and test[0] in ("CMD", "CMD-SHELL") else [],
        "health_timeout": (check.get("Timeout") or 30 * 10**9) / 10**9,
    }


# --- the docker CLI -----------------------------------------------------------------------------

class Compose:
    """The ``docker`` CLI for one Compose project. ``run(argv, environ)`` returns (rc, out, err)."""

    def __init__(self, run, project, project_dir, *, files=None, env_files=None, env=None, docker="docker", timeout="timeout"):
        self._run = run
        self.timeout = timeout
        self.project = project
        self.project_dir = project_dir
        self.files = list(files or [])
        self.env_files = list(env_files or [])
        self.env = dict(env or {})
        self.docker = docker

    def compose_argv(self, *args):
        argv = [self.docker, "compose", "--project-name", self.project, "--project-directory", self.project_dir]
        for path in self.files:
            argv += ["--file", path]
        for path in self.env_files:
            argv += ["--env-file", path]
        return argv + list(args)

    def call(self, argv, what, check=True):
        rc, out, err = self._run(argv, self.env)
        if check and rc != 0:
            raise RolloutError(f"Failed to {what}: {(err or out).strip()[-2000:]}")
        return rc, out, err

    def config(self):
        _rc, out, _err = self.call(self.compose_argv("config", "--format", "json"), "read the Compose configuration")
        return json.loads(out)

    def config_hash(self, service):
        return self.config_hashes([service]).get(service, "")

    def config_hashes(self, services):
        """Compose's config hash of each of ``services`` (one ``docker compose config --hash`` call)."""
        if not services:
            return {}
        _rc, out, _err = self.call(self.compose_argv("config", "--hash", ",".join(services)),
                                   "hash service(s) {}".format(", ".join(services)))
        hashes = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in services:
                hashes[parts[0]] = parts[1]
        if len(services) > 1:  # a Compose that reads only one name per --hash: one call per service left
            for name in services:
                if name not in hashes:
                    hashes.update(self.config_hashes([name]))
        return hashes

    def image(self, ref):
        """``docker image inspect`` of ``ref``, or None when the image is not on the host."""
        rc, out, _err = self.call([self.docker, "image", "inspect", ref], f"inspect image {ref}", check=False)
        if rc != 0:
            return None
        data = json.loads(out)
        return data[0] if data else None

    def inspect(self, ids, missing_ok=False):
        """``docker container inspect`` of ``ids``; with ``missing_ok``, of those that exist."""
        if not ids:
            return []
        _rc, out, _err = self.call([self.docker, "container", "inspect", *list(ids)], "inspect containers", check=not missing_ok)
        return json.loads(out or "[]")

    def project_containers(self, service=None, all_states=False):
        """``docker inspect`` entries of the project's containers (of ``service`` when given; running
        ones unless ``all_states``), one-off containers excluded."""
        argv = [self.docker, "container", "ls", "--no-trunc", "--format", "{{.ID}}", "--filter", f"label={LABEL_PROJECT}={self.project}"]
        if service:
            argv += ["--filter", f"label={LABEL_SERVICE}={service}"]
        if all_states:
            argv.insert(3, "--all")
        _rc, out, _err = self.call(argv, f"list the containers of {service or 'the project'}")
        return [c for c in self.inspect(out.split())
                if ((c.get("Config") or {}).get("Labels") or {}).get(LABEL_ONEOFF, "False") != "True"]

    def containers(self, service, all_states=False):
        """Summaries of the containers of ``service`` (one-off containers excluded), oldest number first."""
        found = [container_summary(entry) for entry in self.project_containers(service, all_states)]
        return sorted(found, key=lambda c: (c["number"], c["created"]))

    def images(self, ids):
        """``docker image inspect`` of several image IDs."""
        if not ids:
            return []
        _rc, out, _err = self.call([self.docker, "image", "inspect", *list(ids)], "inspect the running images")
        return json.loads(out)

    def health_exec(self, container, test, timeout):
        """Run a container's own healthcheck ``test`` (Docker's CMD or CMD-SHELL form) in it now; True when it passes."""
        argv = list(test[1:]) if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
        rc, _out, _err = self.call([self.timeout, str(max(1, int(timeout))), self.docker, "container", "exec", container, *argv],
                                   f"run the healthcheck of {container}", check=False)
        return rc == 0

    def logs(self, container, lines):
        _rc, out, err = self.call([self.docker, "container", "logs", "--tail", str(lines), container],
                                  f"read the logs of {container}", check=False)
        return tail((out or "") + (err or ""), lines)

    def remove(self, names, stop_timeout=None):
        if not names:
            return
        if stop_timeout is not None:
            self.call([self.docker, "container", "stop", "--time", str(stop_timeout), *list(names)], "stop containers", check=False)
        self.call([self.docker, "container", "rm", "--force", "--volumes", *list(names)], "remove containers {}".format(", ".join(names)))


# --- the steps ----------------------------------------------------------------------------------

def _read_project(compose, services, running):
    """The project's services (``docker compose config``), the config hashes of ``services`` read beside them, and
    ``running`` (listed beside them when it is a :class:`Beside`). No hashes when a service is not in the project:
    the plan names it."""
    hashing = Beside("hash the services' Compose configuration", compose.config_hashes, list(services))
    config = compose.config().get("services") or {}
    if all(name in config for name in services):
        hashes = hashing.result()
    else:
        hashing.join()
        hashes = {}
    return config, hashes, running.result() if isinstance(running, Beside) else running


def plan(compose, services, *, probed=(), allow_no_healthcheck=(), recreate=(), batch_size=1, replicas=None, batch_sizes=None,
         running=None):
    """What would roll, per service. Raises RolloutError for a service that must be refused.

    ``running``: the project's running containers (``docker inspect`` entries of
    :meth:`Compose.project_containers`) when the caller has them already, or a :class:`Beside` listing them;
    else each service's are listed. Compose reads the project twice (the configuration, the config hashes):
    both at once."""
    config, hashes, running = _read_project(compose, services, running)
    replicas = replicas or {}
    batch_sizes = batch_sizes or {}
    out = []
    for name in services:
        if name not in config:
            raise RolloutError("Service '{}' is not in the Compose project {} (its services: {})".format(
                name, compose.project, ", ".join(sorted(config)) or "none"))
        image_ref = config[name].get("image") or f"{compose.project}-{name}"
        image = compose.image(image_ref)
        if image is None:
            raise RolloutError(f"The image {image_ref} of service '{name}' is not on this host: build or pull it first "
                               "(compose_rollout_pull / compose_rollout_build)")
        facts = service_facts(name, config[name], ((image.get("Config") or {}).get("Healthcheck") or {}).get("Test"))
        if name in replicas and replicas[name] is not None:
            facts["replicas"] = int(replicas[name])
        facts["image"] = image_ref
        facts["target_image_id"] = image.get("Id", "")
        facts["target_repo_digests"] = image.get("RepoDigests") or []
        facts["config_hash"] = hashes.get(name, "")
        if running is None:
            containers = compose.containers(name)
        else:
            containers = sorted((container_summary(c) for c in running
                                 if ((c.get("Config") or {}).get("Labels") or {}).get(LABEL_SERVICE) == name),
                                key=lambda c: (c["number"], c["created"]))
        facts.update(classify([c for c in containers if c["running"]], facts["target_image_id"], facts["config_hash"]))
        facts["would_roll"] = bool(facts["outdated"]) or bool(facts["leftover"]) or len(facts["current"]) != facts["replicas"]
        facts["strategy"] = "recreate" if facts["side_by_side_blockers"] else "rolling"
        facts["batches"] = []
        if facts["would_roll"]:
            if facts["strategy"] == "recreate" and name not in recreate:
                raise RolloutError(
                    "Service '{}' cannot run two containers side by side ({}), so it can only be recreated in place, "
                    "with a moment of downtime: add it to compose_rollout_recreate to allow that.".format(
                        name, "; ".join(facts["side_by_side_blockers"])))
            if not facts["has_healthcheck"] and name not in probed and name not in allow_no_healthcheck:
                raise RolloutError(
                    f"Service '{name}' has no healthcheck (neither in the Compose file nor in image {image_ref}) and no probe, "
                    "so a new container could not be told healthy: give it a probe or a healthcheck, or allow it "
                    "with compose_rollout_allow_no_healthcheck.")
            if facts["strategy"] == "rolling":
                facts["batches"] = with_leftovers(plan_batches(facts["outdated"], facts["current"], facts["replicas"],
                                                               int(batch_sizes.get(name) or batch_size)), facts["leftover"])
        out.append(facts)
    return out


def wait_healthy(compose, names, timeout, *, settle=2.0, poll=0.5, sleep=time.sleep, clock=time.monotonic, active=False):
    """Wait until every container in ``names`` is healthy (or running ``settle`` s when it has no
    healthcheck). Returns (ok, summaries, reason).

    With ``active``, a container whose Docker health is still ``starting`` also counts as healthy once
    its own healthcheck command, run in it by ``docker exec`` at every poll, passes: the same test Docker
    runs, without waiting for Docker's first ``interval`` (Docker 20.10 has no start_interval)."""
    deadline = clock() + timeout
    first_running = {}
    passed = set()
    while True:
        summaries = [container_summary(c) for c in compose.inspect(names)]
        dead = [s for s in summaries if s["state"] in ("exited", "dead") or (not s["running"] and s["state"] != "created")]
        if dead:
            return False, summaries, "new container {} stopped (state {})".format(dead[0]["name"], dead[0]["state"])
        ready = 0
        for s in summaries:
            if s["health"] is None:
                first_running.setdefault(s["name"], clock()) if s["running"] else None
                if s["running"] and clock() - first_running[s["name"]] >= settle:
                    ready += 1
            elif s["health"] == "healthy" or s["id"] in passed:
                ready += 1
            elif (active and s["running"] and s["health"] == "starting" and s["health_test"]
                  and compose.health_exec(s["id"], s["health_test"], s["health_timeout"])):
                passed.add(s["id"])
                ready += 1
        if ready == len(summaries):
            return True, summaries, ""
        if clock() >= deadline:
            bad = [s for s in summaries if s["health"] not in ("healthy", None)]
            return False, summaries, "not healthy within {}s ({})".format(
                timeout, ", ".join("{}: {}".format(s["name"], s["health"] or s["state"]) for s in bad or summaries))
        sleep(poll)


def _fail_and_remove(compose, service, new_names, reason, *, log_lines, kept):
    failures = []
    for summary in [container_summary(c) for c in compose.inspect(new_names)]:
        summary["logs"] = compose.logs(summary["id"], log_lines)
        failures.append(summary)
    compose.remove(new_names)
    msg = failure_message(service, compose.project, failures, kept, reason)
    raise RolloutError(msg, {"failed": failures, "removed": list(new_names), "kept": list(kept)})


def start(compose, service, count, timeout, *, wait=True, log_lines=20, settle=2.0, active=False, poll=0.5, remove_first=(),
          clock=time.time):
    """Start ``count`` new containers of ``service`` beside the running ones and wait for them. ``remove_first``:
    the leftovers of an interrupted rollout (unhealthy, at the target), removed before anything starts.
    Each summary returned has ``joined_at``: when ``docker compose up`` had started them (epoch seconds)."""
    compose.remove(list(remove_first))
    before = compose.containers(service, all_states=True)
    before_ids = {c["id"] for c in before}
    kept = [c["name"] for c in before if c["running"]]
    argv = compose.compose_argv("up", "--detach", "--no-deps", "--no-recreate", "--no-build", "--pull", "never",
                                "--scale", f"{service}={len(before) + count}", service)
    rc, out, err = compose.call(argv, f"start new containers of {service}", check=False)
    # the new containers are on the network (and in its DNS) from here: the drain counts from now, not
    # from before `up` (0.3-0.6 s earlier: the old containers were stopped after 1.5 s side by side, and a
    # proxy worker whose 1 s DNS answer predated the new ones answered 502)
    joined = clock()
    after = compose.containers(service, all_states=True)
    new = [c for c in after if c["id"] not in before_ids]
    new_names = [c["name"] for c in new]
    if rc != 0:
        _fail_and_remove(compose, service, new_names,
                         f"docker compose up failed: {(err or out).strip()[-1000:]}", log_lines=log_lines, kept=kept)
    if len(new) != count:
        _fail_and_remove(compose, service, new_names,
                         f"expected {count} new container(s), Compose started {len(new)}", log_lines=log_lines, kept=kept)
    if wait:
        ok, summaries, reason = wait_healthy(compose, new_names, timeout, settle=settle, active=active, poll=poll)
        if not ok:
            _fail_and_remove(compose, service, new_names, reason, log_lines=log_lines, kept=kept)
        new = summaries
    else:
        new = [container_summary(c) for c in compose.inspect(new_names)]
    return [dict(summary, joined_at=joined) for summary in new]


def retire(compose, names, drain, stop_timeout=10, *, sleep=time.sleep, since=None, clock=time.time):
    """Retire ``names``: wait ``drain`` seconds, stop them gracefully, remove them.

    ``since`` (epoch seconds) is when the new containers joined the network: old and new have served
    side by side from then, so only what is left of ``drain`` is waited.

    During the drain the proxy, which re-resolves the service name, spreads requests over the old and
    the new containers. The stop (SIGTERM, then SIGKILL after ``stop_timeout`` seconds) happens while
    the old containers are still on their networks: the app closes its listener and finishes the
    requests in flight, whose answers still reach the proxy, and the proxy retries the connections
    the closed listener refuses on the new containers. (Disconnecting first would cut the requests in
    flight and leave the app waiting on dead connections until it is killed.)
    """
    summaries = [container_summary(c) for c in compose.inspect(names)]
    wait = drain if since is None else drain - max(0.0, clock() - since)
    if summaries and wait > 0:
        sleep(wait)
    compose.remove([s["id"] for s in summaries], stop_timeout=stop_timeout)
    return summaries


def roll(compose, service, batches, timeout, drain, *, stop_timeout=10, log_lines=20, settle=2.0, active=False, poll=0.5,
         clock=time.time):
    """Roll ``service`` batch by batch in one go: per batch, :func:`start` (new containers healthy, else
    removed and RolloutError), then :func:`retire` of the batch's old containers, the drain counted from when
    the batch's new containers were started. Batches done before a failing one stay done; the error says which batch failed.
    Returns one dict per batch: ``started`` and ``retired`` (container summaries)."""
    done = []
    for index, batch in enumerate(batches, 1):
        started_at, new = None, []
        try:
            if int(batch.get("start") or 0) > 0:
                new = start(compose, service, int(batch["start"]), timeout, log_lines=log_lines, settle=settle, active=active,
                            poll=poll, remove_first=batch.get("remove_first") or [], clock=clock)
                started_at = max(summary["joined_at"] for summary in new)
            retired = retire(compose, batch.get("retire") or [], drain, stop_timeout=stop_timeout, since=started_at,
                             clock=clock) if batch.get("retire") else []
        except RolloutError as exc:
            details = dict(exc.details, batch=index, batches_done=done)
            prefix = f"Batch {index} of {len(batches)}: " if len(batches) > 1 else ""
            raise RolloutError(prefix + str(exc), details) from exc
        done.append({"started": new, "retired": retired})
    return done


def roll_services(compose, planned, timeout, drain, *, stop_timeout=10, log_lines=20, settle=2.0, active=False, poll=0.5):
    """Roll every service of a plan (:func:`plan`, each with its ``options``) that would roll, in order: a rolling
    one with :func:`roll`, one opted in to ``recreate`` with :func:`recreate`. A service's ``health_timeout`` and
    ``drain_seconds`` options override ``timeout`` and ``drain``. A service with a ``probe`` is refused before
    anything starts (its probe runs between the steps, outside this call).

    Returns one dict per service rolled: ``name``, ``strategy`` and ``batches`` (rolling) or ``containers``
    (recreated). A failing service raises RolloutError naming it, with ``service`` and ``services_done`` in
    its details; the services before it stay rolled."""
    rolling = [facts for facts in planned if facts["would_roll"]]
    probed = [facts["name"] for facts in rolling if "probe" in (facts.get("options") or {})]
    if probed:
        raise RolloutError("Service(s) {} have a probe, which runs between a rollout's steps: roll them step by step "
                           "(step=plan, then start, the probe, retire), not in one call".format(", ".join(probed)))
    done = []
    for facts in rolling:
        name, options = facts["name"], facts.get("options") or {}
        wait = options.get("health_timeout", timeout)
        try:
            if facts["strategy"] == "recreate":
                done.append({"name": name, "strategy": "recreate", "containers": recreate(compose, name, wait, log_lines=log_lines)})
            else:
                batches = roll(compose, name, facts["batches"], wait, options.get("drain_seconds", drain), stop_timeout=stop_timeout,
                               log_lines=log_lines, settle=settle, active=active, poll=poll)
                done.append({"name": name, "strategy": "rolling", "batches": batches})
        except RolloutError as exc:
            before = "\nRolled before it, and left rolled: {}.".format(", ".join(d["name"] for d in done)) if done else ""
            raise RolloutError(str(exc) + before, dict(exc.details, service=name, services_done=done)) from exc
    return done


def abort(compose, service, names, reason, log_lines=20):
    """Remove the new containers ``names`` after a failed probe; always raises RolloutError."""
    kept = [c["name"] for c in compose.containers(service) if c["running"] and c["name"] not in names]
    _fail_and_remove(compose, service, list(names), reason, log_lines=log_lines, kept=kept)


def recreate(compose, service, timeout, log_lines=20):
    """Recreate ``service`` in place (stateful services, with an explicit opt-in) and wait for it."""
    argv = compose.compose_argv("up", "--detach", "--no-deps", "--no-build", "--pull", "never",
                                "--wait", "--wait-timeout", str(int(timeout)), service)
    rc, out, err = compose.call(argv, f"recreate {service}", check=False)
    now = compose.containers(service, all_states=True)
    if rc != 0:
        failures = []
        for c in now:
            c["logs"] = compose.logs(c["id"], log_lines)
            failures.append(c)
        raise RolloutError(failure_message(service, compose.project, failures, [],
                                           f"recreating in place failed: {(err or out).strip()[-1000:]}")
                           .replace("were removed; the old container(s) (none) were left untouched and serving.",
                                    "were left as they are for inspection."))
    return now
