#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postgres_backup_info
short_description: List the PostgreSQL backups of one database and verify one against its manifest
version_added: 0.1.0
description:
  - Reads the backup store of one database (C(<backup_dir>/<database>/)) written by the
    C(opskit.webstack.postgres_backup) role, that is the sealed backups, newest first, the one marked
    C(latest), C(.partial) leftovers and the lock.
  - With O(verify=true), checks every file of the selected backup (O(name), or the latest) against
    the size and sha256 in its manifest and returns the problems, each naming the file.
  - With O(compose_project) (or O(container)), also finds the database's container on the target host's
    engine and whether it mounts a directory at O(container_dir), in the same call (RV(container)).
  - Never changes anything.
author:
  - opskit maintainers (@opskit)
options:
  path:
    description: The database's backup store, C(<backup_dir>/<database>).
    type: path
    required: true
  name:
    description: The backup to select; the one marked C(latest) when omitted.
    type: str
  verify:
    description: Check the selected backup's files against its manifest.
    type: bool
    default: false
  compose_project:
    description: The Compose project whose running container of O(compose_service) is the database (RV(container)).
    type: str
  compose_service:
    description: The database's Compose service, with O(compose_project).
    type: str
    default: db
  container:
    description: The database's container, named; its mounts are read (RV(container)).
    type: str
  container_dir:
    description: With O(compose_project) or O(container), the directory whose mount inside the container RV(container) tells (its C(mounted)).
    type: path
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module only reads.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
seealso:
  - module: opskit.webstack.postgres_backup_store
"""

EXAMPLES = r"""
- name: Find and verify the latest backup of the shop database
  opskit.webstack.postgres_backup_info:
    path: /var/backups/webstack/shop
    verify: true
  register: __backup

- name: Refuse a corrupt backup
  ansible.builtin.assert:
    that: __backup.backup.valid
    fail_msg: "{{ __backup.backup.problems | join('; ') }}"
"""

RETURN = r"""
backups:
  description: The sealed backups, newest first (without their file tables).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "shop-20260101T020000Z", "time": "2026-01-01T02:00:00Z", "format": "directory", "size_bytes": 1024}]
latest:
  description: Name of the backup the C(latest) link points at, or null.
  returned: always
  type: str
  sample: shop-20260101T020000Z
backup:
  description:
    - The selected backup with its manifest; with O(verify=true) also C(valid) and C(problems)
      (each names the file and what is wrong with it).
    - Null when nothing is selected (an empty store, or O(name) not found).
  returned: always
  type: dict
  sample:
    name: shop-20260101T020000Z
    valid: false
    problems: ["/var/backups/webstack/shop/shop-20260101T020000Z/dump/3001.dat.gz: sha256 ab.., manifest says cd.."]
partials:
  description: C(.partial) directories (backups being written, or leftovers of failed ones).
  returned: always
  type: list
  elements: str
  sample: ["shop-20260101T010000Z.partial"]
lock:
  description: The lock record when a backup holds the store, else null.
  returned: always
  type: dict
  sample: {"owner": "run-1", "created": 1767232800.0}
container:
  description:
    - With O(compose_project) or O(container), the database's running container (C(name), null when the project's
      service has none running) and whether it mounts a directory at O(container_dir) (C(mounted)).
  returned: when O(compose_project) or O(container) is given
  type: dict
  sample: {"name": "shop-db-1", "mounted": true}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opskit.webstack.plugins.module_utils import _pgbackup as store
from ansible_collections.opskit.webstack.plugins.module_utils import _pgclient as client


def run(params):
    return dict(store.store_info(params["path"], params["name"], params["verify"]), changed=False)


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "name": {"type": "str"},
            "verify": {"type": "bool", "default": False},
            "compose_project": {"type": "str"},
            "compose_service": {"type": "str", "default": "db"},
            "container": {"type": "str"},
            "container_dir": {"type": "path"},
        },
        supports_check_mode=True,
    )
    try:
        result = run(module.params)
        if module.params["compose_project"] or module.params["container"]:
            params = module.params
            result["container"] = client.locate_container(
                module, module.get_bin_path("docker", required=True), container=params["container"], project=params["compose_project"],
                service=params["compose_service"], container_dir=params["container_dir"],
            )
        module.exit_json(**result)
    except (OSError, store.BackupStoreError) as exc:
        module.fail_json(msg="Failed to read the backup store {}: {}".format(module.params["path"], exc))


if __name__ == "__main__":
    main()
