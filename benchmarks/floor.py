# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The floor every Ansible-run step pays: ansible-playbook running one module call that does nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def ansible_noop(runs: int = 3) -> float:
    """Median seconds of ``ansible-playbook benchmarks/noop.yml`` with the project's ansible.cfg."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), PATH=f"{BIN}:{os.environ['PATH']}")
    times = []
    for _ in range(runs):
        start = time.monotonic()
        subprocess.run([str(BIN / "ansible-playbook"), str(ROOT / "benchmarks" / "noop.yml")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
        times.append(time.monotonic() - start)
    return sorted(times)[len(times) // 2]


def load_average(start: tuple[float, float, float] | None = None) -> dict:
    """The machine's load average (1, 5, 15 min) now, and at ``start`` if given, with its CPU count.

    Printed in every benchmark's JSON: the figures of a run on a busy machine are read beside it.
    """
    now = [round(x, 2) for x in os.getloadavg()]
    out = {"cpus": os.cpu_count(), "end": now}
    if start is not None:
        out["start"] = [round(x, 2) for x in start]
    return out
