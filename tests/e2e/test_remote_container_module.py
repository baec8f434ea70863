"""opskit.webstack.container_module against a real container of this machine's engine.

The target is this machine (local connection); the action runs ``docker exec -i CONTAINER PYTHON`` on
it and feeds the module to the container's Python. The same path over SSH, to hosts with their own
engines, is tests/e2e/test_remote.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK_BIN = Path(sys.executable).with_name("ansible-playbook")

PLAY = """
- name: container_module against {container}
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Ping inside the container
      opskit.webstack.container_module:
        container: {container}
        module: ansible.builtin.ping
        args: {{data: inside, unused: "{{{{ omit }}}}"}}
      register: ping

    - name: Plan maxmemory (check mode, diff)
      opskit.webstack.container_module:
        container: {container}
        module: opskit.webstack.redis_memory
        args: &memory {{maxmemory: 48mb, maxmemory_policy: allkeys-lru, persist: none}}
      check_mode: true
      diff: true
      register: plan

    - name: Read maxmemory after the plan
      ansible.builtin.command: docker exec {container} redis-cli CONFIG GET maxmemory
      register: after_plan
      changed_when: false

    - name: Set maxmemory
      opskit.webstack.container_module:
        container: {container}
        module: opskit.webstack.redis_memory
        args: *memory
      register: apply

    - name: Set maxmemory again
      opskit.webstack.container_module:
        container: {container}
        module: opskit.webstack.redis_memory
        args: *memory
      register: again

    - name: A module that fails
      opskit.webstack.container_module:
        container: {container}
        module: ansible.builtin.command
        args: {{argv: ["false"]}}
      register: module_failed
      ignore_errors: true

    - name: A container that does not exist
      opskit.webstack.container_module:
        container: {container}-absent
        module: ansible.builtin.ping
      register: absent
      ignore_errors: true

    - name: A Python that is not there
      opskit.webstack.container_module:
        container: {container}
        module: ansible.builtin.ping
        python: /usr/bin/python2.7
      register: no_python
      ignore_errors: true

    - name: A secret argument with no_log
      opskit.webstack.container_module:
        container: {container}
        module: ansible.builtin.command
        args: {{argv: [echo, "{secret}"]}}
      no_log: true
      register: secret

    - name: Write the results
      ansible.builtin.copy:
        dest: {out}
        content: "{{{{ {{'ping': ping, 'plan': plan, 'after_plan': after_plan.stdout_lines, 'apply': apply, 'again': again,
                       'module_failed': module_failed, 'absent': absent, 'no_python': no_python,
                       'secret_changed': secret.changed}} | to_json }}}}"
        mode: "0600"
"""


@pytest.fixture
def redis_container():
    name = f"opskit-e2e-cm-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "-d", "--name", name, "opskit/redis:7"], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["docker", "rm", "-f", name], check=False, capture_output=True)


def test_container_module_runs_modules_inside_a_container(redis_container, tmp_path):
    out = tmp_path / "results.json"
    secret = "s3cret-" + uuid.uuid4().hex[:6]
    play = tmp_path / "play.yml"
    play.write_text(textwrap.dedent(PLAY.format(container=redis_container, out=out, secret=secret)))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    run = subprocess.run(
        [str(PLAYBOOK_BIN), "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}", str(play)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert secret not in run.stdout
    r = json.loads(out.read_text())

    assert r["ping"]["ping"] == "inside" and r["ping"]["changed"] is False
    assert r["plan"]["changed"] is True and "maxmemory 50331648" in r["plan"]["diff"]["after"]
    assert r["after_plan"] == ["maxmemory", "0"], "check mode changed the server"
    assert r["apply"]["changed"] is True and r["apply"]["after"]["maxmemory"] == "50331648"
    assert r["again"]["changed"] is False
    live = subprocess.run(["docker", "exec", redis_container, "redis-cli", "CONFIG", "GET", "maxmemory"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert live == ["maxmemory", "50331648"]
    assert r["module_failed"]["failed"] is True and r["module_failed"]["rc"] == 1
    assert r["absent"]["failed"] is True and "does not exist on the engine of localhost" in r["absent"]["msg"]
    assert r["no_python"]["failed"] is True and "no Python at '/usr/bin/python2.7'" in r["no_python"]["msg"]
    assert r["secret_changed"] is True
