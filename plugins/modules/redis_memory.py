#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: redis_memory
extends_documentation_fragment:
  - opskit.webstack.attributes
  - opskit.webstack.redis
short_description: Apply the memory settings of a Redis server live and persist them
version_added: 0.1.0
description:
  - Sets C(maxmemory), C(maxmemory-policy) and any other memory parameter (lazyfree, active defrag,
    samples, eviction tenacity, ...) with one atomic C(CONFIG SET), then persists them with
    C(CONFIG REWRITE) when the server runs from a config file.
  - Compares normalised values, following Redis's own unit rules (case-insensitive; V(k), V(m), V(g)
    are powers of 1000, V(kb), V(mb), V(gb) powers of 1024; V(b) or no unit is bytes), so V(2gb)
    equals V(2147483648) and booleans equal V(yes)/V(no).
  - Resolves a C(maxmemory) given as a percentage against the memory the Redis process can really
    use, the host's RAM or the limit of the process's cgroup (v1 C(memory.limit_in_bytes) or v2
    C(memory.max), the tightest on the cgroup and its ancestors), and refuses a C(maxmemory) above
    that limit unless O(force=true). This needs the module to run where the server's process is
    visible (the same host, or inside the server's container); otherwise give O(memory_limit).
  - Fails, without reporting success, when persistence is asked for and the server was started
    without a config file (C(INFO server) shows an empty C(config_file)). The live values are left
    untouched in that case.
  - Why a module and not M(community.general.redis) with C(command=config) - that one sets one
    parameter per task, converts units with Ansible's C(human_to_bytes) (C(1k) = 1024, where Redis
    reads C(1000)), has no C(CONFIG REWRITE), no check of the config file, no process memory limit
    and no diff. The memory summary is read with M(community.general.redis_info) by the
    C(opskit.webstack.redis_tuning) role.
author:
  - opskit maintainers (@opskit)
options:
  maxmemory:
    description:
      - The memory limit, as bytes, a Redis size (V(512mb), V(2gb), V(1g)) or a percentage of the memory
        the Redis process can use (V(75%)). V(0) means no limit. Omit to leave it as it is.
    type: str
  maxmemory_policy:
    description:
      - The eviction policy. Omit to leave it as it is.
      - Any policy the server accepts, read from the server itself (Redis 7, Redis 8 and Valkey 8 accept
        V(volatile-lru), V(allkeys-lru), V(volatile-lfu), V(allkeys-lfu), V(volatile-random),
        V(allkeys-random), V(volatile-ttl) and V(noeviction); a newer version may add more). A policy
        the server does not accept fails with the server's list, before anything is changed.
    type: str
  config:
    description:
      - Further parameters, by their redis.conf name (V(maxmemory-samples), V(lazyfree-lazy-eviction),
        V(activedefrag), ...; C(_) is read as C(-)). Booleans become V(yes)/V(no), sizes may carry units.
        A value of V(null) leaves the parameter alone. A name the server does not know is an error.
    type: dict
    default: {}
  memory_limit:
    description:
      - The memory the Redis process can use, as bytes or a Redis size, instead of the detected one.
        Needed for a percentage O(maxmemory) and for the guard when the server runs elsewhere.
    type: str
  force:
    description: Apply a O(maxmemory) above the memory the process can use (with a warning).
    type: bool
    default: false
  used_as_cache:
    description: The instance is a cache; a V(noeviction) policy then gets a warning.
    type: bool
    default: true
  persist:
    description:
      - V(rewrite) runs C(CONFIG REWRITE) when a value changed or the config file does not hold the
        values asked for; it fails when the server has no config file.
      - V(none) changes the live values only (for a config file managed by other means, such as the
        role's include file).
    type: str
    choices: [rewrite, none]
    default: rewrite
attributes:
  check_mode:
    support: full
    details: Reads the live values and the config file, reports what would change and sets nothing.
  diff_mode:
    support: full
notes:
  - C(CONFIG REWRITE) writes the whole live configuration into the file, so a parameter changed live
    by someone else earlier is persisted too.
  - The secrets (O(login_password)) are never logged and never on a command line.
seealso:
  - module: community.general.redis
  - module: community.general.redis_info
  - name: Redis configuration file, units and memory section
    description: The example redis.conf that documents the units and every memory parameter.
    link: https://raw.githubusercontent.com/redis/redis/7.0/redis.conf
"""

EXAMPLES = r"""
- name: Give the cache 512 MiB with LRU eviction, live and in redis.conf
  opskit.webstack.redis_memory:
    login_password: "{{ redis_password }}"
    maxmemory: 512mb
    maxmemory_policy: allkeys-lru
    config:
      maxmemory-samples: 10
      lazyfree-lazy-eviction: true

- name: Use 75% of what the container may use
  opskit.webstack.redis_memory:
    maxmemory: 75%
    maxmemory_policy: allkeys-lfu

- name: Set values live only (the config file is managed elsewhere)
  opskit.webstack.redis_memory:
    maxmemory: 2gb
    persist: none
"""

RETURN = r"""
before:
  description: The live values of the parameters asked for, before the change (CONFIG GET form).
  returned: always
  type: dict
  sample: {"maxmemory": "0", "maxmemory-policy": "noeviction"}
after:
  description: The live values after the change (in check mode, what they would be).
  returned: always
  type: dict
  sample: {"maxmemory": "536870912", "maxmemory-policy": "allkeys-lru"}
changes:
  description: The parameters set live, with their new values.
  returned: always
  type: dict
  sample: {"maxmemory": "536870912"}
maxmemory:
  description: The resolved maxmemory in bytes, when asked for.
  returned: when O(maxmemory) is given
  type: int
  sample: 536870912
memory_limit:
  description: The memory the Redis process can use and where that figure comes from.
  returned: always
  type: dict
  contains:
    bytes:
      description: The limit in bytes; null when unknown.
      type: int
      sample: 268435456
    source:
      description: Where the limit comes from (a cgroup file, the host's MemTotal, the O(memory_limit) option).
      type: str
      sample: cgroup v1 /sys/fs/cgroup/memory/memory.limit_in_bytes
    host_bytes:
      description: MemTotal of the host, when visible.
      type: int
    cgroup_bytes:
      description: The cgroup limit, when there is one.
      type: int
config_file:
  description: The server's config file, empty when it was started without one.
  returned: always
  type: str
  sample: /etc/redis/redis.conf
out_of_sync:
  description: Parameters whose value in the config file differs from the one asked for (before persisting).
  returned: when the config file is readable
  type: list
  elements: str
  sample: ["maxmemory"]
rewritten:
  description: Whether CONFIG REWRITE ran (or would run, in check mode).
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.opskit.webstack.plugins.module_utils import _redis_memory as rm
from ansible_collections.opskit.webstack.plugins.module_utils._redis import (
    HAS_REDIS,
    REDIS_IMPORT_ERROR,
    RedisConnectError,
    connect,
    redis,
    redis_common_argument_spec,
    where,
)


def read_file(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


class RedisMemory:
    """Connect, plan, guard, set, persist: each step fails with what was and was not changed."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.where = where(module)
        self.defaults = rm.DEFAULTS  # the server's own, once read (desired)
        self.result = {"changed": False, "config_file": "", "rewritten": False, "memory_limit": {"bytes": None, "source": "not read yet"}}

    def fail(self, msg):
        self.module.fail_json(msg=msg, **self.result)

    def connect(self):
        try:
            return connect(self.params, decode_responses=True)
        except RedisConnectError as exc:
            self.fail(str(exc))
        return None

    def desired(self, client):
        """The values asked for, normalised, with the memory limit they were resolved against."""
        params = self.params
        try:
            config_file, pid = rm.server_info(client)
            self.result["config_file"] = config_file
            self.defaults = rm.defaults_for(client.info("server"))
            if params["memory_limit"]:
                limit = {"bytes": rm.parse_memory(params["memory_limit"]), "source": "the memory_limit option", "host_bytes": None, "cgroup_bytes": None}
            else:
                limit = rm.process_memory_limit(pid)
            self.result["memory_limit"] = limit
            policies = rm.POLICIES
            if params["maxmemory_policy"]:
                policies = rm.server_policies(client, redis.exceptions.ResponseError) or rm.POLICIES
            desired = rm.desired_config(params["maxmemory"], params["maxmemory_policy"], params["config"], limit["bytes"], policies)
        except rm.RedisMemoryError as exc:
            self.fail(f"Failed to plan the memory settings: {exc}. Nothing was changed.")
        except redis.exceptions.RedisError as exc:
            self.fail(f"Failed to read the server's information (INFO server): {exc}")
        if "maxmemory" in desired:
            self.result["maxmemory"] = int(desired["maxmemory"])
        return desired, limit

    def guard(self, desired, limit):
        if self.params["persist"] == "rewrite" and not self.result["config_file"]:
            self.fail(
                f"Cannot persist the memory settings: the server at {self.where} was started without a config file, so CONFIG REWRITE "
                "has nowhere to write and a restart would lose them. Start it from a config file, or set persist=none "
                "(the role: redis_tuning_persist: none) to change the live values only. Nothing was changed."
            )
        errors, warnings = rm.check_guards(desired, limit, self.params["force"], self.params["used_as_cache"])
        for warning in warnings:
            self.module.warn(warning)
        if errors:
            self.fail("Refusing the memory settings: {}. Nothing was changed.".format("; ".join(errors)))

    def plan(self, client, desired):
        try:
            current = rm.config_get(client, sorted(desired))
        except rm.RedisMemoryError as exc:
            self.fail(f"Failed to read the configuration: {exc}. Nothing was changed.")
        except redis.exceptions.RedisError as exc:
            self.fail(f"Failed to read the configuration (CONFIG GET): {exc}")
        before, after, changes = rm.plan(current, desired)
        self.result.update(before=before, after=after, changes=changes, changed=bool(changes))
        if self.module._diff:
            self.result["diff"] = {
                "before": "".join(f"{name} {value}\n" for name, value in sorted(before.items())),
                "after": "".join(f"{name} {value}\n" for name, value in sorted(after.items())),
                "before_header": f"{self.where} CONFIG GET",
                "after_header": f"{self.where} CONFIG SET",
            }
        return changes

    def file_state(self, desired, changes):
        """(text of the config file or None, whether CONFIG REWRITE is due)."""
        if self.params["persist"] != "rewrite":
            return None, False
        text = read_file(self.result["config_file"])
        if text is None:
            return None, True  # not readable from here: persist every time, changed only by the live values
        out_of_sync = rm.file_out_of_sync(desired, rm.parse_config(text), self.defaults)
        self.result["out_of_sync"] = out_of_sync
        self.result["changed"] = self.result["changed"] or bool(out_of_sync)
        return text, bool(changes) or bool(out_of_sync)

    def run(self):
        client = self.connect()
        desired, limit = self.desired(client)
        self.guard(desired, limit)
        changes = self.plan(client, desired)
        file_text, needs_rewrite = self.file_state(desired, changes)
        self.result["rewritten"] = needs_rewrite
        if self.module.check_mode:
            self.module.exit_json(**self.result)

        try:
            rm.config_set(client, changes)
        except redis.exceptions.RedisError as exc:
            self.fail("Failed to set {} (CONFIG SET): {}. Nothing was changed.".format(", ".join(sorted(changes)), exc))
        if needs_rewrite:
            try:
                client.config_rewrite()
            except redis.exceptions.RedisError as exc:
                live = ", ".join(f"{name}={value}" for name, value in sorted(changes.items())) or "none"
                self.fail(
                    f"Failed to persist the memory settings (CONFIG REWRITE of {self.result['config_file']}): {exc}. "
                    f"The live values ARE changed ({live}) but a restart would lose them."
                )
            if file_text is not None:
                self.result["changed"] = bool(changes) or read_file(self.result["config_file"]) != file_text
        self.module.exit_json(**self.result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            redis_common_argument_spec(),
            maxmemory=dict(type="str"),
            maxmemory_policy=dict(type="str"),
            config=dict(type="dict", default={}),
            memory_limit=dict(type="str"),
            force=dict(type="bool", default=False),
            used_as_cache=dict(type="bool", default=True),
            persist=dict(type="str", choices=["rewrite", "none"], default="rewrite"),
        ),
        supports_check_mode=True,
    )
    if not HAS_REDIS:
        module.fail_json(msg=missing_required_lib("redis"), exception=REDIS_IMPORT_ERROR)
    RedisMemory(module).run()


if __name__ == "__main__":
    main()
