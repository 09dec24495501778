"""Per-request steering: min_tier, max_tier, max_cost_usd (pure parts)."""

from __future__ import annotations

import pytest

from router.errors import BadRequest
from router.policy.decide import Target, decide
from router.policy.loader import parse_policy
from router.policy.model import Policy
from router.policy.steer import Steer, estimated_costs, steer_of, steered_tiers
from tests.support import policy_dict

ALL = ("small", "large", "frontier")


@pytest.fixture
def policy() -> Policy:
    import yaml

    pol = policy_dict(small=["http://s:1"], large=["http://l:1"], frontier={"model": "openai/gpt-4o"})
    pol["tiers"][2]["price"] = {"input_per_mtok": 2.5, "output_per_mtok": 10}
    return parse_policy(yaml.safe_dump(pol), env={}).policy


def steered(policy: Policy, steer: Steer, prompt: int = 1000, out: int = 1000):
    return steered_tiers(policy, steer, estimated_costs(policy, prompt, out))


def test_steer_of_reads_body_and_headers_and_checks_them(policy: Policy) -> None:
    assert steer_of(policy, {"model": "auto"}, {}) is None
    assert steer_of(policy, {"max_tier": "large"}, {}) == Steer(None, "large", None)
    assert steer_of(policy, {"max_tier": "large"}, {"x-tierroute-max-tier": "small"}) == Steer(None, "small", None)
    assert steer_of(policy, {}, {"x-tierroute-max-cost-usd": "0.01"}) == Steer(None, None, 0.01)
    for body, param in (({"max_tier": "huge"}, "max_tier"), ({"min_tier": "frontier", "max_tier": "small"}, "min_tier"),
                        ({"max_cost_usd": 0}, "max_cost_usd"), ({"max_cost_usd": "cheap"}, "max_cost_usd"),
                        ({"max_cost_usd": True}, "max_cost_usd")):
        with pytest.raises(BadRequest) as e:
            steer_of(policy, body, {})
        assert e.value.param == param


def test_bounds_and_cost_pick_the_tiers_inside(policy: Policy) -> None:
    assert steered(policy, Steer("large", None, None))[0] == ["large", "frontier"]
    inside, why = steered(policy, Steer(None, None, 0.005))  # frontier: 1000*2.5e-6 + 1000*1e-5 = $0.0125
    assert inside == ["small", "large"] and "estimated $0.012500 > max_cost_usd $0.005" in why["frontier"]


def test_auto_stays_inside_and_says_so(policy: Policy) -> None:
    d = decide(policy, Target("auto", None, None), score=0.95, needed_tokens=10, allowed_tiers=None,
               healthy_tiers=ALL, cuts=(0.5, 0.8), steered=steered(policy, Steer(None, "large", None)))
    assert (d.tier, d.reason, d.base_tier) == ("large", "steered", "frontier")
    d = decide(policy, Target("auto", None, None), score=0.1, needed_tokens=10, allowed_tiers=None,
               healthy_tiers=ALL, cuts=(0.5, 0.8), steered=steered(policy, Steer("large", None, None)))
    assert (d.tier, d.reason) == ("large", "steered")


def test_nothing_inside_or_a_pin_outside_is_a_clear_400(policy: Policy) -> None:
    with pytest.raises(BadRequest, match="small: estimated") as e:
        decide(policy, Target("auto", None, None), score=0.1, needed_tokens=10, allowed_tiers=None,
               healthy_tiers=ALL, cuts=(0.5, 0.8), steered=steered(policy, Steer(None, None, 1e-9)))
    assert e.value.code == "outside_steering_bounds" and e.value.param == "max_cost_usd"
    with pytest.raises(BadRequest, match="frontier: above max_tier 'large'"):
        decide(policy, Target("tier", "frontier", None), score=None, needed_tokens=10, allowed_tiers=None,
               healthy_tiers=(), steered=steered(policy, Steer(None, "large", None)))
