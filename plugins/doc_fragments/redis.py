# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Connection options of every redis_* module (connection_argument_spec() in
    # plugins/module_utils/_redis_bulk.py, and redis_memory's own argument spec).
    DOCUMENTATION = r"""
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
    description: Password of O(login_user) or C(requirepass). Never logged, never on a command line.
    type: str
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
    description: Key of O(client_cert_file).
    type: path
"""

    # The database and connection timeout of the key modules (redis_bulk_load, redis_keys_info,
    # redis_purge, redis_snapshot): opskit.webstack.redis.keyspace.
    KEYSPACE = r"""
options:
  db:
    description: Database number.
    type: int
    default: 0
  connect_timeout:
    description: Seconds to wait for the connection.
    type: float
    default: 10.0
"""
