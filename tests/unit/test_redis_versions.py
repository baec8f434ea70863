"""The eviction policies a server accepts, read from the server (_redis_memory.server_policies).

Pure parsing of the refusals Redis 7, Redis 8 and Valkey 8 give to a policy they do not have, and
the probe against a stand-in client; the real servers are exercised by the Molecule matrix
(molecule/redis_tuning on opskit/redis:7, opskit/redis:8 and opskit/valkey:8).
"""

from __future__ import annotations

import pytest
from ansible_collections.opskit.webstack.plugins.module_utils import _redis_memory as rm

REFUSAL = (
    "CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: "
    "volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
)


class Refused(Exception):
    pass


class Client:
    def __init__(self, answer):
        self.answer = answer
        self.calls = []

    def config_set(self, name, value):
        self.calls.append((name, value))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (REFUSAL, ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu",
                   "allkeys-random", "noeviction")),
        # A newer server with a policy 7 does not have: taken as the server says.
        (REFUSAL + ", allkeys-lrm", ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru",
                                     "allkeys-lfu", "allkeys-random", "noeviction", "allkeys-lrm")),
        ("ERR Unsupported CONFIG parameter: maxmemory-policy", None),
        ("", None),
    ],
)
def test_parse_policies(message, expected):
    assert rm.parse_policies(message) == expected


def test_server_policies_reads_the_refusal_and_changes_nothing():
    client = Client(Refused(REFUSAL))
    assert "allkeys-lfu" in rm.server_policies(client, Refused)
    assert client.calls == [("maxmemory-policy", rm.PROBE_POLICY)]


def test_server_policies_when_the_server_does_not_say():
    assert rm.server_policies(Client(Refused("NOPERM this user has no permissions")), Refused) is None


def test_desired_config_takes_the_servers_policies():
    policies = rm.parse_policies(REFUSAL + ", allkeys-lrm")
    assert rm.desired_config(None, "allkeys-lrm", {}, None, policies) == {"maxmemory-policy": "allkeys-lrm"}
    with pytest.raises(rm.RedisMemoryError, match="'allkeys-lur' is not one of volatile-lru, volatile-lfu"):
        rm.desired_config(None, "allkeys-lur", {}, None, policies)
    # Without the server's list, Redis 7's.
    with pytest.raises(rm.RedisMemoryError, match="allkeys-lrm"):
        rm.desired_config(None, "allkeys-lrm", {}, None)


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"redis_version": "7.0.15"}, "no"),
        ({"redis_version": "8.0.2"}, "no"),
        # Valkey 8 answers redis_version 7.2.4 for its clients, and names itself in valkey_version.
        ({"redis_version": "7.2.4", "valkey_version": "8.1.1"}, "yes"),
        ({"redis_version": "7.2.4", "valkey_version": "7.2.5"}, "no"),
        ({}, "no"),
    ],
)
def test_defaults_for_each_server(info, expected):
    defaults = rm.defaults_for(info)
    assert defaults["lazyfree-lazy-eviction"] == expected
    assert defaults["replica-lazy-flush"] == expected
    assert defaults["maxmemory-policy"] == "noeviction"


def test_file_out_of_sync_with_valkeys_defaults():
    # Valkey 8's CONFIG REWRITE leaves lazyfree-lazy-eviction yes out of the file: its default.
    desired = {"maxmemory": "50331648", "lazyfree-lazy-eviction": "yes"}
    file_values = {"maxmemory": "48mb"}
    assert rm.file_out_of_sync(desired, file_values) == ["lazyfree-lazy-eviction"]
    assert rm.file_out_of_sync(desired, file_values, rm.defaults_for({"valkey_version": "8.1.1"})) == []
    # ... and an absent "no" is out of sync there.
    assert rm.file_out_of_sync({"lazyfree-lazy-eviction": "no"}, {}, rm.defaults_for({"valkey_version": "8.1.1"})) == ["lazyfree-lazy-eviction"]
