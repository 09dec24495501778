"""Task routes (issue 13, point 4): routing.rules, validated and matched in order, and the decision."""

from __future__ import annotations

import pytest
import yaml

from classifiers.task import detect_task
from router.errors import PolicyError
from router.policy.decide import Target, decide
from router.policy.loader import parse_policy
from router.policy.routing import matching_rule
from tests.support import policy_dict

ALL = ("small", "large", "frontier")
FACTS = {"task": "other", "tools": False, "json": False, "images": False, "prompt_tokens": 10, "key": "app"}


def policy_with(rules, **extra):
    pol = policy_dict(small=["http://s:1"], large=["http://l:1"], frontier={"model": "openai/gpt-4o"})
    pol["routing"]["rules"] = rules
    pol.update(extra)
    return parse_policy(yaml.safe_dump(pol), env={}).policy


RULES = [{"name": "code", "when": {"task": "code"}, "tier": "large"},
         {"name": "long-json", "when": {"json": True, "min_prompt_tokens": 1000}, "tier": "frontier"},
         {"name": "tools", "when": {"tools": True}, "tier": "small"}]


def test_rules_match_in_order() -> None:
    rules = policy_with(RULES).routing.rules
    assert matching_rule(rules, FACTS) is None
    assert matching_rule(rules, {**FACTS, "task": "code", "tools": True}).name == "code"
    assert matching_rule(rules, {**FACTS, "json": True, "prompt_tokens": 999}) is None
    assert matching_rule(rules, {**FACTS, "json": True, "prompt_tokens": 1000}).name == "long-json"
    assert matching_rule(rules, {**FACTS, "tools": True}).name == "tools"


@pytest.mark.parametrize("rules,message", [
    ([{"name": "x", "when": {"task": "code"}, "tier": "huge"}], "routing.rules[0].tier: unknown tier 'huge'"),
    ([{"name": "x", "when": {}, "tier": "small"}], "at least one condition"),
    ([{"name": "x", "when": {"task": "poetry"}, "tier": "small"}], "task"),
    ([{"name": "x", "when": {"keys": ["nobody"]}, "tier": "small"}], "no client key named 'nobody'"),
    ([{"name": "x", "when": {"tools": True}, "tier": "small"},
      {"name": "x", "when": {"images": True}, "tier": "large"}], "'x' is used twice"),
])
def test_bad_rules_are_refused_naming_the_field(rules, message: str) -> None:
    with pytest.raises(PolicyError) as e:
        policy_with(rules)
    assert message in str(e.value.problems)


def test_a_rule_replaces_the_score_and_says_so() -> None:
    p = policy_with(RULES)
    rule = p.routing.rules[0]
    d = decide(p, Target("auto", None, None), score=None, needed_tokens=10, allowed_tiers=None, healthy_tiers=ALL,
               cuts=(0.5, 0.8), rule=rule)
    assert (d.tier, d.reason, d.base_tier) == ("large", "rule:code", "large")
    d = decide(p, Target("auto", None, None), score=None, needed_tokens=10, allowed_tiers=None,
               healthy_tiers=("small", "frontier"), cuts=(0.5, 0.8), rule=rule)
    assert (d.tier, d.reason) == ("frontier", "fallback_unhealthy")  # its tier down: on_unhealthy, as for scores


@pytest.mark.parametrize("text,task", [
    ("Write a python function to count inversions in an array.", "code"),
    ("```js\nconst x = 1;\n```\nwhy does this fail?", "code"),
    ("Natalia sold clips to 48 of her friends in April. How many clips did she sell?", "math"),
    ("Solve $x^2 - 4 = 0$.", "math"),
    ("What are some famous actors that started on Broadway?", "other"),
])
def test_task_detector_examples(text: str, task: str) -> None:
    assert detect_task(text) == task
