"""Issue 11, point 1 (the parameter part): under ``auto`` a request never gets a 400 from one tier
and not another because of an OpenAI parameter. SGLang tiers take every public parameter; a
litellm tier whose model does not (here a Claude model through the fake provider's Anthropic
surface) drops it and says so (``x-tierroute-dropped-params``), or, under
``upstream.unsupported_params: reject``, answers a 400 naming the parameter and the tier — never
litellm's ``UnsupportedParamsError … set litellm.drop_params=True``."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.integration.conftest import CLIENT_KEY, Cluster, default_policy

CLAUDE = "anthropic/claude-sonnet-4-20250514"
TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "d",
                                           "parameters": {"type": "object", "properties": {}}}}]
# Parameters OpenAI's Chat Completions API accepts, with a value it accepts.
PARAMS: dict[str, dict[str, Any]] = {
    "seed": {"seed": 7},
    "presence_penalty": {"presence_penalty": 0.5},
    "frequency_penalty": {"frequency_penalty": 0.5},
    "logprobs": {"logprobs": True},
    "top_logprobs": {"logprobs": True, "top_logprobs": 2},
    "n": {"n": 1},
    "logit_bias": {"logit_bias": {"1234": -5}},
    "store": {"store": False},
    "prompt_cache_key": {"prompt_cache_key": "app-cache-1"},
    "safety_identifier": {"safety_identifier": "user-hash-1"},
    "parallel_tool_calls": {"tools": TOOLS, "parallel_tool_calls": False},
    "service_tier": {"service_tier": "auto"},
    "user": {"user": "user-1"},
    "temperature": {"temperature": 0.3},
    "top_p": {"top_p": 0.9},
    "stop": {"stop": ["\n\n"]},
}
ALL = {k: v for p in PARAMS.values() for k, v in p.items()}
# A prompt for each tier under auto (tests.integration.conftest.keyword_score).
PROMPTS = {"small": "an easy one", "large": "a medium one", "frontier": "a hard one"}
# What litellm's table says the Claude model does not take, of the above.
NOT_FOR_CLAUDE = {"seed", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "n", "logit_bias",
                  "store", "prompt_cache_key", "safety_identifier"}


def _policy(cluster: Cluster, mode: str | None = None) -> dict[str, Any]:
    pol = default_policy(cluster)
    pol["tiers"][2]["backends"] = [{"kind": "litellm", "model": CLAUDE, "api_base": cluster.provider,
                                    "api_key_env": "PROVIDER_KEY",
                                    "price": {"input_per_mtok": 3, "output_per_mtok": 15}}]
    if mode is not None:
        pol["upstream"]["unsupported_params"] = mode
    return pol


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=CLIENT_KEY, max_retries=0, timeout=30)


def _ask(c: openai.OpenAI, tier: str, extra: dict[str, Any], stream: bool = False) -> Any:
    msgs = [{"role": "user", "content": PROMPTS[tier]}]
    if stream:
        with c.chat.completions.with_streaming_response.create(model="auto", messages=msgs, max_tokens=8,
                                                               stream=True, **extra) as s:
            assert [line for line in s.iter_lines() if line.startswith("data: ")][-1] == "data: [DONE]"
            return s
    return c.chat.completions.with_raw_response.create(model="auto", messages=msgs, max_tokens=8, **extra)


def test_every_parameter_on_every_tier_under_drop(make_proxy, cluster: Cluster) -> None:
    with make_proxy(_policy(cluster)) as proxy:  # drop is the default
        c = _client(proxy.v1)
        for tier in PROMPTS:
            for name, extra in [*PARAMS.items(), ("all at once", ALL)]:
                for stream in (False, True):
                    raw = _ask(c, tier, extra, stream)  # a 400 raises here
                    assert raw.headers["x-tierroute-tier"] == tier, (tier, name)
                    dropped = set(filter(None, raw.headers.get("x-tierroute-dropped-params", "").split(",")))
                    expected = NOT_FOR_CLAUDE & set(extra) if tier == "frontier" else set()
                    assert dropped == expected, (tier, name, stream)
                    if not stream:
                        assert raw.parse().choices[0].message.content, (tier, name)
        last = httpx.get(cluster.provider + "/fake/stats", timeout=5).json()["last_body"]
        assert not NOT_FOR_CLAUDE & set(last)  # what was dropped never reached the provider
        counted = proxy.admin("/admin/stats")["unsupported_params"]
        singly = {n for n, extra in PARAMS.items() for k in extra if k in NOT_FOR_CLAUDE and k == n}
        assert counted["refused"] == {} and set(counted["dropped"]) == {"frontier"}  # per tier, per parameter
        assert counted["dropped"]["frontier"] == {  # streamed and not: alone (if it is a case of its own) + all at once
            n: 2 * (n in singly) + 2 + 2 * (n == "logprobs") for n in NOT_FOR_CLAUDE}
        assert last["temperature"] == 0.3 and last["stop_sequences"] == ["\n\n"]  # what it takes did


def test_reject_names_the_parameter_and_the_tier(make_proxy, cluster: Cluster) -> None:
    with make_proxy(_policy(cluster, "reject")) as proxy:
        c = _client(proxy.v1)
        for name, extra in PARAMS.items():
            for tier in ("small", "large"):  # SGLang takes them all
                assert _ask(c, tier, extra).headers["x-tierroute-tier"] == tier
            if name not in NOT_FOR_CLAUDE:
                assert _ask(c, "frontier", extra).headers["x-tierroute-tier"] == "frontier"
                continue
            for stream in (False, True):
                with pytest.raises(openai.BadRequestError) as ei:
                    _ask(c, "frontier", extra, stream)
                e = ei.value
                assert isinstance(e.body, dict) and e.body["code"] == "unsupported_parameter", name
                assert e.body["param"] in extra and e.body["param"] in NOT_FOR_CLAUDE
                assert f"'{e.body['param']}'" in e.message and "'frontier'" in e.message
                assert "litellm" not in e.message.lower() and "drop_params" not in e.message
                assert e.response.headers["x-tierroute-tier"] == "frontier" and e.request_id
        refused = proxy.admin("/admin/stats")["unsupported_params"]["refused"]
        assert set(refused) == {"frontier"}
        assert sum(refused["frontier"].values()) == 2 * len(NOT_FOR_CLAUDE & set(PARAMS))  # one per refused request


def test_tools_are_never_dropped_silently(make_proxy, cluster: Cluster) -> None:
    """A model litellm says cannot do tools (ollama/llama2) gets a 400 naming ``tools`` and the tier
    even under drop: dropping them would answer a different question."""
    pol = _policy(cluster)
    pol["tiers"][2]["backends"][0]["model"] = "ollama/llama2"
    with make_proxy(pol) as proxy:
        c = _client(proxy.v1)
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as ei:
                _ask(c, "frontier", {"tools": TOOLS, "seed": 3}, stream)
            assert isinstance(ei.value.body, dict) and ei.value.body["param"] == "tools"
            assert "'frontier'" in ei.value.message and ei.value.response.headers["x-tierroute-tier"] == "frontier"
        assert _ask(c, "large", {"tools": TOOLS}).headers["x-tierroute-tier"] == "large"


def test_dropped_params_header_is_the_answering_tiers(make_proxy, cluster: Cluster) -> None:
    """The Claude tier is unreachable: the request falls back to an SGLang tier, which took everything."""
    pol = _policy(cluster)
    pol["tiers"][2]["backends"][0]["api_base"] = "http://127.0.0.1:9"  # nothing listens: a fault, retried
    with make_proxy(pol) as proxy:
        raw = _ask(_client(proxy.v1), "frontier", {"seed": 5, "logit_bias": {"1": 1}})
        assert raw.headers["x-tierroute-tier"] == "large" and raw.headers["x-tierroute-reason"] == "fallback_error"
        assert "x-tierroute-dropped-params" not in raw.headers
