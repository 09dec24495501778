"""Keys → principals, admin key (rate limits and budgets: tests/test_limits.py)."""

from __future__ import annotations

import hashlib

import pytest
import yaml

from router.auth import ANONYMOUS, KeyRing, bearer
from router.errors import Unauthorized
from router.policy.loader import parse_policy
from tests.support import policy_dict


def _policy(keys: list[dict] | None = None):
    pol = policy_dict(small=["http://127.0.0.1:1"], large=["http://127.0.0.1:2"])
    if keys is not None:
        pol["auth"] = {"client_keys": keys}
    return parse_policy(yaml.safe_dump(pol), env={}).policy


def test_bearer_and_x_api_key() -> None:
    assert bearer({"authorization": "Bearer sk-1"}) == "sk-1"
    assert bearer({"authorization": "bearer  sk-2 "}) == "sk-2"
    assert bearer({"authorization": "Basic abc"}) is None
    assert bearer({"x-api-key": "sk-3"}) == "sk-3"
    assert bearer({}) is None


def test_no_keys_means_local_anonymous() -> None:
    ring = KeyRing(_policy(), env={})
    assert not ring.has_client_keys
    assert ring.client(None) is ANONYMOUS
    ring.admin(None)  # open on a keyless, loopback-only proxy


def test_policy_and_env_keys() -> None:
    digest = hashlib.sha256(b"sk-hashed").hexdigest()
    ring = KeyRing(_policy([{"name": "bot", "key_env": "BOT_KEY", "tiers": ["small"], "requests_per_minute": 5},
                            {"name": "ops", "key_sha256": digest}]),
                   env={"BOT_KEY": "sk-bot", "TIERROUTE_API_KEYS": "sk-a, sk-b", "TIERROUTE_ADMIN_KEY": "adm"})
    bot = ring.client("sk-bot")
    assert bot.name == "bot" and bot.tiers == frozenset({"small"}) and bot.requests_per_minute == 5
    assert ring.client("sk-hashed").name == "ops"
    assert ring.client("sk-b").tiers is None
    for wrong in (None, "", "sk-bo", "sk-bot "):
        with pytest.raises(Unauthorized) as ei:
            ring.client(wrong)
        assert "sk-bot" not in ei.value.message  # keys never echo back
    ring.admin("adm")
    with pytest.raises(Unauthorized):
        ring.admin("sk-bot")


def test_admin_disabled_without_admin_key_when_clients_have_keys() -> None:
    ring = KeyRing(_policy(), env={"TIERROUTE_API_KEYS": "sk-a"})
    with pytest.raises(Unauthorized, match="TIERROUTE_ADMIN_KEY"):
        ring.admin("sk-a")


def test_unset_key_env_disables_only_that_key() -> None:
    ring = KeyRing(_policy([{"name": "bot", "key_env": "BOT_KEY"}]), env={})
    assert ring.has_client_keys  # still not an open proxy
    with pytest.raises(Unauthorized):
        ring.client("anything")
