#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: redis_purge
extends_documentation_fragment:
  - opskit.webstack.attributes
  - opskit.webstack.redis
  - opskit.webstack.redis.scan
short_description: Remove the keys of a pattern with SCAN and UNLINK in batches, never KEYS
version_added: 0.1.0
description:
  - Walks the keyspace with C(SCAN MATCH pattern COUNT scan_count) and removes the keys found with
    C(UNLINK) (memory freed in the background) in batches of O(batch_size), so no client waits behind
    one long command, as C(redis-cli KEYS ... | xargs DEL) makes them.
  - A pattern that matches every key (made only of C(*) and C(?)) is refused unless
    O(confirm_all=true).
  - Keys written while the purge runs may survive it; keys removed by someone else meanwhile are
    not counted.
author:
  - opskit maintainers (@opskit)
options:
  pattern:
    description: Glob-style pattern of the keys to remove (C(SCAN MATCH) syntax).
    type: str
    required: true
  confirm_all:
    description: Allow a pattern that matches every key of the database.
    type: bool
    default: false
  batch_size:
    description: Keys removed with one C(UNLINK).
    type: int
    default: 500
attributes:
  check_mode:
    support: full
    details: Counts the matching keys and removes nothing.
  diff_mode:
    support: none
seealso:
  - module: opskit.webstack.redis_snapshot
  - module: opskit.webstack.redis_keys_info
  - name: SCAN
    description: The guarantees of SCAN while the keyspace changes.
    link: https://redis.io/docs/latest/commands/scan/
"""

EXAMPLES = r"""
- name: Remove the release's feature keys
  opskit.webstack.redis_purge:
    login_password: "{{ redis_password }}"
    pattern: "webstack:feature:*"

- name: Empty the cache database, on purpose
  opskit.webstack.redis_purge:
    login_password: "{{ redis_password }}"
    pattern: "*"
    confirm_all: true
"""

RETURN = r"""
matched:
  description: Keys found by SCAN (in check mode, the keys that would be removed).
  returned: always
  type: int
  sample: 200000
purged:
  description: Keys removed, as counted by UNLINK.
  returned: always
  type: int
  sample: 200000
batches:
  description: UNLINK commands sent.
  returned: always
  type: int
  sample: 400
longest_batch_ms:
  description: The slowest UNLINK round trip seen by the module, in milliseconds.
  returned: always
  type: float
  sample: 1.8
seconds:
  description: Time from the first SCAN to the last UNLINK's reply.
  returned: always
  type: float
  sample: 1.7
"""

import traceback

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.opskit.webstack.plugins.module_utils._redis import RedisError, connect, redis_module
from ansible_collections.opskit.webstack.plugins.module_utils._rediskeys import matches_everything, purge, scan_argument_spec


def main():
    module = redis_module(scan_argument_spec(), confirm_all=dict(type="bool", default=False), batch_size=dict(type="int", default=500))
    params = module.params
    if params["pattern"] == "":
        module.fail_json(msg="Failed to purge keys: the pattern is empty")
    if matches_everything(params["pattern"]) and not params["confirm_all"]:
        module.fail_json(msg="Refusing to purge {!r}: it matches every key of database {}; set confirm_all=true to empty it".format(
            params["pattern"], params["db"]))
    if params["batch_size"] < 1 or params["scan_count"] < 1:
        module.fail_json(msg="Failed to purge keys: batch_size and scan_count must be positive")
    try:
        result = purge(connect(module), params["pattern"], params["batch_size"], params["scan_count"], module.check_mode)
    except (RedisError, OSError) as exc:
        module.fail_json(msg="Failed to purge the keys of {}: {}".format(params["pattern"], to_native(exc)), exception=traceback.format_exc())
    module.exit_json(changed=(result["matched"] if module.check_mode else result["purged"]) > 0, **result)


if __name__ == "__main__":
    main()
