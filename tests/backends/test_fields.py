"""The upstream allow-list (router/backends/fields.py): what each backend kind may receive."""

from __future__ import annotations

import pytest

from router.backends import fields
from router.domain import Endpoint
from router.errors import BadRequest
from router.parse import parse_request

# Fields litellm (or an SDK) reads as instructions to itself; none is an OpenAI request field.
LITELLM_CONTROL = ["base_url", "api_base", "api_key", "api_version", "extra_headers", "headers", "extra_body",
                   "custom_llm_provider", "model_list", "fallbacks", "mock_response", "user_api_key",
                   "user_api_key_hash", "litellm_params", "num_retries", "timeout", "organization",
                   "input_cost_per_token", "rid", "custom_logit_processor", "bootstrap_host"]


def chat(**extra: object) -> dict[str, object]:
    return {"model": "auto", "messages": [{"role": "user", "content": "hi"}], **extra}


@pytest.mark.parametrize("name", LITELLM_CONTROL)
@pytest.mark.parametrize("endpoint", list(Endpoint))
def test_control_fields_are_refused_naming_the_field(name: str, endpoint: Endpoint) -> None:
    body = chat(**{name: "http://127.0.0.1:9/"}) if endpoint is Endpoint.CHAT else \
        {"model": "auto", "prompt": "hi", name: "http://127.0.0.1:9/"}
    with pytest.raises(BadRequest) as e:
        parse_request(endpoint, body)
    assert e.value.status == 400 and e.value.param == name and name in e.value.message


def test_public_openai_fields_pass() -> None:
    body = chat(seed=1, presence_penalty=0.1, frequency_penalty=0.1, logprobs=True, top_logprobs=2, n=1,
                logit_bias={"1": 1}, store=False, prompt_cache_key="k", safety_identifier="s",
                tools=[], tool_choice="auto", response_format={"type": "json_object"}, user="u",
                max_completion_tokens=5, parallel_tool_calls=False, metadata={"a": "b"})
    req = parse_request(Endpoint.CHAT, body)
    for kind in ("sglang", "litellm"):
        out = req.for_upstream(kind, "m")
        assert out["model"] == "m" and out["seed"] == 1 and out["tools"] == []
    assert "metadata" in req.for_upstream("sglang", "m")
    assert "metadata" not in req.for_upstream("litellm", "m")  # litellm reads it as its own input


def test_sglang_extensions_reach_sglang_only() -> None:
    req = parse_request(Endpoint.CHAT, chat(top_k=5, min_p=0.1, regex="a+", stream=True))
    sg = req.for_upstream("sglang", "m")
    assert sg["top_k"] == 5 and sg["regex"] == "a+" and sg["stream_options"] == {"include_usage": True}
    lit = req.for_upstream("litellm", "m")
    assert "top_k" not in lit and "regex" not in lit
    assert fields.dropped("litellm", Endpoint.CHAT, req.body) == ("top_k", "min_p", "regex")
    assert fields.dropped("sglang", Endpoint.CHAT, req.body) == ()


def test_client_stream_options_are_kept_and_usage_forced() -> None:
    req = parse_request(Endpoint.CHAT, chat(stream=True, stream_options={"include_usage": False, "x": 1}))
    assert req.for_upstream("sglang", "m")["stream_options"] == {"include_usage": True, "x": 1}


def test_build_never_copies_unknown_fields_even_unchecked() -> None:
    """Defence in depth: a caller that skipped check() still cannot forward a control field."""
    out = fields.build("litellm", Endpoint.CHAT, chat(api_base="http://evil/", api_key="k"), "m", stream=False)
    assert "api_base" not in out and "api_key" not in out


@pytest.mark.parametrize("kind", ["sglang", "litellm"])
@pytest.mark.parametrize("endpoint", [Endpoint.CHAT, Endpoint.COMPLETIONS])
def test_steering_fields_are_read_by_the_proxy_and_never_forwarded(kind: str, endpoint: Endpoint) -> None:
    body = {"model": "auto", "min_tier": "large", "max_tier": "large", "max_cost_usd": 0.01,
            **({"messages": [{"role": "user", "content": "hi"}]} if endpoint is Endpoint.CHAT else {"prompt": "hi"})}
    fields.check(endpoint, body)  # accepted: tierroute's own fields (rule 7)
    out = fields.build(kind, endpoint, body, "m", False)  # type: ignore[arg-type]
    assert not fields.STEERING & set(out)
    assert not fields.STEERING & set(fields.dropped(kind, endpoint, body))  # type: ignore[arg-type]
