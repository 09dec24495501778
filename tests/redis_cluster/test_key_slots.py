"""Redis Cluster's slot rule: every key one script or multi-key command touches hashes to one slot.

The key sets are the ones the stores build for each call (router/balance/redis_affinity.py,
router/redis_limits.py), for several tiers, replicas and keys; the scripts name every key they touch
in ``KEYS`` (none is built inside Lua, where a client could not see it to route the call).
"""

from __future__ import annotations

import re

import pytest
from redis.crc import key_slot

from router.balance import redis_affinity
from router.balance.redis_affinity import choose_keys, finish_keys, key_prefix
from router.limits import period
from router.policy.model import _NAME
from router.redis_limits import _ADMIT, _CHARGE, redis_keys

TIERS = ["small", "large", "frontier", "t-1.b_2", "0"]
REPLICAS = [["sglang http://10.0.0.1:30000 qwen"], ["r1", "r2", "r3", "r4"],
            [f"sglang http://pod-{i}.svc:30000 m" for i in range(16)]]
KEY_NAMES = ["support-bot", "ci", "a.b-c_d", "0"]
SCRIPTS = {"CHOOSE": redis_affinity._CHOOSE, "FINISH": redis_affinity._FINISH,
           "FILLING": redis_affinity._FILLING, "ADMIT": _ADMIT, "CHARGE": _CHARGE}


def slots(keys: list[str]) -> set[int]:
    return {key_slot(k.encode()) for k in keys}


@pytest.mark.parametrize("tier", TIERS)
def test_every_affinity_call_touches_one_slot(tier: str) -> None:
    fill = key_prefix(tier) + "fill:"
    for replicas in REPLICAS:
        keys = choose_keys(tier, replicas)
        assert len(keys) == 3 * len(replicas) and len(slots(keys)) == 1, keys
        for r in replicas:
            assert slots(finish_keys(tier, r)) == slots(keys)  # FINISH
            assert slots([fill + r]) == slots(keys)  # FILLING, the ZREM of prefill marks
            assert slots([key_prefix(tier) + "lease:" + r]) == slots(keys)  # lease renewal (one key per command)


def test_tiers_spread_over_slots() -> None:
    tier_slots = {key_slot(choose_keys(t, ["r"])[0].encode()) for t in TIERS}
    assert len(tier_slots) == len(TIERS)  # one slot per tier, not one for all: a cluster spreads tiers


@pytest.mark.parametrize("name", KEY_NAMES)
def test_every_limits_call_touches_one_slot(name: str) -> None:
    for ts in (1_700_000_000.0, 1_701_388_799.0, 1_704_067_200.0):  # mid-month, a month's last second, a new year
        keys = redis_keys(name, period(ts))
        assert len(keys) == 3 and len(slots(keys)) == 1, keys  # ADMIT and CHARGE take all three


def test_the_hash_tags_are_whole_names() -> None:
    """A tag is the text between the first ``{`` and the next ``}``: names without braces are their own tag,
    and the policy accepts no other tier or key name."""
    for name in TIERS + KEY_NAMES:
        assert re.match(_NAME, name)
        assert key_slot(key_prefix(name).encode()) == key_slot(name.encode())
        assert key_slot(redis_keys(name, period(0.0))[0].encode()) == key_slot(name.encode())
    for bad in ("", "a{b", "a}b", "A"):
        assert not re.match(_NAME, bad)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_scripts_build_no_key_inside_lua(name: str) -> None:
    source = SCRIPTS[name]
    assert "KEYS[" in source or name == "CHOOSE"
    assert not re.search(r"\bprefix\s*\.\.", source)  # keys come in KEYS, not from a prefix in ARGV
    assert not re.search(r"'(lru|lease|fill|rate|usd|day|month):'", source), "a key part is built in Lua"
    if name == "CHOOSE":  # its KEYS are per candidate, three each
        assert "KEYS[3 * j - 2]" in source and "KEYS[3 * j - 1]" in source and "KEYS[3 * j]" in source
