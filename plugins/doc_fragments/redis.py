# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The connection options of every redis_* module: redis_common_argument_spec() in
    # plugins/module_utils/_redis.py. Keep the two in step (ansible-test sanity compares them).
    DOCUMENTATION = r"""
requirements:
  - redis (redis-py) >= 3.5 on the host the module runs on
options:
  login_host:
    description: Host the server listens on.
    type: str
    default: 127.0.0.1
  login_port:
    description: Port the server listens on.
    type: int
    default: 6379
  login_user:
    description: ACL user to authenticate as; the default user when omitted.
    type: str
  login_password:
    description: Password of O(login_user) or C(requirepass). Never logged, never on a command line, never in a message.
    type: str
  db:
    description: Database number.
    type: int
    default: 0
  tls:
    description: Connect with TLS.
    type: bool
    default: false
  validate_certs:
    description: Verify the server's certificate (with O(tls=true)).
    type: bool
    default: true
  ca_certs:
    description: CA bundle to verify the server's certificate with.
    type: path
  client_cert_file:
    description: Client certificate (TLS client authentication).
    type: path
  client_key_file:
    description: Key of O(client_cert_file), when that file does not hold it.
    type: path
  connect_timeout:
    description: Seconds to wait for the connection (TCP and TLS handshake).
    type: float
    default: 10.0
  socket_timeout:
    description: Seconds to wait for a reply once connected.
    type: float
    default: 60.0
notes:
  - The module connects, authenticates and sends C(PING) before it does anything else with the server;
    a failure there reads C(Failed to connect to Redis at host:port:) and the reason, never the password.
"""

    # The SCAN options of the modules that walk a key pattern (redis_keys_info, redis_purge,
    # redis_snapshot): scan_argument_spec() in plugins/module_utils/_rediskeys.py. Each module
    # documents O(pattern) in its own words.
    SCAN = r"""
options:
  scan_count:
    description: C(COUNT) hint of each C(SCAN) step.
    type: int
    default: 1000
"""
