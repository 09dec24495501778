"""Tier decisions: pure function of policy, target, score, key limits and tier health."""

from __future__ import annotations

import pytest
import yaml

from router.errors import BadRequest, ContextLengthExceeded, Forbidden, NoHealthyReplica, NotFound
from router.policy.decide import Target, decide, resolve_target, tier_for_score
from router.policy.loader import parse_policy
from tests.support import policy_dict

ALL = frozenset({"small", "large", "frontier"})


@pytest.fixture(scope="module")
def policy():
    pol = policy_dict(small=["http://127.0.0.1:1"], large=["http://127.0.0.1:2"],
                      frontier={"model": "openai/gpt-4o", "api_key_env": "K"})
    return parse_policy(yaml.safe_dump(pol), env={}).policy


CUTS = (0.5, 0.8)  # the fixture policy's `below` bounds


def auto(policy, score, *, tokens=10, allowed=None, healthy=ALL, floor=None):
    return decide(policy, Target("auto", None, None), score=score, needed_tokens=tokens,
                  allowed_tiers=allowed, healthy_tiers=healthy, cuts=CUTS, floor=floor)


def test_resolve_target(policy) -> None:
    assert resolve_target(policy, "auto").kind == "auto"
    assert resolve_target(policy, "large") == Target("tier", "large", None)
    assert resolve_target(policy, "sim-small") == Target("model", "small", "sim-small")
    # litellm models answer to their full string and to the name without the provider prefix
    assert resolve_target(policy, "gpt-4o") == Target("model", "frontier", "openai/gpt-4o")
    assert resolve_target(policy, "openai/gpt-4o") == Target("model", "frontier", "openai/gpt-4o")
    with pytest.raises(NotFound) as ei:
        resolve_target(policy, "gpt-5")
    assert ei.value.status == 404 and ei.value.param == "model"


def test_tier_header(policy) -> None:
    assert resolve_target(policy, "auto", "large") == Target("tier", "large", None, by_header=True)
    assert resolve_target(policy, "small", "frontier") == Target("tier", "frontier", None, by_header=True)
    assert resolve_target(policy, "sim-large", "large") == Target("model", "large", "sim-large")
    with pytest.raises(BadRequest, match="served by tier 'large'"):
        resolve_target(policy, "sim-large", "small")
    with pytest.raises(NotFound, match="unknown tier"):
        resolve_target(policy, "auto", "gold")


def test_tier_header_ignored_when_disallowed() -> None:
    pol = policy_dict(small=["http://127.0.0.1:1"], large=["http://127.0.0.1:2"], allow_tier_header=False)
    p = parse_policy(yaml.safe_dump(pol), env={}).policy
    assert resolve_target(p, "auto", "large").kind == "auto"
    assert resolve_target(p, "small", "large") == Target("tier", "small", None)  # not "pinned by header"


@pytest.mark.parametrize("score, tier", [(0.0, "small"), (0.49, "small"), (0.5, "large"), (0.79, "large"),
                                         (0.8, "frontier"), (1.0, "frontier")])
def test_score_ranges(policy, score: float, tier: str) -> None:
    assert tier_for_score(policy, score, CUTS) == tier
    d = auto(policy, score)
    assert (d.tier, d.reason, d.score, d.base_tier) == (tier, "auto", score, tier)


def test_context_escalation(policy) -> None:
    d = auto(policy, 0.1, tokens=5000)  # small allows 4096
    assert (d.tier, d.reason, d.base_tier) == ("large", "context_escalation", "small")
    d = auto(policy, 0.1, tokens=100_000)
    assert d.tier == "frontier"
    with pytest.raises(ContextLengthExceeded):
        auto(policy, 0.1, tokens=300_000)


def test_key_limits(policy) -> None:
    d = auto(policy, 0.9, allowed={"small", "large"})  # frontier not allowed: the strongest allowed below
    assert (d.tier, d.reason) == ("large", "key_limit")
    d = auto(policy, 0.1, allowed={"large"})  # up first
    assert (d.tier, d.reason) == ("large", "key_limit")
    with pytest.raises(Forbidden):
        decide(policy, Target("tier", "frontier", None), score=None, needed_tokens=1,
               allowed_tiers={"small"}, healthy_tiers=ALL)
    with pytest.raises(Forbidden):
        auto(policy, 0.5, allowed=set())
    with pytest.raises(ContextLengthExceeded, match="largest tier available to it allows 4096"):
        auto(policy, 0.1, tokens=5000, allowed={"small"})


def test_unhealthy_tier_falls_back_upwards_then_down(policy) -> None:
    d = auto(policy, 0.1, healthy={"large", "frontier"})
    assert (d.tier, d.reason) == ("large", "fallback_unhealthy")
    d = auto(policy, 0.9, healthy={"small"})
    assert (d.tier, d.reason) == ("small", "fallback_unhealthy")
    with pytest.raises(NoHealthyReplica):
        auto(policy, 0.1, healthy=set())


def test_pins_never_move(policy) -> None:
    d = decide(policy, Target("tier", "small", None, by_header=True), score=None, needed_tokens=10,
               allowed_tiers=None, healthy_tiers=set())
    assert (d.tier, d.reason) == ("small", "header")  # unhealthy pin is the picker's 503, not a move
    with pytest.raises(ContextLengthExceeded):
        decide(policy, Target("model", "small", "sim-small"), score=None, needed_tokens=5000,
               allowed_tiers=None, healthy_tiers=ALL)


def test_conversation_floor_holds_and_escalates(policy) -> None:
    d = auto(policy, 0.1, floor="large")  # a later, easier turn stays on the conversation's tier
    assert (d.tier, d.reason, d.base_tier) == ("large", "sticky", "small")
    d = auto(policy, 0.9, floor="large")  # a harder turn moves up
    assert (d.tier, d.reason) == ("frontier", "auto")
    d = auto(policy, 0.6, floor="small")  # a floor below the score's tier changes nothing
    assert (d.tier, d.reason) == ("large", "auto")
    d = auto(policy, 0.1, floor="large", healthy={"small", "frontier"})  # the held tier is down: up, not down
    assert (d.tier, d.reason) == ("frontier", "fallback_unhealthy")


def test_cuts_come_from_the_caller(policy) -> None:
    d = decide(policy, Target("auto", None, None), score=0.3, needed_tokens=1, allowed_tiers=None,
               healthy_tiers=ALL, cuts=(0.2, 0.25))
    assert d.tier == "frontier"
