#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: redis_keys_info
short_description: Count the keys of a pattern with SCAN, with a sample and their TTLs
version_added: 0.1.0
description:
  - Walks the keyspace with C(SCAN MATCH) (never C(KEYS)) and counts the keys of O(pattern), up to
    O(limit); returns a sample of them and, when asked, their remaining TTLs.
  - Used by the C(opskit.webstack.cache_warm) role to skip an application's warm command when its keys
    are there already, and by tests to check what was loaded.
author:
  - opskit maintainers (@opskit)
requirements:
  - redis (redis-py) >= 3.5 on the host the module runs on
extends_documentation_fragment:
  - opskit.webstack.redis
  - opskit.webstack.redis.keyspace
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
  scan_count:
    description: C(COUNT) hint of each C(SCAN) step.
    type: int
    default: 1000
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads only.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: N/A
    details: Reads only.
seealso:
  - module: opskit.webstack.redis_purge
  - module: community.general.redis_info
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

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.opskit.webstack.plugins.module_utils._redis_bulk import (
    HAS_REDIS,
    REDIS_IMPORT_ERROR,
    client,
    connection_argument_spec,
)
from ansible_collections.opskit.webstack.plugins.module_utils._rediskeys import count_keys

try:
    from redis.exceptions import RedisError
except ImportError:  # reported by missing_required_lib in main()
    RedisError = OSError


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        pattern=dict(type="str", required=True),
        limit=dict(type="int", default=0),
        sample=dict(type="int", default=5),
        with_ttl=dict(type="bool", default=False),
        scan_count=dict(type="int", default=1000),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not HAS_REDIS:
        module.fail_json(msg=missing_required_lib("redis"), exception=to_native(REDIS_IMPORT_ERROR))
    params = module.params
    if params["limit"] < 0 or params["sample"] < 0 or params["scan_count"] < 1:
        module.fail_json(msg="Failed to count keys: limit and sample must not be negative, scan_count must be positive")
    try:
        result = count_keys(client(params), params["pattern"], params["scan_count"], params["limit"],
                            params["sample"], params["with_ttl"])
    except (RedisError, OSError) as exc:
        module.fail_json(msg="Failed to count the keys of {}: {}".format(params["pattern"], to_native(exc)), exception=traceback.format_exc())
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
