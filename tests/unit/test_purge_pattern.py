"""A purge pattern that can match every key, in any glob spelling, needs confirm_all (issue 13 item 11)."""

from __future__ import annotations

import pytest
from ansible_collections.opskit.webstack.plugins.module_utils import _rediskeys as rk


@pytest.mark.parametrize(
    "pattern",
    ["*", "**", "?*", "*?", "??*", "[^x]*", "*[^:]*", "[a-z]*", "[^]*", "*[ab]*", "[\\x00-\\xff]*"],
)
def test_patterns_that_can_match_every_key(pattern):
    assert rk.matches_everything(pattern) is True


@pytest.mark.parametrize("pattern", ["", "?", "??", "a*", "user:*", "*:*", "[*]", "[*]*", "\\**", "[u]*", "*x"])
def test_patterns_anchored_to_some_keys(pattern):
    assert rk.matches_everything(pattern) is False
