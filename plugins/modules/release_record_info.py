#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_record_info
extends_documentation_fragment:
  - opskit.webstack.attributes
short_description: Read and check a release record; say what ran, at which revision, from which files
version_added: 0.2.0
description:
  - Reads the record that M(opskit.webstack.release_record) wrote, checks its form (required keys, format,
    project), and returns it with its attachments (backup, migration, cache, report), its journal and the
    time each step took.
  - Fails with a message naming the record and what is wrong when it is missing or unusable.
  - With O(list=true), also lists every whole record of O(release_dir) with the backup each names, which
    backup retention must keep.
author:
  - opskit maintainers (@opskit)
options:
  release_dir:
    description: The host's release directory.
    type: path
  release_id:
    description: The release to read; V(previous) (or V(latest)) follows the C(latest) link.
    type: str
    default: previous
  record_dir:
    description: The record directory itself (wins over O(release_dir) and O(release_id)).
    type: path
  project:
    description: The Compose project the record must describe.
    type: str
  missing_ok:
    description: Return C(exists=false) instead of failing when the record is missing (it must still be sound when present).
    type: bool
    default: false
  list:
    description: Also list every whole record of O(release_dir) (RV(releases)).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: N/A
seealso:
  - module: opskit.webstack.release_record
"""

EXAMPLES = r"""
- name: Read the record of the previous release
  opskit.webstack.release_record_info:
    release_dir: /srv/webstack/releases
    project: webstack
  register: __record

- name: Show what ran before the last release
  ansible.builtin.debug:
    msg: "{{ __record.record.services.app.image }} at revision {{ __record.record.extra.alembic_revision }}"
"""

RETURN = r"""
exists:
  description: Whether the record exists (always true unless O(missing_ok)).
  returned: always
  type: bool
path:
  description: The record's directory.
  returned: when exists
  type: str
release_id:
  description: The record's release id.
  returned: when exists
  type: str
record:
  description: The record (C(record.json)).
  returned: when exists
  type: dict
backup:
  description: The pre-release backup (C(backup.json)); empty when none.
  returned: when exists
  type: dict
migration:
  description: The migration (C(migration.json)) with C(from), C(to) and C(image); empty when the release did not migrate.
  returned: when exists
  type: dict
cache:
  description: The cache snapshot (C(cache.json)); empty when none.
  returned: when exists
  type: dict
report:
  description: The release's report (C(report.json)); empty when none yet.
  returned: when exists
  type: dict
journal:
  description: The step boundaries, in order.
  returned: when exists
  type: list
  elements: dict
steps:
  description: Per step, its result and the seconds it took.
  returned: when exists
  type: list
  elements: dict
  sample: [{"step": "migrate", "result": "ok", "seconds": 1.2}]
failed_step:
  description: The step a stopped or failed release was in (null when every step ended ok).
  returned: when exists
  type: str
releases:
  description: Every whole record of O(release_dir), oldest first, with the backup it names.
  returned: when list is true
  type: list
  elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opskit.webstack.plugins.module_utils import _release_record as records


def main():
    module = AnsibleModule(
        argument_spec={
            "release_dir": {"type": "path"},
            "release_id": {"type": "str", "default": "previous"},
            "record_dir": {"type": "path"},
            "project": {"type": "str"},
            "missing_ok": {"type": "bool", "default": False},
            "list": {"type": "bool", "default": False},
        },
        required_one_of=[("release_dir", "record_dir")],
        supports_check_mode=True,
    )
    params = module.params
    out = {"changed": False, "exists": False}
    if params["list"] and params["release_dir"]:
        out["releases"] = records.list_releases(params["release_dir"])
    path = None
    try:
        path = records.resolve(params["release_dir"], params["release_id"], params["record_dir"])
        found = records.read(path, params["project"])
    except records.RecordError as exc:
        if params["missing_ok"] and ("No release" in str(exc)):
            if path and os.path.isdir(path):  # a release stopped before its record step still has its journal
                journal = records.read_journal(path)
                out.update(path=path, journal=journal, steps=records.step_timings(journal), failed_step=records.failed_step(journal))
            module.exit_json(**out)
        module.fail_json(msg=f"Failed to read the release record: {exc}", **out)
    found["failed_step"] = records.failed_step(found["journal"])
    out.update(found, exists=True)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
