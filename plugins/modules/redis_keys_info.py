#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: redis_keys_info
extends_documentation_fragment:
  - opskit.webstack.attributes
  - opskit.webstack.redis
  - opskit.webstack.redis.scan
short_description: Count the keys of a pattern with SCAN, with a sample and their TTLs
version_added: 0.1.0
description:
  - Walks the keyspace with C(SCAN MATCH) (never C(KEYS)) and counts the keys of O(pattern), up to
    O(limit); returns a sample of them and, when asked, their remaining TTLs.
  - Used by the C(opskit.webstack.cache_warm) role to skip an application's warm command when its keys
    are there already, and by tests to check what was loaded.
author:
  - opskit maintainers (@opskit)
options:
  pattern:
    description: Glob-style pattern (C(SCAN MATCH) syntax).
    type: str
    required: true
  limit:
    description: Stop counting after this many keys; V(0) counts them all.
    type: int
    default: 0
  sample:
    description: How many of the keys found are returned.
    type: int
    default: 5
  with_ttl:
    description: Return the remaining TTL (ms) of the sampled keys.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Reads only.
  diff_mode:
    support: N/A
    details: Reads only.
seealso:
  - module: opskit.webstack.redis_purge
  - module: community.general.redis_info
  - name: SCAN
    description: What SCAN guarantees while the keyspace changes (a key may be counted twice; the module counts it once).
    link: https://redis.io/docs/latest/commands/scan/
"""

EXAMPLES = r"""
- name: Find out whether the item cache is warm
  opskit.webstack.redis_keys_info:
    login_password: "{{ redis_password }}"
    pattern: "webstack:item:*"
    limit: 1
  register: items
"""

RETURN = r"""
count:
  description: Keys found (at most O(limit) when it is set).
  returned: always
  type: int
  sample: 120
sample:
  description: Some of the keys found.
  returned: always
  type: list
  elements: str
  sample: ["webstack:item:1"]
sample_ttl_ms:
  description: Remaining TTL in ms of each sampled key (-1 no expiry, -2 gone).
  returned: when O(with_ttl=true) and a key was found
  type: dict
  sample: {"webstack:item:1": 299812}
"""

import traceback

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.opskit.webstack.plugins.module_utils._redis import RedisError, connect, redis_module
from ansible_collections.opskit.webstack.plugins.module_utils._rediskeys import count_keys, scan_argument_spec


def main():
    module = redis_module(
        scan_argument_spec(),
        limit=dict(type="int", default=0),
        sample=dict(type="int", default=5),
        with_ttl=dict(type="bool", default=False),
    )
    params = module.params
    if params["limit"] < 0 or params["sample"] < 0 or params["scan_count"] < 1:
        module.fail_json(msg="Failed to count keys: limit and sample must not be negative, scan_count must be positive")
    try:
        result = count_keys(connect(module), params["pattern"], params["scan_count"], params["limit"],
                            params["sample"], params["with_ttl"])
    except (RedisError, OSError) as exc:
        module.fail_json(msg="Failed to count the keys of {}: {}".format(params["pattern"], to_native(exc)), exception=traceback.format_exc())
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
