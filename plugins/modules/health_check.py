#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: health_check
extends_documentation_fragment:
  - opskit.webstack.attributes
short_description: Check HTTP endpoints, TCP ports, PostgreSQL and Redis, concurrently, with retries and a deadline
version_added: 0.1.0
description:
  - Runs several checks in one call, side by side, each retried with a delay until it passes, its
    retries run out or the overall O(deadline) passes.
  - C(http) checks the status code, optionally a JSON path and value (for example
    C(services.database == "healthy")), a body pattern, with request headers, TLS verification and a
    timeout. C(tcp) opens a connection. C(postgres) connects and runs C(SELECT 1). C(redis)
    authenticates and sends C(PING).
  - Returns every check's result with its attempts, latency and last error, and fails when any check
    fails, with a message that names each failed check and why, in words an operator can act on
    (connection refused, timed out, TLS error, status 500, body mismatch with the part that did not
    match, authentication failed).
  - C(http) and C(tcp) use the Python standard library only; C(postgres) needs psycopg (3) or
    psycopg2 and C(redis) needs redis-py, on the host that runs the module.
  - Only reads; runs in check mode too.
author:
  - opskit maintainers (@opskit)
requirements:
  - psycopg or psycopg2 (only for C(postgres) checks)
  - redis (only for C(redis) checks)
options:
  checks:
    description: The checks to run.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: A name for messages and results; C(<type> <target>) when unset.
        type: str
      type:
        description: What kind of check.
        type: str
        required: true
        choices: [http, tcp, postgres, redis]
      url:
        description: The URL of an C(http) check. Credentials in it are removed from the results.
        type: str
      method:
        description: HTTP method.
        type: str
        default: GET
      headers:
        description: HTTP request headers (never logged, they may carry credentials).
        type: dict
      body:
        description: HTTP request body.
        type: str
      status_codes:
        description: The HTTP status codes that pass.
        type: list
        elements: int
        default: [200]
      json_path:
        description:
          - Dotted path into the JSON body (C(services.database), C(items.0.name)); the check fails
            when the body is not JSON or the path does not exist.
        type: str
      json_value:
        description:
          - The value at O(checks[].json_path) that passes. A string also matches the JSON text of a
            number or boolean (C("200") matches C(200)).
        type: raw
      body_pattern:
        description: A regular expression the body must contain (Python C(re.search)).
        type: str
      validate_certs:
        description: Verify TLS certificates (C(http) over HTTPS, C(redis) with O(checks[].tls)).
        type: bool
        default: true
      ca_path:
        description: CA bundle to verify the server's certificate with.
        type: path
      follow_redirects:
        description: Follow HTTP redirects.
        type: bool
        default: true
      use_proxy:
        description: Use the proxy from the environment (C(http_proxy) and friends) for C(http) checks.
        type: bool
        default: true
      host:
        description: Host of a C(tcp), C(postgres) or C(redis) check.
        type: str
        default: 127.0.0.1
      port:
        description: Port of a C(tcp), C(postgres) (default 5432) or C(redis) (default 6379) check.
        type: int
      user:
        description: User of a C(postgres) check (default C(postgres)), or ACL user of a C(redis) check.
        type: str
      password:
        description: Password of a C(postgres) or C(redis) check. Never logged.
        type: str
      database:
        description: Database of a C(postgres) check.
        type: str
        default: postgres
      sslmode:
        description: libpq C(sslmode) of a C(postgres) check.
        type: str
        choices: [disable, allow, prefer, require, verify-ca, verify-full]
      query:
        description: The query of a C(postgres) check.
        type: str
        default: SELECT 1
      db:
        description: Database number of a C(redis) check.
        type: int
        default: 0
      tls:
        description: Connect to Redis over TLS.
        type: bool
        default: false
      timeout:
        description: Seconds per attempt of this check; O(timeout) when unset.
        type: float
      retries:
        description: Retries of this check; O(retries) when unset.
        type: int
      delay:
        description: Seconds between attempts of this check; O(delay) when unset.
        type: float
  retries:
    description: How many times a failed check is tried again (so C(1 + retries) attempts at most).
    type: int
    default: 0
  delay:
    description: Seconds between two attempts of a check.
    type: float
    default: 1
  timeout:
    description: Seconds per attempt (connect and answer), cut short by the deadline.
    type: float
    default: 5
  deadline:
    description: Seconds for the whole call; no attempt starts after it, a running one is cut to it.
    type: float
    default: 60
  concurrency:
    description: How many checks run at once.
    type: int
    default: 8
attributes:
  check_mode:
    support: full
    details: The module only reads, so it runs in check mode as well.
  diff_mode:
    support: none
notes:
  - The module reports C(changed=false) always.
seealso:
  - module: ansible.builtin.uri
  - module: ansible.builtin.wait_for
"""

EXAMPLES = r"""
- name: Check the stack through the proxy and each dependency
  opskit.webstack.health_check:
    retries: 10
    delay: 2
    deadline: 60
    checks:
      - name: proxy health
        type: http
        url: http://127.0.0.1:8080/health
        json_path: services.database
        json_value: healthy
      - name: front page
        type: http
        url: https://www.example.com/
        body_pattern: "<title>Shop</title>"
        headers:
          Accept: text/html
      - name: database
        type: postgres
        host: 127.0.0.1
        port: 15432
        user: webstack
        database: webstack
        password: "{{ vault_postgres_password }}"
      - name: cache
        type: redis
        port: 16379
        password: "{{ vault_redis_password }}"
      - name: proxy port
        type: tcp
        port: 8080
  register: __health

- name: Show the slowest check
  ansible.builtin.debug:
    msg: "{{ __health.checks | sort(attribute='latency_ms') | last }}"
"""

RETURN = r"""
checks:
  description:
    - One result per check, in the order given. Each has C(name), C(type), C(target) (no
      credentials), C(ok), C(attempts), C(latency_ms) (of the last attempt), C(elapsed_ms) (all
      attempts), C(error) and C(error_kind) (of the last failed attempt, null when it passed; kinds
      C(refused), C(timeout), C(tls), C(dns), C(reset), C(unreachable), C(connection), C(protocol),
      C(status), C(body_mismatch), C(json_mismatch), C(auth), C(database), C(deadline), C(config)),
      and per kind C(status), C(json_value), C(result), C(server_version), C(redis_version).
  returned: always
  type: list
  elements: dict
  sample:
    - name: proxy health
      type: http
      target: http://127.0.0.1:8080/health
      ok: true
      attempts: 2
      latency_ms: 4.1
      elapsed_ms: 2011.3
      error: null
      error_kind: null
      status: 200
      json_value: healthy
failed_checks:
  description: The names of the checks that failed.
  returned: always
  type: list
  elements: str
  sample: [database]
elapsed_ms:
  description: Milliseconds the whole call took.
  returned: always
  type: float
  sample: 2015.7
"""

import re
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.opskit.webstack.plugins.module_utils import _health as health

CHECK_SPEC = dict(
    name=dict(type="str"),
    type=dict(type="str", required=True, choices=["http", "tcp", "postgres", "redis"]),
    url=dict(type="str"),
    method=dict(type="str", default="GET"),
    headers=dict(type="dict", no_log=True),
    body=dict(type="str"),
    status_codes=dict(type="list", elements="int", default=[200]),
    json_path=dict(type="str"),
    json_value=dict(type="raw"),
    body_pattern=dict(type="str"),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    follow_redirects=dict(type="bool", default=True),
    use_proxy=dict(type="bool", default=True),
    host=dict(type="str", default="127.0.0.1"),
    port=dict(type="int"),
    user=dict(type="str"),
    password=dict(type="str", no_log=True),
    database=dict(type="str", default="postgres"),
    sslmode=dict(type="str", choices=["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]),
    query=dict(type="str", default="SELECT 1"),
    db=dict(type="int", default=0),
    tls=dict(type="bool", default=False),
    timeout=dict(type="float"),
    retries=dict(type="int"),
    delay=dict(type="float"),
)


def validate(checks):
    """What the argument spec cannot say: which options each type needs, and sane numbers."""
    problems = []
    for index, check in enumerate(checks, 1):
        label = check.get("name") or f"check {index} ({check['type']})"
        if check["type"] == "http" and not check.get("url"):
            problems.append(f"{label}: an http check needs url")
        if check["type"] == "http" and check.get("url") and not check["url"].startswith(("http://", "https://")):
            problems.append(f"{label}: url must start with http:// or https://")
        if check["type"] == "tcp" and not check.get("port"):
            problems.append(f"{label}: a tcp check needs port")
        if check.get("port") is not None and not 0 < check["port"] < 65536:
            problems.append("{}: port {} is out of range".format(label, check["port"]))
        if check.get("json_value") is not None and not check.get("json_path"):
            problems.append(f"{label}: json_value needs json_path")
        if check.get("body_pattern"):
            try:
                re.compile(check["body_pattern"])
            except re.error as exc:
                problems.append(f"{label}: body_pattern is not a regular expression: {exc}")
        for key in ("timeout", "delay", "retries"):
            if check.get(key) is not None and check[key] < 0:
                problems.append(f"{label}: {key} must not be negative")
    names = [c.get("name") for c in checks if c.get("name")]
    duplicates = sorted(set(n for n in names if names.count(n) > 1))
    if duplicates:
        problems.append("check names must be unique: {}".format(", ".join(duplicates)))
    return problems


def main():
    module = AnsibleModule(
        argument_spec=dict(
            checks=dict(type="list", elements="dict", required=True, options=CHECK_SPEC),
            retries=dict(type="int", default=0),
            delay=dict(type="float", default=1),
            timeout=dict(type="float", default=5),
            deadline=dict(type="float", default=60),
            concurrency=dict(type="int", default=8),
        ),
        supports_check_mode=True,
    )
    params = module.params
    problems = validate(params["checks"])
    for key in ("retries", "delay", "deadline"):
        if params[key] < 0:
            problems.append(f"{key} must not be negative")
    for key in ("timeout", "concurrency"):
        if params[key] <= 0:
            problems.append(f"{key} must be positive")
    if not params["checks"]:
        problems.append("checks is empty: give at least one check")
    if problems:
        module.fail_json(msg="Invalid health checks: " + "; ".join(problems))
    start = time.monotonic()
    try:
        results, message = health.run_checks(params["checks"], retries=params["retries"], delay=params["delay"],
                                             deadline=params["deadline"], timeout=params["timeout"],
                                             concurrency=params["concurrency"])
    except health.MissingLibrary as exc:
        module.fail_json(msg=missing_required_lib(exc.library), exception=exc.trace)
    outcome = dict(changed=False, checks=results, failed_checks=[r["name"] for r in results if not r["ok"]],
                   elapsed_ms=round((time.monotonic() - start) * 1000, 1))
    if message:
        module.fail_json(msg=message, **outcome)
    module.exit_json(**outcome)


if __name__ == "__main__":
    main()
