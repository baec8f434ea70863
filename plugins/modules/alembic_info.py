#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: alembic_info
extends_documentation_fragment:
  - opskit.webstack.attributes
  - opskit.webstack.alembic
short_description: Read the Alembic revisions of a database and its migrations
version_added: 0.1.0
description:
  - Returns the database's current revision(s), the heads of the migrations, the history from base
    to the heads (each revision marked applied or not) and the revisions pending to reach the heads,
    through Alembic's own API.
  - Run it where the application's code and migrations live, like M(opskit.webstack.alembic).
  - With O(database=false), reads the migrations only (heads and history) and connects to nothing.
  - Never changes anything.
author:
  - opskit maintainers (@opskit)
options:
  database:
    description: Read the database's revision. With C(false), only the migrations are read.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
seealso:
  - module: opskit.webstack.alembic
"""

EXAMPLES = r"""
- name: Read the schema revision inside the app container
  opskit.webstack.alembic_info:
    config_file: /app/alembic.ini
  delegate_to: webstack-app-1
  vars:
    ansible_connection: community.docker.docker
  register: __schema

- name: Refuse to deploy code whose migrations have several heads
  ansible.builtin.assert:
    that: not __schema.multiple_heads
    fail_msg: "The migrations have several heads: {{ __schema.heads | join(', ') }}"

- name: Read the heads of a new image without touching the database
  opskit.webstack.alembic_info:
    config_file: /app/alembic.ini
    database: false
"""

RETURN = r"""
current:
  description: The database's current revision(s), sorted; empty at base; null with O(database=false).
  returned: always
  type: list
  elements: str
  sample: [0002_items_name_index]
revision:
  description: The current revision(s) as one comma-separated string; null at base or with O(database=false).
  returned: always
  type: str
  sample: 0002_items_name_index
heads:
  description: The head revision(s) of the migrations.
  returned: always
  type: list
  elements: str
  sample: [0003_items_featured]
multiple_heads:
  description: Whether the migrations have several heads (C(alembic upgrade head) would fail).
  returned: always
  type: bool
  sample: false
pending:
  description: The revisions from the current one to the heads, in the order an upgrade runs them; null with O(database=false).
  returned: always
  type: list
  elements: dict
  sample: [{"revision": "0003_items_featured", "down_revision": "0002_items_name_index", "doc": "Featured items.", "direction": "upgrade", "branch_labels": []}]
up_to_date:
  description: Whether the database is at the heads; null with O(database=false).
  returned: always
  type: bool
  sample: false
history:
  description: Every revision from base to the heads, with C(applied), C(is_current) and C(is_head).
  returned: always
  type: list
  elements: dict
  sample:
    - {"revision": "0001_initial", "down_revision": null, "doc": "Categories and items.", "applied": true,
       "is_current": false, "is_head": false, "branch_labels": []}
current_known:
  description:
    - Whether these migrations know the database's revision. False when the database was migrated
      by newer code (then RV(pending) is null and nothing in RV(history) is marked applied).
  returned: always
  type: bool
  sample: true
script_location:
  description: The migrations directory that was read.
  returned: always
  type: str
  sample: /app/migrations
"""


from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.opskit.webstack.plugins.module_utils import _alembic as am


def main():
    module = AnsibleModule(
        argument_spec=dict(am.alembic_common_argument_spec(), database=dict(type="bool", default=True)),
        supports_check_mode=True,
    )
    if not am.HAS_ALEMBIC:
        module.fail_json(msg=missing_required_lib("alembic and sqlalchemy"), exception=am.ALEMBIC_IMPORT_ERROR)
    params = module.params
    try:
        session = am.session_from_params(params)
        result = am.gather_info(session, database=params["database"])
    except am.AlembicModuleError as exc:
        module.fail_json(msg=exc.message, failure_kind=exc.kind, **exc.details)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
