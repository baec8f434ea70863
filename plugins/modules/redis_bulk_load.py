#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: redis_bulk_load
extends_documentation_fragment:
  - opskit.webstack.attributes
  - opskit.webstack.redis
short_description: Load keys into Redis from a file, pipelined at the speed of redis-cli --pipe
version_added: 0.1.0
description:
  - Reads a file on the target (JSON lines, CSV or a snapshot made by M(opskit.webstack.redis_snapshot))
    and writes every key with C(SET key value PX ttl) (or C(RESTORE ... ABSTTL) for a snapshot).
  - The commands are encoded as RESP in buffers of about O(buffer_size) bytes and written on one
    connection while a second thread reads and checks every reply, so a failed key is reported with
    its own error (up to O(max_errors) of them) and never swallowed.
  - A CSV file is read a block of about O(buffer_size) bytes at a time; a block whose lines need no
    quoting and all have the same fields (C(key,value,ttl) with whole seconds, or C(key,value)) is
    encoded at once, without Python code run per key, any other block line by line. The commands
    sent are the same either way.
  - Why not M(community.general.redis) or redis-py's pipeline - the first sets one key per task; the
    second builds a Python object per command and reads the replies only after a whole batch was
    sent, which measured about 95k keys/s here against 435k keys/s for C(redis-cli --pipe). This
    module reaches the latter's rate (see C(make bench-warm)). redis-py still makes the connection
    (TLS, ACL user, AUTH, SELECT).
  - C(changed) is honest. With O(mode=missing) (C(SET ... NX)) only keys that were absent are
    written; with O(mode=replace) (C(SET ... GET)) every key is written and C(changed) counts only
    the keys whose value differed; O(mode=overwrite) writes every key and reports changed whenever
    one was written. A TTL refreshed on a key of the same value is not a change.
author:
  - opskit maintainers (@opskit)
options:
  src:
    description:
      - The file to load, on the target.
      - >-
        V(jsonl) - one object a line, C({"key": "k", "value": "v", "ttl": 300}); a value that is not a
        string is stored as compact JSON; C(ttl) in seconds, optional.
      - V(csv) - C(key,value[,ttl]) a row, RFC 4180 quoting for commas, quotes or newlines in values; a first
        row C(key,value,ttl) is a header and skipped.
      - V(snapshot) - a file written by M(opskit.webstack.redis_snapshot).
    type: path
    required: true
  format:
    description: Format of O(src); V(auto) decides by the file's extension, then by its first line.
    type: str
    choices: [auto, jsonl, csv, snapshot]
    default: auto
  mode:
    description:
      - V(missing) writes only the keys that do not exist (C(SET NX), C(RESTORE) without C(REPLACE)).
      - V(replace) writes every key and counts as changed only those whose value differed.
      - V(overwrite) writes every key (the fastest, always changed when a key was written).
    type: str
    choices: [missing, replace, overwrite]
    default: missing
  default_ttl:
    description: TTL in seconds of the records that carry none; V(0) means no expiry.
    type: float
    default: 0
  buffer_size:
    description: Bytes of commands written at a time (for a CSV file, bytes of the file read and encoded at a time).
    type: int
    default: 1048576
  max_errors:
    description: How many failed keys are returned with their error.
    type: int
    default: 20
  fail_on_error:
    description: Fail when a record could not be parsed or a key was refused by the server.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: Sends C(EXISTS) (or C(GET) for O(mode=replace)) for each key and reports what would be written.
  diff_mode:
    support: none
notes:
  - Over TLS the replies are read after each buffer instead of by a second thread (an SSL socket
    must not be used by two threads at once), which is slower.
  - Keys are written as they are read; a failure half-way leaves the keys written so far.
seealso:
  - module: opskit.webstack.redis_snapshot
  - module: opskit.webstack.redis_purge
  - module: opskit.webstack.redis_keys_info
  - module: community.general.redis
  - name: Redis mass insertion
    description: The RESP pipelining that C(redis-cli --pipe) does, which this module follows.
    link: https://redis.io/docs/latest/develop/use/patterns/bulk-loading/
"""

EXAMPLES = r"""
- name: Load the cache's keys that are missing from a CSV file
  opskit.webstack.redis_bulk_load:
    login_port: 16379
    login_password: "{{ redis_password }}"
    src: /srv/warm/keys.csv
    mode: missing

- name: Put a snapshot back, replacing the keys it holds
  opskit.webstack.redis_bulk_load:
    login_password: "{{ redis_password }}"
    src: /srv/warm/release-42.snapshot
    format: snapshot
    mode: overwrite
"""

RETURN = r"""
format:
  description: The format the file was read as.
  returned: always
  type: str
  sample: csv
records:
  description: Records in the file (bad ones and expired snapshot records included).
  returned: always
  type: int
  sample: 1000
loaded:
  description: Keys written (in check mode, that would be written).
  returned: always
  type: int
  sample: 1000
written:
  description: Keys written whose value differed or that were absent; C(changed) is true when above 0.
  returned: always
  type: int
  sample: 998
same:
  description: Keys written with the value they had (O(mode=replace)).
  returned: always
  type: int
  sample: 2
unchanged:
  description: Keys left as they were because they exist (O(mode=missing)).
  returned: always
  type: int
  sample: 0
expired:
  description: Snapshot records whose expiry had passed, not restored.
  returned: always
  type: int
  sample: 0
failures:
  description: Records that could not be parsed plus keys the server refused.
  returned: always
  type: int
  sample: 0
errors:
  description: The first O(max_errors) failures, each with its line (parse errors) or key and the error.
  returned: always
  type: list
  elements: dict
  sample: [{"line": 12, "key": null, "error": "a CSV row needs 2 or 3 fields (key,value[,ttl]), found 4"}]
seconds:
  description: Time from the first record read to the last reply checked.
  returned: always
  type: float
  sample: 2.41
keys_per_second:
  description: Records handled per second.
  returned: always
  type: float
  sample: 415000.0
"""

import os
import traceback

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.opskit.webstack.plugins.module_utils._redis import (
    RedisError,
    connect_raw,
    redis_module,
)
from ansible_collections.opskit.webstack.plugins.module_utils._redis_bulk import (
    FILE_FORMATS,
    LOAD_MODES,
    RecordError,
    load_file,
    sniff_format,
)
from ansible_collections.opskit.webstack.plugins.module_utils._redis_resp import ProtocolError


def main():
    module = redis_module(
        src=dict(type="path", required=True),
        format=dict(type="str", default="auto", choices=list(FILE_FORMATS)),
        mode=dict(type="str", default="missing", choices=list(LOAD_MODES)),
        default_ttl=dict(type="float", default=0),
        buffer_size=dict(type="int", default=1048576),
        max_errors=dict(type="int", default=20),
        fail_on_error=dict(type="bool", default=True),
    )
    params = module.params
    if params["buffer_size"] < 4096:
        module.fail_json(msg="Failed to load keys: buffer_size must be at least 4096 bytes")
    if not os.path.isfile(params["src"]):
        module.fail_json(msg="Failed to load keys: {} is not a file on the target".format(params["src"]))
    conn = connect_raw(module)
    try:
        with open(params["src"], "rb") as handle:
            fmt = params["format"] if params["format"] != "auto" else sniff_format(params["src"], handle)
            result = load_file(
                conn._sock, handle, fmt, mode=params["mode"], default_ttl=params["default_ttl"],
                check_mode=module.check_mode, threaded=not params["tls"],
                buffer_bytes=params["buffer_size"], max_errors=params["max_errors"],
            )
    except (RecordError, ProtocolError, RedisError, OSError, UnicodeDecodeError) as exc:
        module.fail_json(msg="Failed to load keys from {}: {}".format(params["src"], to_native(exc)), exception=traceback.format_exc())
    finally:
        conn.disconnect()
    result.update(format=fmt, changed=result["written"] > 0)
    if result["failures"] and params["fail_on_error"]:
        first = "; ".join("{}: {}".format(e["key"] if e["line"] is None else "line {}".format(e["line"]), e["error"]) for e in result["errors"][:5])
        result["msg"] = "Failed to load {} of {} records from {}; first errors: {}".format(result["failures"], result["records"], params["src"], first)
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
