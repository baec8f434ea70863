#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: compose_project_info
extends_documentation_fragment:
  - opskit.webstack.attributes
  - opskit.webstack.docker_cli
short_description: Read a running Compose project and guess how the release role should describe it
version_added: 0.2.0
description:
  - Reads a Compose project running on the Docker host, by its name, from its containers (their Compose labels), the
    working directory, Compose files and env files they were started with, and C(docker compose config) of those.
  - Returns each service (image, running image, healthcheck, published ports, environment variable B(names), volumes,
    what it depends on) and a guess of the stack's roles for the release role opskit.webstack.webstack
    (the app service and its image repository, the database and Redis services, the proxy and its URL, the app's
    health, the Alembic configuration file found in the app container, where the database settings come from).
  - Never returns the value of an environment variable, except the database name and user of a PostgreSQL service
    (C(POSTGRES_DB), C(POSTGRES_USER)); secrets are named by their variable only.
  - What it could not guess is listed in RV(could_not_guess), as sentences.
  - Runs the C(docker) CLI (with its Compose v2 plugin) on the target host.
author:
  - opskit maintainers (@opskit)
options:
  project:
    description: The Compose project name.
    type: str
    required: true
  find_alembic:
    description:
      - Look for an C(alembic.ini) in a running container of the guessed app service (C(find) down to 5 levels, outside
        C(/proc), C(/sys), C(/usr)), for the C(alembic_config_file) of RV(guess).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
seealso:
  - module: opskit.webstack.compose_service_info
  - module: opskit.webstack.compose_rollout
"""

EXAMPLES = r"""
- name: Read the Compose project shop
  opskit.webstack.compose_project_info:
    project: shop
  register: shop

- name: Show what could not be guessed
  ansible.builtin.debug:
    msg: "{{ shop.could_not_guess }}"
"""

RETURN = r"""
project:
  description: The project name.
  returned: always
  type: str
  sample: shop
working_dir:
  description: The project directory the containers were started from (Compose label).
  returned: always
  type: str
  sample: /srv/shop
compose_files:
  description: The Compose files the containers were started with (the release role's own override left out).
  returned: always
  type: list
  elements: str
  sample: [/srv/shop/compose.yml]
env_files:
  description: The env files the containers were started with (Compose label; may be empty).
  returned: always
  type: list
  elements: str
services:
  description:
    - One entry per service of the Compose configuration, by name, with C(image) (as configured), C(running_images),
      C(containers) (running), C(healthcheck) (the test, from the Compose file or the image; empty when none),
      C(ports) (C(host_ip), C(published), C(target)), C(env_names), C(volumes) (targets), C(depends_on),
      C(kind) (C(postgres), C(redis), C(proxy), C(app) or C(other)).
  returned: always
  type: dict
guess:
  description:
    - What the release role's variables could be, by name without the C(webstack_) prefix; null where nothing was found.
    - C(app_service), C(app_image), C(app_version), C(deploy_services), C(db_service), C(db_name), C(db_user),
      C(db_password_env), C(redis_service), C(redis_password_env), C(proxy_service), C(proxy_url), C(health_url),
      C(alembic_config_file), C(alembic_database_env), C(alembic_database_url_env).
  returned: always
  type: dict
could_not_guess:
  description: What could not be guessed, as sentences.
  returned: always
  type: list
  elements: str
"""

import json
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opskit.webstack.plugins.module_utils import _compose_rollout as rollout

LABEL_WORKING_DIR = "com.docker.compose.project.working_dir"
LABEL_CONFIG_FILES = "com.docker.compose.project.config_files"
LABEL_ENV_FILE = "com.docker.compose.project.environment_file"
OWN_OVERRIDE_MARK = "written by opskit.webstack"

POSTGRES_IMAGE = re.compile(r"(^|[/_-])(postgres|postgresql|postgis|timescaledb)([:/_-]|$)", re.IGNORECASE)
REDIS_IMAGE = re.compile(r"(^|[/_-])(redis|valkey|keydb)([:/_-]|$)", re.IGNORECASE)
PROXY_IMAGE = re.compile(r"(^|[/_-])(nginx|traefik|caddy|haproxy|envoy|httpd|apache)([:/_-]|$)", re.IGNORECASE)
URL_PATH = re.compile(r"https?://[^/\s\"']+(/[^\s\"']*)")
# Where an app's database settings come from, by variable names: one family of names per row.
DB_ENV_FAMILIES = (
    {"host": "POSTGRES_HOST", "port": "POSTGRES_PORT", "user": "POSTGRES_USER", "password": "POSTGRES_PASSWORD", "name": "POSTGRES_DB"},
    {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD", "name": "PGDATABASE"},
    {"host": "DB_HOST", "port": "DB_PORT", "user": "DB_USER", "password": "DB_PASSWORD", "name": "DB_NAME"},
)
URL_ENV_NAMES = ("DATABASE_URL", "SQLALCHEMY_DATABASE_URI", "POSTGRES_URL", "DB_URL")


def split_image(ref):
    """(repository, tag) of an image reference; the tag is None for a digest or no tag."""
    ref = ref or ""
    if "@" in ref:
        return ref.split("@", 1)[0], None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:]
    return ref, None


def env_map(config):
    """The environment of a ``docker compose config`` service as a dict (list or mapping form)."""
    env = config.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env)


def health_test(config, image_healthcheck=None):
    check = config.get("healthcheck") or {}
    if check.get("disable"):
        return []
    test = check.get("test") or (image_healthcheck or {}).get("Test") or []
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    return [] if not test or test[0] == "NONE" else list(test)


def published_ports(config):
    out = []
    for port in config.get("ports") or []:
        if isinstance(port, dict) and port.get("published") not in (None, "", 0, "0"):
            out.append({"host_ip": port.get("host_ip") or "", "published": str(port["published"]), "target": port.get("target")})
    return out


def service_kind(name, config, test):
    image = config.get("image") or ""
    names = set(env_map(config))
    joined = " ".join(test)
    if POSTGRES_IMAGE.search(image) or "pg_isready" in joined or "PGDATA" in names:
        return "postgres"
    if REDIS_IMAGE.search(image) or "redis-cli" in joined or "valkey-cli" in joined:
        return "redis"
    if PROXY_IMAGE.search(image):
        return "proxy"
    return "app" if test or config.get("depends_on") else "other"


def describe_services(config, running, image_healthchecks=None):
    """Per service of the Compose configuration: what the guesses read (no environment values)."""
    image_healthchecks = image_healthchecks or {}
    out = {}
    for name, svc in sorted((config.get("services") or {}).items()):
        test = health_test(svc, image_healthchecks.get(svc.get("image") or ""))
        ctrs = [c for c in running if c.get("service") == name]
        depends = svc.get("depends_on") or {}
        out[name] = {
            "image": svc.get("image") or "",
            "running_images": sorted({c.get("image") for c in ctrs if c.get("image")}),
            "containers": [c.get("name") for c in ctrs],
            "healthcheck": test,
            "ports": published_ports(svc),
            "env_names": sorted(env_map(svc)),
            "volumes": [v.get("target") for v in svc.get("volumes") or [] if isinstance(v, dict) and v.get("target")],
            "depends_on": sorted(depends) if isinstance(depends, (dict, list)) else [],
            "kind": service_kind(name, svc, test),
        }
    return out


def _first(names):
    return names[0] if names else None


def _guess_app(services, app, out, missing):
    image = (services[app]["running_images"] or [services[app]["image"]])[0]
    repo, tag = split_image(image)
    out.update(app_image=repo, app_version=tag)
    if not tag:
        missing.append(f"the app's version: its image {image} has no tag")
    same = sorted(n for n, s in services.items()
                  if split_image(s["image"])[0] == repo or any(split_image(i)[0] == repo for i in s["running_images"]))
    out["deploy_services"] = same or [app]
    if not services[app]["healthcheck"]:
        missing.append(f"the health of {app}: it has no healthcheck (a rollout needs one, or a probe)")
    envs = set(services[app]["env_names"])
    family = next((f for f in DB_ENV_FAMILIES if {f["host"], f["password"]} <= envs), None)
    if family:
        out["alembic_database_env"] = {k: v for k, v in family.items() if v in envs}
    out["alembic_database_url_env"] = next((n for n in URL_ENV_NAMES if n in envs), None)
    if not family and not out["alembic_database_url_env"]:
        missing.append(f"where the migrations find the database: {app} has no DATABASE_URL or POSTGRES_HOST/POSTGRES_PASSWORD "
                       "(set webstack_alembic_database_url_env, webstack_alembic_database_env or webstack_alembic_database_url)")


def _guess_db(config, db, out, missing):
    db_env = env_map((config.get("services") or {}).get(db) or {})
    out["db_name"] = db_env.get("POSTGRES_DB") or db_env.get("POSTGRES_USER") or None
    out["db_user"] = db_env.get("POSTGRES_USER") or "postgres"
    out["db_password_env"] = next((n for n in ("POSTGRES_PASSWORD", "POSTGRES_PASSWORD_FILE") if n in db_env), None)
    if not out["db_name"]:
        missing.append(f"the database name: {db} sets no POSTGRES_DB (set webstack_db_name)")


def _guess_url(services, out, missing):
    proxy, app = out["proxy_service"], out["app_service"]
    front = proxy if proxy and services[proxy]["ports"] else (app if app and services[app]["ports"] else None)
    if front:
        port = services[front]["ports"][0]
        host = port["host_ip"] if port["host_ip"] not in ("", "::") and not port["host_ip"].startswith("0.") else "127.0.0.1"
        out["proxy_url"] = f"http://{host}:{port['published']}"
    else:
        missing.append("the URL the app answers on: no service publishes a port (set webstack_proxy_url)")
    if app is not None:
        path = next((m.group(1) for arg in services[app]["healthcheck"] for m in [URL_PATH.search(arg)] if m), None)
        if path and out["proxy_url"]:
            out["health_url"] = out["proxy_url"] + path
        else:
            missing.append(f"the app's health URL and answer: {app}'s healthcheck ({' '.join(services[app]['healthcheck'][1:]) or 'none'}) "
                           "names no URL; the Compose healthchecks are the health until webstack_health_url is set")


def guess(services, config):
    """The release role's variables as far as the project tells them, and the sentences of what it does not."""
    missing = []
    by_kind = {}
    for name, svc in services.items():
        by_kind.setdefault(svc["kind"], []).append(name)
    db = _first(by_kind.get("postgres", []))
    redis = _first(by_kind.get("redis", []))
    proxy = _first(sorted(by_kind.get("proxy", []), key=lambda n: (not services[n]["ports"], n)))
    # The app: a service that depends on the database, else the one with a healthcheck that others depend on.
    ranked = sorted(by_kind.get("app", []), key=lambda n: (
        db not in services[n]["depends_on"], not services[n]["healthcheck"],
        not any(n in s["depends_on"] for s in services.values()), n))
    app = _first(ranked)
    out = dict.fromkeys(("app_service", "app_image", "app_version", "deploy_services", "db_service", "db_name", "db_user",
                         "db_password_env", "redis_service", "redis_password_env", "proxy_service", "proxy_url", "health_url",
                         "alembic_config_file", "alembic_database_env", "alembic_database_url_env"))
    out.update(db_service=db, redis_service=redis, proxy_service=proxy, app_service=app)
    if len(ranked) > 1:
        missing.append(f"which service is the app: {app} was taken, of {', '.join(ranked)} (set webstack_app_service)")
    if app is None:
        missing.append("the app service: no service with a healthcheck or dependencies (set webstack_app_service and webstack_app_image)")
    else:
        _guess_app(services, app, out, missing)
    if db is None:
        missing.append("a PostgreSQL service: none found in the project (a database outside Compose is described by hand)")
    else:
        _guess_db(config, db, out, missing)
    if redis is None:
        missing.append("a Redis service: none found (warm and cache steps skip Redis)")
    else:
        out["redis_password_env"] = next((n for n in ("REDIS_PASSWORD", "REDIS_PASS") if n in services[redis]["env_names"]), None)
    _guess_url(services, out, missing)
    return out, missing


def find_alembic_ini(compose, container):
    rc, out, _err = compose.call([compose.docker, "exec", container, "find", "/", "-maxdepth", "5",
                                  "(", "-path", "/proc", "-o", "-path", "/sys", "-o", "-path", "/usr", ")", "-prune",
                                  "-o", "-name", "alembic.ini", "-type", "f", "-print"], "look for alembic.ini", check=False)
    found = sorted(line.strip() for line in (out or "").splitlines() if line.strip().endswith("/alembic.ini"))
    return found if rc in (0, 1) else []


def own_override(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return OWN_OVERRIDE_MARK in handle.read(2000).lower()
    except OSError:
        return False


def run(module, compose_factory):
    params = module.params
    probe = compose_factory(params["project"], "", [], [])
    running = [rollout.container_summary(c) for c in probe.project_containers(all_states=False)]
    inspected = probe.project_containers(all_states=True)
    if not inspected:
        raise rollout.RolloutError(f"no container of Compose project {params['project']} on this host")
    labels = ((inspected[0].get("Config") or {}).get("Labels") or {})
    working_dir = labels.get(LABEL_WORKING_DIR, "")
    files = [f for f in (labels.get(LABEL_CONFIG_FILES) or "").split(",") if f]
    own = [f for f in files if own_override(f)]
    files = [f for f in files if f not in own]
    env_files = [f for f in (labels.get(LABEL_ENV_FILE) or "").split(",") if f]
    compose = compose_factory(params["project"], working_dir, files, env_files)
    config = compose.config()
    image_checks = {}
    for svc in (config.get("services") or {}).values():
        ref = svc.get("image")
        if ref and ref not in image_checks:
            image_checks[ref] = ((compose.image(ref) or {}).get("Config") or {}).get("Healthcheck") or {}
    services = describe_services(config, running, image_checks)
    guessed, missing = guess(services, config)
    if own:
        missing.insert(0, "the project runs with opskit.webstack's own override already (" + ", ".join(own) + "): it was left out")
    app = guessed["app_service"]
    if params["find_alembic"] and app and services[app]["containers"]:
        found = find_alembic_ini(compose, services[app]["containers"][0])
        if len(found) == 1:
            guessed["alembic_config_file"] = found[0]
        else:
            missing.append("the Alembic configuration file (webstack_alembic_config_file): "
                           + (f"several in {app}'s container: {', '.join(found)}" if found else f"none found in {app}'s container"))
    elif app:
        missing.append("the Alembic configuration file (webstack_alembic_config_file): not looked for")
    missing.append("the warm paths and commands and the release cache's key patterns (webstack_warm_paths, webstack_warm_commands, "
                   "webstack_release_cache_patterns): a running project does not tell them")
    return {"changed": False, "project": params["project"], "working_dir": working_dir, "compose_files": files,
            "env_files": env_files, "services": services, "guess": guessed, "could_not_guess": missing}


def main():
    module = AnsibleModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "find_alembic": {"type": "bool", "default": True},
            "docker_cli": {"type": "path", "default": "docker"},
        },
        supports_check_mode=True,
    )
    docker = module.get_bin_path(module.params["docker_cli"], required=True)

    def factory(project, working_dir, files, env_files):
        return rollout.Compose(lambda argv, env: module.run_command(argv, environ_update=env), project, working_dir,
                               files=files, env_files=env_files, docker=docker)

    try:
        module.exit_json(**run(module, factory))
    except rollout.RolloutError as exc:
        module.fail_json(msg=f"Failed to read Compose project {module.params['project']}: {exc}")
    except (ValueError, KeyError) as exc:
        module.fail_json(msg=f"Failed to read Compose project {module.params['project']}: {json.dumps(str(exc))}")


if __name__ == "__main__":
    main()
