"""routing.on_unhealthy: where auto traffic goes when its tier is down (up | down | fail)."""

from __future__ import annotations

import pytest
import yaml

from router.errors import NoHealthyReplica, PolicyError
from router.policy.decide import Target, decide
from router.policy.loader import parse_policy
from tests.support import policy_dict


def _policy(on_unhealthy: str | None):
    routing = {} if on_unhealthy is None else {"on_unhealthy": on_unhealthy}
    pol = policy_dict(small=["http://127.0.0.1:1"], large=["http://127.0.0.1:2"],
                      frontier={"model": "openai/gpt-4o", "api_key_env": "K"}, **routing)
    return parse_policy(yaml.safe_dump(pol), env={}).policy


def _auto(policy, score: float, healthy: set[str]):
    return decide(policy, Target("auto", None, None), score=score, needed_tokens=10, allowed_tiers=None,
                  healthy_tiers=healthy, cuts=(0.5, 0.8))


def test_up_is_the_default_and_keeps_the_other_tiers_as_fallbacks() -> None:
    d = _auto(_policy(None), 0.6, {"small", "frontier"})  # large is down
    assert (d.tier, d.reason, d.fallbacks) == ("frontier", "fallback_unhealthy", ("small",))
    d = _auto(_policy("up"), 0.6, {"small", "large", "frontier"})
    assert (d.tier, d.fallbacks) == ("large", ("frontier", "small"))


def test_down_prefers_the_cheaper_tier() -> None:
    d = _auto(_policy("down"), 0.6, {"small", "frontier"})
    assert (d.tier, d.reason, d.fallbacks) == ("small", "fallback_unhealthy", ("frontier",))
    d = _auto(_policy("down"), 0.1, {"large", "frontier"})  # nothing cheaper than small: then up
    assert d.tier == "large"


def test_fail_answers_503_and_has_no_fallbacks() -> None:
    with pytest.raises(NoHealthyReplica):
        _auto(_policy("fail"), 0.6, {"small", "frontier"})
    assert _auto(_policy("fail"), 0.6, {"small", "large", "frontier"}).fallbacks == ()


def test_invalid_value_is_refused() -> None:
    with pytest.raises(PolicyError, match="on_unhealthy"):
        _policy("sideways")
