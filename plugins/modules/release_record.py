#!/usr/bin/python
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_record
extends_documentation_fragment:
  - opskit.webstack.attributes
  - opskit.webstack.docker_cli
short_description: Write a release's record, its attachments and its step journal on the Docker host
version_added: 0.2.0
description:
  - The release record is what a rollback reads and nothing else. It lives in O(release_dir)/O(release_id)/
    on the host that runs the stack.
  - With O(record=true), writes C(record.json) (0600) with the project's running services by image ID and
    repo digest, their containers, O(env), O(target) and O(extra), and C(files/) with copies of O(files)
    (0640) and O(env_files) (0600); then points O(release_dir)/C(latest) at it. It is written under a
    partial name, fsynced and renamed into place; a record is whole or absent, and never overwritten.
  - O(attach) writes attachments (C(backup), C(migration), C(cache), C(report)) the same way.
  - O(mark) appends a step boundary to the release's journal (C(journal.jsonl)), from which
    M(opskit.webstack.release_record_info) derives each step's time and the step a stopped release was in.
  - Runs the C(docker) CLI on the target host to read the running containers (only with O(record=true)).
author:
  - opskit maintainers (@opskit)
options:
  release_dir:
    description: The host's release directory (created 0700 when missing).
    type: path
    required: true
  release_id:
    description: The release's name (letters, digits, C(_), C(.), C(:), C(-)).
    type: str
    required: true
  mark:
    description: A step name to append to the journal, with O(mark_result).
    type: str
  mark_result:
    description: The step boundary that O(mark) records.
    type: str
    choices: [started, ok, failed]
    default: started
  fail_running:
    description: Before O(mark), mark the step the release is in (the last one, when it has not ended) as failed.
    type: bool
    default: false
  record:
    description: Write C(record.json) and C(files/) of the running release (once; an existing record is an error).
    type: bool
    default: false
  attach:
    description: Attachments to write, by name (C(backup), C(migration), C(cache), C(report)).
    type: dict
    default: {}
  project_name:
    description: The Compose project (O(record=true)).
    type: str
  project_src:
    description: The Compose project directory (O(record=true)).
    type: path
  files:
    description: The Compose files to keep a copy of (O(record=true)).
    type: list
    elements: path
    default: []
  env_files:
    description:
      - The env files to keep a copy of (O(record=true)); base names of O(files) and O(env_files) must differ.
      - When empty, C(<project_src>/.env) is kept when it exists (the file Compose reads when given no env file).
    type: list
    elements: path
    default: []
  env:
    description: The release's non-secret environment, kept in the record.
    type: dict
    default: {}
  services:
    description: The services to record; every running service of the project when empty.
    type: list
    elements: str
    default: []
  target:
    description: What the release will run, per service.
    type: dict
    default: {}
  extra:
    description: Free data kept in the record (the revision, the version, the feature flags).
    type: dict
    default: {}
  host:
    description: The host name kept in the record.
    type: str
    default: ""
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
seealso:
  - module: opskit.webstack.release_record_info
  - module: opskit.webstack.compose_rollout
"""

EXAMPLES = r"""
- name: Record the running release before anything changes
  opskit.webstack.release_record:
    release_dir: /srv/webstack/releases
    release_id: 20261203T120000Z-v2
    record: true
    project_name: webstack
    project_src: /srv/webstack
    files: [/srv/webstack/compose.yml]
    env_files: [/srv/webstack/.env]
    services: [app]
    extra:
      alembic_revision: 0002_items_name_index

- name: Note that the migrate step starts
  opskit.webstack.release_record:
    release_dir: /srv/webstack/releases
    release_id: 20261203T120000Z-v2
    mark: migrate

- name: Keep the migration in the record
  opskit.webstack.release_record:
    release_dir: /srv/webstack/releases
    release_id: 20261203T120000Z-v2
    attach:
      migration: {from: "0002", to: "0003", image: "opskit/webapp:v2"}
"""

RETURN = r"""
path:
  description: The release's directory.
  returned: always
  type: str
  sample: /srv/webstack/releases/20261203T120000Z-v2
recorded:
  description: Per recorded service, the image, image IDs, repo digests, replicas and containers.
  returned: when record is true
  type: dict
failed_step:
  description: The step marked failed by O(fail_running) (null when none was running).
  returned: when fail_running is true
  type: str
attached:
  description: The attachments written (unchanged ones are left out).
  returned: always
  type: list
  elements: str
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opskit.webstack.plugins.module_utils import _compose_rollout as rollout
from ansible_collections.opskit.webstack.plugins.module_utils import _release_record as records


def run(module):
    params = module.params
    check = module.check_mode
    path = records.release_path(params["release_dir"], params["release_id"])
    out = {"changed": False, "path": path, "attached": []}
    if not check and (params["mark"] or params["attach"] or params["fail_running"]):
        records.ensure_release_dir(params["release_dir"], params["release_id"])
    if params["record"]:
        if not params["project_name"] or not params["project_src"]:
            module.fail_json(msg="record=true needs project_name and project_src")
        docker = module.get_bin_path(params["docker_cli"], required=True)
        compose = rollout.Compose(lambda argv, env: module.run_command(argv, environ_update=env), params["project_name"],
                                  params["project_src"], files=params["files"], env_files=params["env_files"], docker=docker)
        containers = compose.project_containers()
        images = compose.images(sorted({c.get("Image") for c in containers if c.get("Image")}))
        record = records.build_record(
            params["release_id"], project=params["project_name"], project_dir=params["project_src"], host=params["host"],
            env=params["env"], compose_files=params["files"], env_files=params["env_files"], containers=containers,
            images=images, names=params["services"], target=params["target"], extra=params["extra"])
        records.write_record(params["release_dir"], record, check_mode=check)
        out.update(changed=True, recorded=record["services"])
    for name, data in sorted(params["attach"].items()):
        if records.attach(path, name, data, check_mode=check):
            out["attached"].append(name)
            out["changed"] = True
    if params["fail_running"] and not check:
        out["failed_step"] = records.fail_running(path)
    if params["mark"]:
        if not check:
            records.mark_step(path, params["mark"], params["mark_result"], clock=time.time)
        out["changed"] = True
    return out


def main():
    module = AnsibleModule(
        argument_spec={
            "release_dir": {"type": "path", "required": True},
            "release_id": {"type": "str", "required": True},
            "mark": {"type": "str"},
            "mark_result": {"type": "str", "default": "started", "choices": ["started", "ok", "failed"]},
            "fail_running": {"type": "bool", "default": False},
            "record": {"type": "bool", "default": False},
            "attach": {"type": "dict", "default": {}},
            "project_name": {"type": "str"},
            "project_src": {"type": "path"},
            "files": {"type": "list", "elements": "path", "default": []},
            "env_files": {"type": "list", "elements": "path", "default": []},
            "env": {"type": "dict", "default": {}},
            "services": {"type": "list", "elements": "str", "default": []},
            "target": {"type": "dict", "default": {}},
            "extra": {"type": "dict", "default": {}},
            "host": {"type": "str", "default": ""},
            "docker_cli": {"type": "path", "default": "docker"},
        },
        required_if=[("record", True, ["project_name", "project_src"])],
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except (records.RecordError, rollout.RolloutError) as exc:
        module.fail_json(msg=f"Failed to write the release record: {exc}")
    except OSError as exc:
        module.fail_json(msg=f"Failed to write the release record in {module.params['release_dir']}: {exc}")


if __name__ == "__main__":
    main()
