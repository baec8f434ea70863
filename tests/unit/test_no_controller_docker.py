"""No role or playbook hands the controller a docker CLI call; the shipped SSH inventories resolve.

Everything a role does in a container runs on the target host, against that host's engine, through
opskit.webstack.container_module (``docker exec`` on the host over Ansible's own connection). The
community.docker.docker connection would run the docker CLI on the controller instead, and
``*docker_extra_args`` were its way to reach a remote engine: neither may come back.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = re.compile(r"community\.docker\.docker\b(?![_.])|docker_extra_args")
SHIPPED = ("roles", "playbooks", "inventories/prod", "inventories/staging")


def offending_lines() -> list[str]:
    found = []
    for top in SHIPPED:
        for path in sorted((ROOT / top).rglob("*")):
            if not path.is_file() or path.suffix not in {".yml", ".yaml", ".j2", ".md", ".py", ".cfg", ".ini"}:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if FORBIDDEN.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_the_pattern_tells_the_connection_from_the_modules():
    assert FORBIDDEN.search("ansible_connection: community.docker.docker")
    assert FORBIDDEN.search("    delegate_to: x  # community.docker.docker")
    assert FORBIDDEN.search("cache_warm_docker_extra_args: ''")
    assert not FORBIDDEN.search("community.docker.docker_compose_v2_run:")
    assert not FORBIDDEN.search("community.docker.docker_container_exec:")


def test_no_role_or_playbook_needs_docker_on_the_controller():
    found = offending_lines()
    assert not found, "the community.docker.docker connection or *docker_extra_args is back:\n" + "\n".join(found)


# --- the shipped SSH inventories resolve with only the vault password --------------------------------
# Every playbook maps its role's inputs from the webstack_* variables of the inventory: each of them must
# template (the vault decrypted with the example password of inventories/README.md, nothing else given).
# The play runs on the controller only (ansible_connection=local as an extra var): no host is reached.
EXAMPLE_VAULT_PASSWORD = "opskit-example-vault-password"
RESOLVE_PLAY = """
- name: Template every webstack_* variable of the inventory
  hosts: webstack
  gather_facts: false
  tasks:
    - name: Template the variables
      ansible.builtin.set_fact:
        resolved: "{{ dict(names | zip(names | map('extract', vars) | map('string'))) }}"
      vars:
        names: "{{ query('ansible.builtin.varnames', '^webstack_') | sort }}"

    - name: Write them down
      ansible.builtin.copy:
        content: "{{ resolved | to_json }}"
        dest: "{{ out_dir }}/{{ inventory_hostname }}.json"
        mode: "0600"
"""


@pytest.mark.parametrize("inventory", ["prod", "staging"])
def test_shipped_inventory_resolves_with_the_vault_password_only(inventory, tmp_path):
    play = tmp_path / "resolve.yml"
    play.write_text(RESOLVE_PLAY)
    password = tmp_path / "vault-password"
    password.write_text(EXAMPLE_VAULT_PASSWORD + "\n")
    run = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), str(play), "-i", str(ROOT / "inventories" / inventory),
         "--vault-password-file", str(password), "-e", "ansible_connection=local", "-e", "ansible_python_interpreter=" + sys.executable,
         "-e", "ansible_become=false", "-e", f"out_dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "HOME": str(tmp_path), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
             "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp")},
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    found = [json.loads(path.read_text()) for path in sorted(tmp_path.glob("*.json"))]
    hosts = (ROOT / "inventories" / inventory / "hosts.yml").read_text().count(".example.internal:")
    assert len(found) == hosts, run.stdout[-3000:]
    for resolved in found:
        for name in ("webstack_project_name", "webstack_project_dir", "webstack_db_name", "webstack_db_password",
                     "webstack_redis_password", "webstack_backup_dir", "webstack_release_dir", "webstack_health_url"):
            assert resolved.get(name), f"{inventory}: {name} is empty or missing: {resolved}"
