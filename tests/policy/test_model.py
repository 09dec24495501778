"""Policy schema: the shipped example validates; errors name the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from router.errors import PolicyError
from router.policy.loader import load_policy, parse_policy
from tests.support import policy_dict

ROOT = Path(__file__).resolve().parents[2]


def _problems(policy: dict) -> list[str]:
    with pytest.raises(PolicyError) as ei:
        parse_policy(yaml.safe_dump(policy), env={})
    return ei.value.problems


def test_shipped_policy_is_valid_and_prices_resolve() -> None:
    loaded = load_policy(ROOT / "policies.yaml", env={})
    p = loaded.policy
    assert [t.name for t in p.tiers] == ["small", "large", "frontier"]
    assert all(b.price is not None for t in p.tiers for b in t.backends)
    # litellm has no price for claude-sonnet-4-20250514 under its plain name: the policy's wins
    assert loaded.price_sources["frontier/anthropic/claude-sonnet-4-20250514"] == "policy"
    # keys named by env vars that are unset are reported, not fatal
    assert any("SUPPORT_BOT_KEY" in w for w in loaded.warnings)


def test_litellm_price_defaults_to_litellms_cost_map() -> None:
    pol = policy_dict(small=["http://127.0.0.1:1"], frontier={"model": "openai/gpt-4o"})
    loaded = parse_policy(yaml.safe_dump(pol), env={})
    b = loaded.policy.tier("frontier").backends[0]
    assert loaded.price_sources["frontier/openai/gpt-4o"] == "litellm cost map"
    assert b.price is not None and b.price.input_per_mtok == pytest.approx(2.5)


def test_missing_price_names_the_backend() -> None:
    pol = policy_dict(small=["http://127.0.0.1:1"], frontier={"model": "anthropic/claude-sonnet-4-20250514"})
    [problem] = _problems(pol)
    assert problem.startswith("tiers[1] (frontier).backends[0].price:")
    assert "claude-sonnet-4-20250514" in problem


@pytest.mark.parametrize("mutate, where", [
    (lambda p: p["tiers"][0].pop("context_tokens"), "tiers[0] (small).context_tokens"),
    (lambda p: p["tiers"][0]["backends"][0].update(replicas=["not a url"]), "tiers[0] (small).backends[0].replicas[0]"),
    (lambda p: p["tiers"][0]["backends"][0].update(kind="vllm"), "tiers[0] (small).backends[0]"),
    (lambda p: p["tiers"][1].update(name="small"), "duplicate tier names"),
    (lambda p: p["routing"]["auto"][0].update(tier="nope"), "routing.auto[0].tier: unknown tier 'nope'"),
    (lambda p: p["routing"].update(auto=[{"tier": "small", "below": 0.6}, {"tier": "small", "below": 0.4},
                                         {"tier": "large"}]), "routing.auto: `below` bounds must increase"),
    (lambda p: p["routing"].update(auto=[{"tier": "large", "below": 0.6}, {"tier": "small"}]),
     "tiers must go from cheaper to stronger"),
    (lambda p: p["routing"].update(colour="blue"), "routing.colour"),
    (lambda p: p["tiers"][0]["price"].update(input_per_mtok=-1), "tiers[0] (small).price.input_per_mtok"),
    (lambda p: p.update(auth={"client_keys": [{"name": "a"}]}), "auth.client_keys[0]"),
    (lambda p: p.update(auth={"client_keys": [{"name": "a", "key_env": "K", "tiers": ["gold"]}]}),
     "auth.client_keys[0].tiers: unknown tier 'gold'"),
    (lambda p: p["tiers"][1]["backends"][0].update(model="small"), "clashes with a tier name"),
])
def test_errors_name_the_field(mutate, where: str) -> None:
    pol = policy_dict(small=["http://127.0.0.1:1"], large=["http://127.0.0.1:2"])
    mutate(pol)
    problems = _problems(pol)
    assert any(where in p for p in problems), problems


def test_not_yaml_and_not_a_mapping() -> None:
    with pytest.raises(PolicyError, match="not valid YAML"):
        parse_policy("tiers: [unclosed", env={})
    with pytest.raises(PolicyError, match="must be a mapping"):
        parse_policy("- a\n- b\n", env={})


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")


def test_the_example_says_context_tokens_is_required() -> None:
    """Issue 13: every tier must have context_tokens, and the example did not say so."""
    from router.policy.model import Tier

    assert Tier.model_fields["context_tokens"].is_required()
    text = (ROOT / "policies.yaml").read_text()
    assert re.search(r"#\s*context_tokens is required on every tier", text)
