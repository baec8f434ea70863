#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_lock
extends_documentation_fragment:
  - opskit.webstack.attributes
short_description: One change at a time per stack, with a lock whose dead holder is taken over at once
version_added: 0.2.0
description:
  - Takes or gives back the lock of one stack on one Docker host (a file, normally in the release directory),
    so that two deploys, rollbacks or rollouts of the same stack never cross.
  - The holder is the C(ansible-playbook) process that runs the task (controller host, process id and its start
    time). A second run fails at once, naming who holds the lock, what it does and since when.
  - A lock whose holder process is dead (on the same controller) is taken over at once; a lock held from another
    controller is taken over only with O(break_lock=true).
  - Taking the lock again from the same run succeeds (roles that take it can be nested; RV(acquired) is false then);
    giving it back removes it only when this run holds it. The module never reports a change - the lock lives only
    as long as the run that holds it.
  - This is an action plugin; the liveness check runs on the controller, the file is written on the host.
author:
  - opskit maintainers (@opskit)
options:
  path:
    description: The lock file on the host.
    type: path
    required: true
  state:
    description: V(present) takes the lock, V(absent) gives it back.
    type: str
    choices: [present, absent]
    default: present
  what:
    description: What the holder does, for the message a second run shows.
    type: str
    default: ""
  break_lock:
    description: Take over a lock held from another controller (whose process cannot be checked from here).
    type: bool
    default: false
  holder:
    description: Who takes the lock; set by the action plugin (the controller, the ansible-playbook process and its start time).
    type: dict
    required: true
  takeover:
    description: The holder whose lock may be replaced (its process is gone); set by the action plugin.
    type: dict
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Take the stack's lock
  opskit.webstack.release_lock:
    path: /srv/webstack/releases/.lock
    what: deploy of v2
  register: __lock

- name: Give the stack's lock back
  opskit.webstack.release_lock:
    path: /srv/webstack/releases/.lock
    state: absent
  when: __lock.acquired
"""

RETURN = r"""
acquired:
  description: Whether this task took the lock (false when this run held it already); give it back only then.
  returned: state is present
  type: bool
holder:
  description: Who holds the lock now.
  returned: always
  type: dict
released:
  description: Whether the lock was given back.
  returned: state is absent
  type: bool
taken_over:
  description: The holder whose lock was taken over because its process was gone.
  returned: when a lock was taken over
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opskit.webstack.plugins.module_utils import _release_lock as lock


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "what": {"type": "str", "default": ""},
            "break_lock": {"type": "bool", "default": False},
            # set by the action plugin
            "holder": {"type": "dict", "required": True},
            "takeover": {"type": "dict"},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        if params["state"] == "absent":
            gone = lock.release(params["path"], params["holder"], check_mode=module.check_mode)
            module.exit_json(changed=False, released=gone, holder=lock.read(params["path"]) or {})
        state, current = lock.acquire(params["path"], params["holder"], takeover=params["takeover"], check_mode=module.check_mode)
    except OSError as exc:
        module.fail_json(msg=f"Failed to take the lock {params['path']}: {exc}")
    # The lock lives only as long as the run that takes it: never a change of the stack (idempotence).
    out = {"changed": False, "acquired": state in ("acquired", "taken_over"), "state": state,
           "holder": params["holder"] if state != "held" else current}
    if state == "taken_over":
        out["taken_over"] = current
    module.exit_json(**out)


if __name__ == "__main__":
    main()
