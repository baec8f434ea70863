"""Fixtures of the end-to-end tests (helpers in ``_stack.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import docker
import pytest
from _stack import IMAGES, PROJECT_DIR, ROOT, Release, Stack

# The bounded load generator of the rollout benchmark (benchmarks/loadgen.py) drives the tests' load.
sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.fixture(scope="session", autouse=True)
def _images_present() -> None:
    client = docker.from_env()
    try:
        missing = [image for image in IMAGES if not client.images.list(name=image)]
    finally:
        client.close()
    if missing or not (PROJECT_DIR / "compose.yml").exists():
        pytest.fail(f"the e2e tests need the example stack and its images (make images); missing: {missing}", pytrace=False)


@pytest.fixture
def release_factory(tmp_path: Path):
    """Make a Release over new stacks; every stack is torn down after the test."""
    made: list[Release] = []

    def make(stacks: list[tuple[str, int]], group_vars: dict | None = None) -> Release:
        release = Release(tmp_path, [Stack(name, port, tmp_path) for name, port in stacks], group_vars)
        release.down()  # leftovers of an interrupted earlier run
        for stack in release.stacks:
            for path in (stack.state_dir, stack.release_dir, stack.backup_dir):
                path.mkdir(parents=True, exist_ok=True)
        made.append(release)
        return release

    yield make
    for release in made:
        release.down()
