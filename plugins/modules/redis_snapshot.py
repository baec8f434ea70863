#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: redis_snapshot
extends_documentation_fragment:
  - opskit.webstack.attributes
  - opskit.webstack.redis
  - opskit.webstack.redis.scan
short_description: Save the keys of a pattern with their TTLs to a file (SCAN and DUMP)
version_added: 0.1.0
description:
  - Finds the keys matching O(pattern) with C(SCAN) (never C(KEYS)), reads each with C(DUMP) and its
    absolute expiry with C(PEXPIRETIME) (C(PTTL) on Redis before 7.0), and writes them to O(dest) on
    the target, atomically and with mode C(0600).
  - The records are sorted by key and carry absolute expiries, so a second run on unchanged keys
    writes the same bytes; the file is then left alone and the task reports no change.
  - Restore the file with M(opskit.webstack.redis_bulk_load) (O(opskit.webstack.redis_bulk_load#module:format=snapshot)),
    which sends C(RESTORE ... ABSTTL) and skips the keys whose expiry has passed.
  - The snapshot is not a point-in-time image; keys written during the C(SCAN) may or may not be in it.
author:
  - opskit maintainers (@opskit)
options:
  pattern:
    description: Glob-style pattern of the keys to save (C(SCAN MATCH) syntax).
    type: str
    required: true
  dest:
    description: File to write on the target; its directory must exist.
    type: path
    required: true
  batch_size:
    description: Keys read with one pipelined round of C(DUMP).
    type: int
    default: 1000
attributes:
  check_mode:
    support: full
    details: Reads the keys and reports whether the file would change; writes nothing.
  diff_mode:
    support: none
notes:
  - C(DUMP) payloads are tied to the RDB version; restore into the same or a newer Redis.
seealso:
  - module: opskit.webstack.redis_bulk_load
  - module: opskit.webstack.redis_purge
"""

EXAMPLES = r"""
- name: Save the release's cache keys before a deploy
  opskit.webstack.redis_snapshot:
    login_password: "{{ redis_password }}"
    pattern: "webstack:item:*"
    dest: /srv/releases/42/cache-items.snapshot
"""

RETURN = r"""
dest:
  description: The file written.
  returned: always
  type: str
  sample: /srv/releases/42/cache-items.snapshot
keys:
  description: Keys saved.
  returned: always
  type: int
  sample: 1200
seconds:
  description: Time from the first SCAN to the file written (or compared, when unchanged).
  returned: always
  type: float
  sample: 0.42
sha256:
  description: SHA-256 of the file's content.
  returned: always
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
"""

import os
import time
import traceback

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.opskit.webstack.plugins.module_utils._redis import RedisError, connect, redis_module
from ansible_collections.opskit.webstack.plugins.module_utils._rediskeys import scan_argument_spec, snapshot_lines, write_snapshot


def main():
    module = redis_module(
        scan_argument_spec(),
        dest=dict(type="path", required=True),
        batch_size=dict(type="int", default=1000),
    )
    params = module.params
    if not os.path.isdir(os.path.dirname(os.path.abspath(params["dest"]))):
        module.fail_json(msg="Failed to save a snapshot: the directory of {} does not exist".format(params["dest"]))
    if params["scan_count"] < 1 or params["batch_size"] < 1:
        module.fail_json(msg="Failed to save a snapshot: scan_count and batch_size must be positive")
    started = time.monotonic()
    try:
        lines, keys = snapshot_lines(connect(module), params["pattern"], params["scan_count"], params["batch_size"])
        changed, sha = write_snapshot(lines, params["dest"], check_mode=module.check_mode)
    except (RedisError, OSError) as exc:
        module.fail_json(msg="Failed to save the keys of {} to {}: {}".format(params["pattern"], params["dest"], to_native(exc)),
                         exception=traceback.format_exc())
    module.exit_json(changed=changed, keys=keys, dest=params["dest"], sha256=sha, seconds=round(time.monotonic() - started, 3))


if __name__ == "__main__":
    main()
