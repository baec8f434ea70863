#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: compose_service_info
extends_documentation_fragment:
  - opskit.webstack.attributes
  - opskit.webstack.docker_cli
short_description: The containers of a Compose project or of one of its services, with their health
version_added: 0.2.0
description:
  - Lists the containers of Compose project O(project) (of service O(service) when given) on the host's engine,
    one-off containers left out, oldest first, each with its name, ID, image, state, health and last health output.
  - The one way the collection finds a service's containers (the same code the rollout and the release record use).
  - Runs the C(docker) CLI on the target host. Never changes anything.
author:
  - opskit maintainers (@opskit)
options:
  project:
    description: The Compose project name.
    type: str
    required: true
  service:
    description: Only the containers of this service.
    type: str
  all_states:
    description: Also containers that do not run.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
seealso:
  - module: community.docker.docker_host_info
  - module: opskit.webstack.compose_rollout
"""

EXAMPLES = r"""
- name: Find the running Redis container of the stack
  opskit.webstack.compose_service_info:
    project: webstack
    service: redis
  register: __redis

- name: Show its name
  ansible.builtin.debug:
    msg: "{{ __redis.names | first }}"
"""

RETURN = r"""
containers:
  description: The containers, oldest first.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: webstack-app-1, id: "5d1e...", service: app, image: "opskit/webapp:v2", image_id: "sha256:...", state: running,
       running: true, health: healthy, health_output: "", number: 1}
names:
  description: The names of the running containers, oldest first.
  returned: always
  type: list
  elements: str
services:
  description: The services that have a running container.
  returned: always
  type: list
  elements: str
unhealthy:
  description: The names of the running containers whose Docker health is C(unhealthy).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opskit.webstack.plugins.module_utils import _compose_rollout as rollout


def main():
    module = AnsibleModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "service": {"type": "str"},
            "all_states": {"type": "bool", "default": False},
            "docker_cli": {"type": "path", "default": "docker"},
        },
        supports_check_mode=True,
    )
    params = module.params
    docker = module.get_bin_path(params["docker_cli"], required=True)
    compose = rollout.Compose(lambda argv, env: module.run_command(argv, environ_update=env), params["project"], "", docker=docker)
    try:
        found = [rollout.container_summary(c) for c in compose.project_containers(params["service"], params["all_states"])]
    except (rollout.RolloutError, ValueError) as exc:
        module.fail_json(msg=f"Failed to list the containers of project {params['project']}: {exc}")
    found.sort(key=lambda c: (c["service"], c["number"], c["created"]))
    running = [c for c in found if c["running"]]
    module.exit_json(changed=False, containers=found, names=[c["name"] for c in running],
                     services=sorted({c["service"] for c in running}),
                     unhealthy=[c["name"] for c in running if c["health"] == "unhealthy"])


if __name__ == "__main__":
    main()
