"""Make ``ansible_collections.opskit.webstack`` importable from this checkout.

`make venv` links ``.collections/ansible_collections/opskit/webstack`` to the repository root;
the unit tests import the modules and module_utils through that name, as Ansible does.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / ".collections"
if not (COLLECTIONS / "ansible_collections" / "opskit" / "webstack").exists():
    raise RuntimeError("run `make venv` first: .collections/ansible_collections/opskit/webstack is missing")
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
