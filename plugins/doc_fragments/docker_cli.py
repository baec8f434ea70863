# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The docker CLI of the modules that run it on the managed host (Compose v2 is its plugin):
    # compose_rollout, compose_service_info, compose_project_info, release_record.
    DOCUMENTATION = r"""
options:
  docker_cli:
    description:
      - The docker CLI on the managed host (the Docker host), whose Compose v2 plugin the module runs;
        the controller needs none.
    type: path
    default: docker
"""
