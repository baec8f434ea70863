#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postgres_backup_store
short_description: Lock, seal, promote and prune the PostgreSQL backups of one database
version_added: 0.1.0
description:
  - Acts on the backup store of one database (C(<backup_dir>/<database>/)) written by the
    R(opskit.webstack.postgres_backup,ansible_collections.opskit.webstack.postgres_backup_role) role.
  - C(action=lock) takes the store's lock so that two backups of one database never run at once;
    C(action=unlock) gives it back.
  - C(action=seal) fsyncs every file of C(<name>.partial), computes its sha256 and size and writes
    C(manifest.json) with them and the given O(metadata).
  - C(action=promote) verifies C(<name>.partial) against its manifest, renames it to C(<name>) and
    points the C(latest) link at it. Only a promoted backup is ever called good.
  - C(action=commit) is C(seal) then C(promote) in one call (the files are checked against the manifest just
    computed from them by presence and size, not hashed a second time); with O(prune=true) it then applies the retention
    (as C(action=prune)) and with O(unlock=true) gives back the lock of O(owner), still in that one call.
  - C(action=prune) deletes the backups beyond the daily / weekly / monthly retention and stale
    C(.partial) leftovers. The latest verified backup, the backups in O(keep_names) and those named
    by a release record under O(keep_referenced_by) are never deleted.
  - C(action=room) fails when the store's filesystem has less room than the next backup is expected
    to take (the latest backup's size, scaled by the growth of O(database_size) since).
  - C(action=discard) removes the C(<name>.partial) of a failed run and tells how much it held, how
    much room is free and how much the backup is expected to need.
  - The lock records the process that stands for the run (the SSH session of the connection, or the
    local C(ansible-playbook)); a lock whose process is gone is taken over at once.
  - Every directory of a backup is made 0700 and every file 0600, whatever the umask.
  - pg_dump and pg_restore are not run by this module; the role runs them where the database is.
author:
  - opskit maintainers (@opskit)
options:
  path:
    description: The database's backup store, C(<backup_dir>/<database>).
    type: path
    required: true
  action:
    description: What to do with the store.
    type: str
    required: true
    choices: [lock, unlock, seal, promote, commit, prune, room, discard]
  name:
    description:
      - The backup's name, without C(.partial). Required by O(action=seal), O(action=promote) and O(action=commit).
      - With O(action=prune), the backup being written by this run, whose C(.partial) is kept.
      - Required by O(action=discard).
      - With O(action=lock), the backup this run is about to write; once the lock is held (and the room checked),
        its C(<name>.partial) directory is created (0700), for tools that write on the target host.
    type: str
  owner:
    description: Who holds the lock (a run id). Required by O(action=lock) and O(action=unlock).
    type: str
  stale_after:
    description: Seconds after which a lock left by a dead run is taken over.
    type: int
    default: 86400
  metadata:
    description: What the manifest records besides the checksums (database, versions, duration, ...).
    type: dict
    default: {}
  keep_daily:
    description: With O(action=prune), how many days keep their newest backup.
    type: int
    default: 7
  keep_weekly:
    description: With O(action=prune), how many ISO weeks keep their newest backup.
    type: int
    default: 4
  keep_monthly:
    description: With O(action=prune), how many months keep their newest backup.
    type: int
    default: 6
  keep_names:
    description: With O(action=prune), backups that are never deleted.
    type: list
    elements: str
    default: []
  keep_referenced_by:
    description:
      - With O(action=prune), directories of release records (C(<dir>/<release>/backup.json), with the
        C(name) or C(path) of a backup); every backup of this store they name is kept.
      - A record that cannot be read fails the prune before anything is deleted.
    type: list
    elements: path
    default: []
  database_size:
    description:
      - With O(action=room) and O(action=discard), the database's size now in bytes (scales the estimate).
      - With O(action=lock), the room check of O(action=room) is made once the lock is held, in the same call.
        When the room is short the call fails with the lock still held (RV(lock)); give it back with O(action=unlock).
    type: int
  prune:
    description: With O(action=commit), apply the retention (O(keep_daily) and the other O(action=prune) options) once the backup is promoted.
    type: bool
    default: false
  unlock:
    description: With O(action=commit), give back the lock of O(owner) at the end (after the retention with O(prune=true)).
    type: bool
    default: false
  controller:
    description:
      - With O(action=lock), the controller's C(ansible-playbook) process (C(host), C(pid), C(start)), recorded in
        the lock so that a later run from the same controller can tell that it is gone.
    type: dict
  takeover:
    description:
      - With O(action=lock), the owner of a lock to take over, because the caller checked that its run's controller
        process is gone. Any other holder still makes the lock busy.
    type: str
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Nothing is written; C(changed) and RV(pruned) tell what would happen.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: partial
    details: O(action=prune) shows the backups before and after.
notes:
  - A C(seal) writes only the manifest and fsyncs; the backup stays C(.partial) until C(promote),
    which checks every file's size and sha256 again.
seealso:
  - module: opskit.webstack.postgres_backup_info
  - module: community.postgresql.postgresql_db
"""

EXAMPLES = r"""
- name: Take the backup lock of the shop database
  opskit.webstack.postgres_backup_store:
    path: /var/backups/webstack/shop
    action: lock
    owner: "{{ ansible_run_id | default('manual') }}"

- name: Seal the dump with its manifest
  opskit.webstack.postgres_backup_store:
    path: /var/backups/webstack/shop
    action: seal
    name: shop-20260101T020000Z
    metadata:
      database: shop
      format: directory

- name: Verify, rename into place and mark as latest
  opskit.webstack.postgres_backup_store:
    path: /var/backups/webstack/shop
    action: promote
    name: shop-20260101T020000Z

- name: Keep 7 daily, 4 weekly and 6 monthly backups
  opskit.webstack.postgres_backup_store:
    path: /var/backups/webstack/shop
    action: prune
    keep_daily: 7
    keep_weekly: 4
    keep_monthly: 6
"""

RETURN = r"""
path:
  description: The store acted on.
  returned: always
  type: str
  sample: /var/backups/webstack/shop
backup_path:
  description: Where the backup is after O(action=seal) (still C(.partial)) or O(action=promote).
  returned: when O(action) is seal, promote or commit
  type: str
  sample: /var/backups/webstack/shop/shop-20260101T020000Z
manifest:
  description: The manifest written by O(action=seal) or O(action=commit).
  returned: when O(action) is seal or commit, and not in check mode
  type: dict
  sample: {"database": "shop", "size_bytes": 1024, "files": {"globals.sql": {"sha256": "ab12...", "size": 120}}}
pruned:
  description: What O(action=prune) deleted (or would delete in check mode).
  returned: when O(action=prune), or commit with O(prune=true)
  type: dict
  sample: {"backups": ["shop-20251001T020000Z"], "partials": ["shop-20260101T010000Z.partial"], "kept": ["shop-20260101T020000Z"],
           "referenced": ["shop-20260101T020000Z"]}
committed:
  description:
    - With O(action=commit), whether the backup was promoted. A commit that fails in its retention or its unlock
      says V(true) here (the backup is good, only what came after failed).
  returned: when O(action=commit)
  type: bool
  sample: true
unlocked:
  description: With O(action=commit) and O(unlock=true), whether the lock of O(owner) was given back.
  returned: when O(action=commit)
  type: bool
  sample: true
room:
  description: Room on the store's filesystem and what the next backup is expected to need (null without an earlier backup).
  returned: when O(action) is room or discard, or lock with O(database_size)
  type: dict
  sample: {"free_bytes": 1048576, "needed_bytes": 2097152, "estimate_bytes": 2097152, "latest_bytes": 1900000,
           "partial_bytes": 1040000, "removed": true}
partial_path:
  description: With O(action=lock) and O(name), the partial backup's directory, created.
  returned: when O(action=lock) with O(name), not in check mode
  type: str
  sample: /var/backups/webstack/shop/shop-20260101T020000Z.partial
latest:
  description: With O(action=lock), the backup marked C(latest) when the lock was taken, or null.
  returned: when O(action=lock)
  type: str
  sample: shop-20260101T020000Z
lock:
  description:
    - The lock record found or written.
    - When O(action=lock) fails because another run holds the lock, that run's record (its C(owner), C(holder)
      and C(controller)), so that a caller that finds on its controller that this run is gone can take the lock over (O(takeover)).
  returned: when O(action) is lock or unlock
  type: dict
  sample: {"owner": "run-1", "host": "db01", "pid": 4242, "created": 1767232800.0}
busy:
  description: With O(action=lock), whether the lock was held by another run (the failure then names it in RV(lock)).
  returned: when O(action=lock)
  type: bool
  sample: false
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opskit.webstack.plugins.module_utils import _pgbackup as store


def run(module):  # noqa: PLR0912 -- one branch per action, kept flat for reading
    params = module.params
    path = params["path"]
    action = params["action"]
    result = {"changed": False, "path": path}
    if (action in ("lock", "unlock") or (action == "commit" and params["unlock"])) and not params["owner"]:
        module.fail_json(msg=f"Failed to {action} {path}: option 'owner' is required")
    if action in ("seal", "promote", "commit") and not params["name"]:
        module.fail_json(msg=f"Failed to {action} a backup in {path}: option 'name' is required")
    retention = store.retention(params)

    if action == "lock":
        result = store.take_lock(
            path, params["owner"], stale_after=params["stale_after"], controller=params["controller"], takeover=params["takeover"],
            database_size=params["database_size"], name=params["name"], check_mode=module.check_mode,
        )
    elif action == "unlock":
        held = store.read_lock(path)
        result["lock"] = held
        if held and held.get("owner") == params["owner"]:
            result["changed"] = True
            if not module.check_mode:
                store.release_lock(path, params["owner"])
    elif action == "seal":
        result["backup_path"] = os.path.join(path, params["name"] + store.PARTIAL_SUFFIX)
        result["changed"] = True
        if not module.check_mode:
            result["manifest"] = store.seal(path, params["name"], params["metadata"])
    elif action == "promote":
        result["backup_path"] = os.path.join(path, params["name"])
        result["changed"] = True
        if not module.check_mode:
            store.promote(path, params["name"])
    elif action == "commit":
        result = store.commit(
            path, params["name"], params["metadata"], owner=params["owner"], unlock=params["unlock"],
            retention=retention if params["prune"] else None, check_mode=module.check_mode, diff=module._diff,
        )
    elif action in ("room", "discard"):
        result["room"] = room(module, path)
        result["changed"] = bool(result["room"].get("removed"))
    else:
        store.prune_store(path, result, current_partial=params["name"], check_mode=module.check_mode, diff=module._diff, **retention)
    return result


def room(module, path):
    """The room check (action=room) and the removal of a failed run's partial backup (action=discard)."""
    params = module.params
    needed = store.estimate_size(path, params["database_size"])
    if params["action"] == "discard":
        if not params["name"]:
            module.fail_json(msg=f"Failed to discard a partial backup in {path}: option 'name' is required")
        partial = os.path.join(path, params["name"] + store.PARTIAL_SUFFIX)
        if module.check_mode:
            info = {"removed": os.path.isdir(partial), "partial_bytes": store.tree_size(partial), "free_bytes": store.free_bytes(path)}
        else:
            info = store.discard(path, params["name"])
        info["needed_bytes"] = max(needed or 0, info["partial_bytes"]) or None
        info["estimate_bytes"] = needed
        backups = [item for item in store.list_backups(path) if item["manifest"]]
        info["latest_bytes"] = backups[0]["manifest"].get("size_bytes") if backups else None
        return info
    info = store.room_needed(path, params["database_size"])
    if info["needed_bytes"] is not None and info["free_bytes"] < info["needed_bytes"]:
        module.fail_json(msg=store.room_message(path, info), room=info)
    return info


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "action": {"type": "str", "required": True, "choices": ["lock", "unlock", "seal", "promote", "commit", "prune", "room", "discard"]},
            "name": {"type": "str"},
            "owner": {"type": "str"},
            "stale_after": {"type": "int", "default": 86400},
            "metadata": {"type": "dict", "default": {}},
            "keep_daily": {"type": "int", "default": 7},
            "keep_weekly": {"type": "int", "default": 4},
            "keep_monthly": {"type": "int", "default": 6},
            "keep_names": {"type": "list", "elements": "str", "default": []},
            "keep_referenced_by": {"type": "list", "elements": "path", "default": []},
            "database_size": {"type": "int"},
            "controller": {"type": "dict"},
            "takeover": {"type": "str"},
            "prune": {"type": "bool", "default": False},
            "unlock": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    for option in ("keep_daily", "keep_weekly", "keep_monthly"):
        if module.params[option] < 0:
            module.fail_json(msg=f"Failed to prune {module.params['path']}: {option} must be 0 or more, got {module.params[option]}")
    try:
        module.exit_json(**run(module))
    except store.ActionFailed as exc:
        module.fail_json(msg=str(exc), **exc.result)
    except store.BackupStoreError as exc:
        module.fail_json(msg="Failed to {} the backup store {}: {}".format(module.params["action"], module.params["path"], exc))
    except OSError as exc:
        module.fail_json(msg="Failed to {} the backup store {}: {}".format(module.params["action"], module.params["path"], exc))


if __name__ == "__main__":
    main()
