"""No role or playbook hands the controller a docker CLI call.

Everything a role does in a container runs on the target host, against that host's engine, through
opskit.webstack.container_module (``docker exec`` on the host over Ansible's own connection). The
community.docker.docker connection would run the docker CLI on the controller instead, and
``*docker_extra_args`` were its way to reach a remote engine: neither may come back.
"""

from __future__ import annotations

import re
from pathlib import Path

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
