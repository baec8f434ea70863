#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The work is done by the action plugin plugins/action/container_module.py; this file holds its
# documentation only.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: container_module
short_description: Run any Python module inside a container of the target host's Docker engine
version_added: 0.2.0
description:
  - Runs a Python module (any FQCN, of this collection or another) inside a running container on the
    B(target host), with that container's Python, and returns the module's result as its own
    (C(changed), C(failed), C(msg), C(diff) and the module's return values).
  - The controller builds the module as Ansible builds it for pipelining and sends it over the host's
    normal connection to C(docker exec -i CONTAINER PYTHON) on the host, which feeds it to the
    container's Python on standard input. The SSH user, key, port, C(become) and host key checking are
    Ansible's own; nothing is copied into the container and no temporary file is left on the host.
  - The controller needs no Docker engine and no docker CLI. This is why the collection uses this
    action instead of the P(community.docker.docker#connection) connection, which runs the docker CLI
    on the controller and reaches a remote engine only with an SSH set-up of its own
    (C(-H ssh://...), its own known_hosts, key and port).
  - Check mode, diff mode and C(no_log) are passed to the module; the module's arguments travel on
    standard input, never on a command line.
  - With O(container) empty the module runs on the target host itself, as if the task called it; a
    role can so switch between a host and a container target with one task.
author:
  - opskit maintainers (@opskit)
requirements:
  - On the target host, a docker CLI (or a compatible one, see O(docker)) that the connecting user (or
    the C(become) user) may use.
  - Inside the container, a Python 3 at O(python) with the libraries the module imports, and a writable
    C(/tmp).
options:
  container:
    description:
      - Name or id of a running container on the target host's engine.
      - Empty runs the module on the target host itself.
    type: str
    required: true
  module:
    description:
      - The module to run, by its FQCN (C(opskit.webstack.redis_memory), C(ansible.builtin.ping)). A Python
        module of the AnsiballZ kind; action plugins (C(template), C(copy) with C(content)) do not run
        inside a container.
    type: str
    required: true
  args:
    description: The module's options.
    type: dict
    default: {}
  python:
    description: The Python interpreter inside the container.
    type: str
    default: /usr/bin/python3
  user:
    description: Run the module as this user inside the container (C(docker exec --user)); empty uses the container's user.
    type: str
    default: ""
  docker:
    description: The container CLI on the target host (for example C(podman) or a full path).
    type: str
    default: docker
notes:
  - The task's C(environment) is given to the module inside the container (C(docker exec -e)).
  - C(async) is not supported.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: The module runs in check mode; what it then does is the module's own check mode support.
  diff_mode:
    support: full
    details: The module is told to return a diff; whether it does is the module's own diff mode support.
  platform:
    platforms: posix
seealso:
  - plugin: community.docker.docker
    plugin_type: connection
    description: The connection this action replaces for remote hosts; it needs the docker CLI on the controller.
  - module: community.docker.docker_container_exec
    description: Runs a command (not a module) in a container, from the target host.
"""

EXAMPLES = r"""
- name: Set maxmemory inside the Redis container of the host's Compose project
  opskit.webstack.container_module:
    container: webstack-redis-1
    module: opskit.webstack.redis_memory
    args:
      login_password: "{{ redis_password }}"
      maxmemory: 256mb
      maxmemory_policy: allkeys-lru
  no_log: true

- name: Check that the app container has a working Python
  opskit.webstack.container_module:
    container: webstack-app-1
    module: ansible.builtin.ping

- name: Migrate the database with the migrations of the app image, as the app's user
  opskit.webstack.container_module:
    container: "{{ oneoff.container_id }}"
    module: opskit.webstack.alembic
    args:
      command: upgrade
      config_file: /app/alembic.ini
    user: app
"""

RETURN = r"""
msg:
  description: The module's message, or why the module could not run in the container (container not running, no Python, no docker CLI).
  returned: when the module or the action says something
  type: str
  sample: "Failed to run ansible.builtin.ping in a container: container 'web-1' on app1 is not running"
container:
  description: The container, when the action could not run the module in it.
  returned: failure of C(docker exec) itself
  type: str
  sample: webstack-redis-1
rc:
  description: Exit status of C(docker exec), when the action could not run the module in it.
  returned: failure of C(docker exec) itself
  type: int
  sample: 1
module_stderr:
  description: Standard error of C(docker exec), when the action could not run the module or read its result.
  returned: failure of C(docker exec) itself
  type: str
  sample: "Error response from daemon: container 3f1c... is not running"
"""
