"""Capabilities: what a request needs, what a tier covers, and the decision that follows (pure)."""

from __future__ import annotations

import pytest

from router.errors import BadRequest
from router.policy.capabilities import Capabilities, Caps, clamp_output, combine, context_conflicts, needs_of
from router.policy.decide import Target, decide
from router.policy.model import Policy
from tests.support import policy_dict

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
ALL = ("small", "large", "frontier")


@pytest.fixture
def policy() -> Policy:
    return Policy.model_validate(policy_dict(small=["http://s:1"], large=["http://l:1"],
                                             frontier={"model": "openai/gpt-4o"}))


def auto(policy: Policy, score: float, needs: tuple[str, ...], caps: dict[str, Caps], **kw):
    return decide(policy, Target("auto", None, None), score=score, needed_tokens=10, allowed_tiers=None,
                  healthy_tiers=ALL, cuts=(0.5, 0.8), needs=needs, caps=caps, **kw)


def test_needs_of_finds_images_tools_schema_and_reasoning() -> None:
    assert needs_of({"messages": [{"role": "user", "content": "hi"}]}) == ()
    body = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "x"},
                                                                                          IMAGE]}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
            "reasoning_effort": "high"}
    assert needs_of(body) == ("vision", "tools", "json_schema", "reasoning")
    assert needs_of({"messages": [], "response_format": {"type": "json_object"}, "tools": []}) == ()
    assert needs_of({"messages": [], "functions": [{"name": "f"}], "reasoning_effort": "minimal"}) == ("tools",)


def test_combine_declared_wins_and_every_reporting_backend_must_cover() -> None:
    a = Caps(vision=True, tools=True, max_output_tokens=8000, context_tokens=32000, source="sglang")
    b = Caps(vision=False, tools=True, max_output_tokens=4000, source="litellm")
    c = combine(None, [a, b, None])
    assert (c.vision, c.tools, c.json_schema, c.max_output_tokens, c.context_tokens) == (False, True, None, 4000, 32000)
    assert c.source == "litellm+sglang"
    d = combine(Capabilities(vision=True, max_output_tokens=100), [a, b])
    assert (d.vision, d.tools, d.max_output_tokens, d.source) == (True, True, 100, "policy+litellm+sglang")
    assert combine(None, []) == Caps()


def test_auto_moves_up_to_the_cheapest_tier_that_covers(policy: Policy) -> None:
    caps = {"small": Caps(vision=False, source="sglang"), "large": Caps(vision=False, source="sglang"),
            "frontier": Caps(vision=True, source="litellm")}
    d = auto(policy, 0.1, ("vision",), caps)
    assert (d.tier, d.reason, d.base_tier) == ("frontier", "capability", "small")
    # unknown is able: large reports nothing
    d = auto(policy, 0.1, ("vision",), {**caps, "large": Caps()})
    assert (d.tier, d.reason) == ("large", "capability")
    # the score's own tier covers it: nothing moves
    assert auto(policy, 0.1, ("tools",), caps).tier == "small"
    assert auto(policy, 0.1, (), caps).reason == "auto"


def test_auto_goes_down_when_only_a_cheaper_tier_covers(policy: Policy) -> None:
    caps = {"small": Caps(tools=True), "large": Caps(tools=False), "frontier": Caps(tools=False)}
    d = auto(policy, 0.9, ("tools",), caps)
    assert (d.tier, d.reason, d.fallbacks) == ("small", "capability", ())


def test_no_tier_covers_is_a_400_naming_each_tier(policy: Policy) -> None:
    caps = {t: Caps(vision=False, source="sglang") for t in ALL}
    with pytest.raises(BadRequest, match="no tier this request may use supports image input") as e:
        auto(policy, 0.1, ("vision", "tools"), caps)
    assert e.value.code == "unsupported_capability" and "frontier lacks image input (from sglang)" in e.value.message


def test_pinned_tier_that_lacks_a_need_is_a_400(policy: Policy) -> None:
    caps = {"small": Caps(json_schema=False, source="policy")}
    with pytest.raises(BadRequest, match="tier 'small' does not support JSON-schema output") as e:
        decide(policy, Target("tier", "small", None), score=None, needed_tokens=10, allowed_tiers=None,
               healthy_tiers=(), needs=("json_schema",), caps=caps)
    assert e.value.code == "unsupported_capability"
    # a soft need never refuses a pinned tier
    d = decide(policy, Target("tier", "small", None), score=None, needed_tokens=10, allowed_tiers=None,
               healthy_tiers=(), needs=("reasoning",), caps={"small": Caps(reasoning=False)})
    assert d.tier == "small"


def test_reasoning_is_preferred_not_required(policy: Policy) -> None:
    caps = {"small": Caps(reasoning=False), "large": Caps(reasoning=True), "frontier": Caps(reasoning=None)}
    assert (auto(policy, 0.1, ("reasoning",), caps).tier, auto(policy, 0.1, ("reasoning",), caps).reason) == \
        ("large", "capability")
    nobody = {t: Caps(reasoning=False) for t in ALL}
    assert auto(policy, 0.1, ("reasoning",), nobody).tier == "small"


def test_clamp_output_cuts_to_the_replicas_room() -> None:
    assert clamp_output(None, None, 4096, 100) is None
    assert clamp_output(100, None, 4096, 100) is None
    assert clamp_output(100_000, None, 4096, 1000) == 4096 - 1100 - 16
    assert clamp_output(100_000, Caps(max_output_tokens=16384, context_tokens=128000), 200_000, 10) == 16384
    assert clamp_output(20_000, Caps(context_tokens=8000), 200_000, 100) == 8000 - 110 - 16
    assert clamp_output(10, None, 100, 10_000) == 1  # the prompt alone overflows: the upstream says so


def test_context_conflicts_are_named() -> None:
    assert context_conflicts("frontier", 200_000, Caps(context_tokens=128_000, source="litellm")) == [
        "tier 'frontier' declares context_tokens 200000 but its backends report 128000 (litellm); "
        "output budgets are clamped to the smaller"]
    assert context_conflicts("small", 4096, Caps(context_tokens=8192)) == []


def test_a_large_max_tokens_no_longer_escalates(policy: Policy) -> None:
    from router.domain import Endpoint
    from router.parse import parse_request

    req = parse_request(Endpoint.CHAT, {"model": "auto", "messages": [{"role": "user", "content": "hi"}],
                                        "max_tokens": 64_000})
    assert req.needed_tokens() > 4096 >= req.needed_tokens(policy.routing.min_output_tokens)
    d = decide(policy, Target("auto", None, None), score=0.1,
               needed_tokens=req.needed_tokens(policy.routing.min_output_tokens), allowed_tiers=None,
               healthy_tiers=ALL, cuts=(0.5, 0.8))
    assert (d.tier, d.reason) == ("small", "auto")


def test_the_prompt_estimate_is_computed_once_per_request() -> None:
    """Routing, steering, rules and clamping all read it; the messages are walked (and tools encoded) once."""
    from router.domain import Endpoint
    from router.parse import parse_request

    req = parse_request(Endpoint.CHAT, {"model": "auto", "messages": [{"role": "user", "content": "x" * 400}]})
    first = req.prompt_tokens_estimate()
    req.body["messages"][0]["content"] = ""  # a second walk would see this
    assert req.prompt_tokens_estimate() == first == req.needed_tokens() == 104


def test_a_route_table_combines_again_when_a_replica_reports_anew(policy: Policy) -> None:
    """``RouteTable`` keeps combined capabilities until a replica's report is replaced."""
    from router.domain import Replica, RouteTable

    price = policy.tier("small").backends[0].price
    rep = Replica("k", "small/0", "small", "sglang", "m", price, url="http://s:1")
    table = RouteTable(policy, {"small": (rep,)}, ("m",))
    assert table.replica_caps(rep).vision is None and table.capabilities()["small"].vision is None
    first = table.replica_caps(rep)
    assert table.replica_caps(rep) is first  # nothing new: the same object
    rep.state.caps = Caps(vision=True, source="sglang")
    assert table.replica_caps(rep).vision is True and table.capabilities()["small"].vision is True
    rep.state.caps = Caps(vision=False, source="sglang")
    assert table.replica_caps(rep).vision is False and table.capabilities()["small"].vision is False
