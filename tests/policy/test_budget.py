"""Issue 10, point 7: key limits and budgets in the policy schema, and the pure budget decision."""

from __future__ import annotations

import pytest
import yaml

from router.errors import ContextLengthExceeded, Forbidden, NoHealthyReplica, PolicyError
from router.policy.decide import Target, decide
from router.policy.loader import parse_policy
from tests.support import policy_dict

ALL = frozenset({"small", "large", "frontier"})


def _policy(keys: list[dict] | None = None):
    pol = policy_dict(small=["http://127.0.0.1:1"], large=["http://127.0.0.1:2"],
                      frontier={"model": "openai/gpt-4o", "api_key_env": "K"})
    if keys is not None:
        pol["auth"] = {"client_keys": keys}
    return parse_policy(yaml.safe_dump(pol), env={}).policy


def _problems(keys: list[dict]) -> str:
    with pytest.raises(PolicyError) as ei:
        _policy(keys)
    return "; ".join(ei.value.problems)


def test_limits_and_budgets_parse() -> None:
    p = _policy([{"name": "bot", "key_env": "BOT", "requests_per_minute": 60, "tokens_per_minute": 10_000,
                  "budget": {"usd_per_day": 5, "usd_per_month": 100, "on_exhausted": "downgrade"}},
                 {"name": "app", "key_env": "APP", "budget": {"usd_per_month": 20}}])
    bot, app = p.auth.client_keys
    assert (bot.tokens_per_minute, bot.budget.usd_per_day, bot.budget.on_exhausted) == (10_000, 5, "downgrade")
    assert app.budget is not None and app.budget.on_exhausted == "refuse"  # the default


@pytest.mark.parametrize("key, words", [
    ({"budget": {}}, "a budget needs usd_per_day, usd_per_month or both"),
    ({"budget": {"usd_per_day": 1, "on_exhausted": "shrug"}}, "on_exhausted"),
    ({"budget": {"usd_per_day": -1}}, "usd_per_day"),
    ({"budget": {"usd_per_day": 1, "per_week": 3}}, "per_week"),
    ({"tokens_per_minute": 0}, "tokens_per_minute"),
])
def test_bad_limits_are_named(key: dict, words: str) -> None:
    assert words in _problems([{"name": "bot", "key_env": "BOT", **key}])


def test_duplicate_key_names_are_refused() -> None:
    text = _problems([{"name": "bot", "key_env": "A"}, {"name": "bot", "key_env": "B"}])
    assert "duplicate names ['bot']" in text


def test_budget_downgrade_takes_the_cheapest_allowed_tier() -> None:
    p = _policy()
    d = decide(p, Target("auto", None, None), score=0.95, needed_tokens=10, allowed_tiers=None, healthy_tiers=ALL,
               cuts=(0.5, 0.8), budget_exhausted=True)
    assert (d.tier, d.reason, d.score, d.fallbacks) == ("small", "budget", 0.95, ("large", "frontier"))
    d = decide(p, Target("auto", None, None), score=0.95, needed_tokens=10, allowed_tiers={"large", "frontier"},
               healthy_tiers=ALL, cuts=(0.5, 0.8), budget_exhausted=True)
    assert (d.tier, d.reason) == ("large", "budget")  # the cheapest this key may use
    d = decide(p, Target("auto", None, None), score=0.95, needed_tokens=10, allowed_tiers=None,
               healthy_tiers={"large", "frontier"}, cuts=(0.5, 0.8), budget_exhausted=True)
    assert d.tier == "large"  # the cheapest healthy one
    d = decide(p, Target("auto", None, None), score=0.1, needed_tokens=10_000, allowed_tiers=None,
               healthy_tiers=ALL, cuts=(0.5, 0.8), budget_exhausted=True)
    assert d.tier == "large"  # the cheapest that fits the prompt (small: 4096 tokens)
    # without the flag, the same request goes where its score says
    assert decide(p, Target("auto", None, None), score=0.95, needed_tokens=10, allowed_tiers=None,
                  healthy_tiers=ALL, cuts=(0.5, 0.8)).tier == "frontier"


def test_budget_downgrade_of_a_named_tier_or_model() -> None:
    p = _policy()
    for target in (Target("tier", "frontier", None), Target("tier", "frontier", None, by_header=True),
                   Target("model", "frontier", "openai/gpt-4o")):
        d = decide(p, target, score=None, needed_tokens=10, allowed_tiers=None, healthy_tiers=(),
                   budget_exhausted=True)
        assert (d.tier, d.reason) == ("small", "budget")
    with pytest.raises(Forbidden):  # a tier the key may not use is still refused
        decide(p, Target("tier", "frontier", None), score=None, needed_tokens=10, allowed_tiers={"small"},
               healthy_tiers=(), budget_exhausted=True)


def test_budget_downgrade_errors() -> None:
    p = _policy()
    with pytest.raises(NoHealthyReplica):
        decide(p, Target("auto", None, None), score=0.2, needed_tokens=10, allowed_tiers=None, healthy_tiers=(),
               cuts=(0.5, 0.8), budget_exhausted=True)
    with pytest.raises(ContextLengthExceeded):
        decide(p, Target("auto", None, None), score=0.2, needed_tokens=10_000_000, allowed_tiers=None,
               healthy_tiers=ALL, cuts=(0.5, 0.8), budget_exhausted=True)
