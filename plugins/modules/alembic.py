#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: alembic
extends_documentation_fragment:
  - opskit.webstack.attributes
  - opskit.webstack.alembic
short_description: Upgrade or downgrade a database with Alembic, with lock and statement timeouts
version_added: 0.1.0
description:
  - Runs an Alembic migration through Alembic's own API (C(Config), C(ScriptDirectory),
    C(MigrationContext), C(command)), where the application's code and migrations live, for example
    inside the app container through the C(community.docker.docker) connection, or on a host with
    C(ansible_python_interpreter) set to the application's Python environment.
  - Upgrades or downgrades to O(revision) (C(head), C(heads), C(base), a revision id, or relative
    C(+1), C(-1), C(<rev>+2)). At the target already, nothing runs and C(changed) is false.
  - On PostgreSQL the module's own connection carries O(lock_timeout) and O(statement_timeout), so
    that a migration waiting on a lock held by the running site fails fast instead of queueing every
    other query behind it. The connection is handed to C(env.py) in
    C(config.attributes["connection"]); for an C(env.py) that connects on its own, the same settings
    are in the C(PGOPTIONS) environment variable of the migration.
  - With O(sql=true) (offline mode) the SQL is rendered and returned, nothing runs.
  - Check mode lists the pending revisions and changes nothing.
  - Distinct errors for several heads, an unknown revision, a database at a revision these migrations
    do not know, a downgrade below base, an unreachable database, a lock or statement timeout and a
    migration that fails half-way (the result names the revision that failed and the revision the
    database stayed at; with one transaction per migration on PostgreSQL that is the one before).
author:
  - opskit maintainers (@opskit)
options:
  command:
    description: Upgrade or downgrade.
    type: str
    choices: [upgrade, downgrade]
    default: upgrade
  revision:
    description:
      - The target revision. C(head) when O(command=upgrade) and unset; required for a downgrade.
      - C(head) fails when the migrations have several heads; use C(heads) or one head's id.
    type: str
  x_arguments:
    description: C(-x) arguments for C(env.py), each C(key=value).
    type: list
    elements: str
    default: []
  lock_timeout:
    description:
      - PostgreSQL C(lock_timeout) of the migration's session, a number with an optional unit
        (C(us), C(ms), C(s), C(min), C(h), C(d); milliseconds without one). C(0) turns it off.
    type: str
    default: 5s
  statement_timeout:
    description: PostgreSQL C(statement_timeout) of the migration's session, as O(lock_timeout).
    type: str
    default: "0"
  advisory_lock_wait:
    description:
      - On PostgreSQL, the migration holds an advisory lock (key C(0x6F70736B6974)) in a session of its own, so that
        two migrators never run together; seconds to wait for it before failing with RV(failure_kind=lock_timeout).
        V(0) takes no lock.
    type: int
    default: 60
  sql:
    description:
      - Offline mode. Render the SQL of the migration and return it in RV(sql); nothing runs and
        the database is not contacted (C(env.py) still needs a URL for its dialect).
    type: bool
    default: false
  from_revision:
    description:
      - With O(sql=true), the revision the rendered SQL starts from. Base when unset for an upgrade;
        required for a downgrade.
    type: str
attributes:
  check_mode:
    support: full
    details: Lists the pending revisions in RV(pending) and runs nothing.
  diff_mode:
    support: full
    details: The revision before and after.
notes:
  - Run it where the application's code lives; the module imports the application's C(env.py).
  - Alembic's own loggers are captured; an C(env.py) that honours
    C(config.attributes["configure_logger"]=False) leaves the logging configuration alone.
  - An upgrade to a revision the database is already past does nothing, as in Alembic.
seealso:
  - module: opskit.webstack.alembic_info
  - name: Alembic tutorial
    description: Alembic's documentation of the migration environment and commands.
    link: https://alembic.sqlalchemy.org/en/latest/tutorial.html
"""

EXAMPLES = r"""
- name: Migrate the database to the head revision, inside the app container
  opskit.webstack.alembic:
    config_file: /app/alembic.ini
    lock_timeout: 3s
  delegate_to: webstack-app-1
  vars:
    ansible_connection: community.docker.docker
  register: __migration

- name: Show what ran
  ansible.builtin.debug:
    msg: "{{ __migration.revision_before }} -> {{ __migration.revision_after }}: {{ __migration.applied | map(attribute='revision') }}"

- name: Step one revision back
  opskit.webstack.alembic:
    command: downgrade
    revision: "-1"
    config_file: /app/alembic.ini

- name: Render the SQL from the recorded revision to head for review
  opskit.webstack.alembic:
    config_file: /app/alembic.ini
    sql: true
    from_revision: 0002_items_name_index
  register: __sql

- name: Migrate with an explicit URL and -x arguments
  opskit.webstack.alembic:
    config_file: /srv/app/alembic.ini
    database_url: "postgresql://app:{{ vault_db_password }}@db.internal/app"
    x_arguments: [tenant=eu]
    statement_timeout: 10min
"""

RETURN = r"""
revision_before:
  description: The database's revision(s) before, comma-separated; null at base. In offline mode O(from_revision).
  returned: always
  type: str
  sample: 0002_items_name_index
revision_after:
  description: The database's revision(s) after (in check mode, what the run would end at); null at base.
  returned: always
  type: str
  sample: 0003_items_featured
revisions_before:
  description: The revisions before, as a list (several when the database is on several branches).
  returned: when O(sql=false)
  type: list
  elements: str
  sample: [0002_items_name_index]
revisions_after:
  description: The revisions after, as a list.
  returned: when O(sql=false)
  type: list
  elements: str
  sample: [0003_items_featured]
applied:
  description: The revisions that ran, in order (downgrades name the revision undone).
  returned: always
  type: list
  elements: dict
  sample: [{"revision": "0003_items_featured", "down_revision": "0002_items_name_index", "doc": "Featured items.", "direction": "upgrade", "branch_labels": []}]
pending:
  description: The revisions still to run to reach the target (all of them in check mode and offline mode).
  returned: always
  type: list
  elements: dict
  sample: []
heads:
  description: The head revision(s) of the migrations.
  returned: always
  type: list
  elements: str
  sample: [0003_items_featured]
direction:
  description: C(upgrade) or C(downgrade).
  returned: always
  type: str
  sample: upgrade
target:
  description: The target as given.
  returned: always
  type: str
  sample: head
sql:
  description: The rendered SQL (offline mode), else null.
  returned: always
  type: str
  sample: "BEGIN;\nALTER TABLE items ADD COLUMN featured BOOLEAN DEFAULT false NOT NULL;\n..."
failure_kind:
  description:
    - Why the module failed C(config), C(multiple_heads), C(unknown_revision), C(unknown_current),
      C(below_base), C(beyond_head), C(wrong_direction), C(unreachable), C(migration_failed),
      C(lock_timeout) or C(statement_timeout).
  returned: on failure
  type: str
  sample: migration_failed
failed_revision:
  description: The revision whose migration failed.
  returned: when a migration failed
  type: str
  sample: 0004_broken_reviews
error:
  description: The database's error for the failed migration (first line).
  returned: when a migration failed
  type: str
  sample: column "rating" does not exist
sqlstate:
  description: The PostgreSQL SQLSTATE of that error (C(55P03) lock timeout, C(57014) statement timeout).
  returned: when a migration failed
  type: str
  sample: 42703
statement:
  description: The SQL statement that failed (first 500 characters).
  returned: when a migration failed
  type: str
  sample: UPDATE items SET rating = 5
output:
  description: What C(env.py) or the migrations printed.
  returned: always
  type: str
  sample: ""
"""


from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.opskit.webstack.plugins.module_utils import _alembic as am


def argument_spec():
    return dict(
        am.alembic_common_argument_spec(),
        command=dict(type="str", choices=["upgrade", "downgrade"], default="upgrade"),
        revision=dict(type="str"),
        x_arguments=dict(type="list", elements="str", default=[]),
        lock_timeout=dict(type="str", default="5s"),
        statement_timeout=dict(type="str", default="0"),
        advisory_lock_wait=dict(type="int", default=60),
        sql=dict(type="bool", default=False),
        from_revision=dict(type="str"),
    )


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[("command", "downgrade", ["revision"])],
        required_by={"from_revision": "sql"},
        supports_check_mode=True,
    )
    if not am.HAS_ALEMBIC:
        module.fail_json(msg=missing_required_lib("alembic and sqlalchemy"), exception=am.ALEMBIC_IMPORT_ERROR)
    params = module.params
    direction = params["command"]
    target = params["revision"] or "head"
    session = None
    try:
        session = am.session_from_params(
            params,
            x_arguments=params["x_arguments"],
            lock_timeout=params["lock_timeout"],
            statement_timeout=params["statement_timeout"],
            sql=params["sql"],
            advisory_lock_wait=params["advisory_lock_wait"],
        )
        result = am.run_migration(session, direction, target, check_mode=module.check_mode, sql=params["sql"],
                                  from_revision=params["from_revision"])
    except am.AlembicModuleError as exc:
        details = dict(exc.details)
        for key in ("changed", "failure_kind", "msg"):
            details.pop(key, None)
        output = session.redact(session.stdout_buffer.getvalue()) if session else ""
        module.fail_json(msg=exc.message, failure_kind=exc.kind, changed=bool(details.get("applied")), output=output,
                         **details)
    result["output"] = session.redact(session.stdout_buffer.getvalue())
    if module._diff and not params["sql"]:
        result["diff"] = dict(before="revision: %s\n" % (result["revision_before"] or "base"),
                              after="revision: %s\n" % (result["revision_after"] or "base"))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
