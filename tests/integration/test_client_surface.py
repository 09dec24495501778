"""Issue 11, point 7: what the official SDKs read besides the answer — request ids on every
response, CORS for browser apps (off unless the policy asks), ``GET /v1/models/{id}``, and
answers of litellm tiers trimmed to OpenAI's schema."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.integration.conftest import ADMIN_KEY, CLIENT_KEY, Cluster, Proxy, default_policy

MSG = [{"role": "user", "content": "Say hello in three words."}]
AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}


def client(proxy: Proxy, key: str = CLIENT_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.v1, api_key=key, max_retries=0, timeout=30)


@pytest.mark.parametrize("model", ["small", "gpt-4o"])
def test_sdk_request_id_on_answers_and_streams(proxy: Proxy, model: str) -> None:
    c = client(proxy)
    r = c.chat.completions.create(model=model, messages=MSG, max_tokens=4)
    assert r._request_id  # the SDK reads x-request-id
    raw = c.chat.completions.with_raw_response.create(model=model, messages=MSG, max_tokens=4)
    assert raw.request_id and raw.request_id == raw.headers["x-tierroute-request-id"]
    with c.chat.completions.with_streaming_response.create(model=model, messages=MSG, max_tokens=4,
                                                           stream=True) as s:
        assert s.request_id and s.request_id == s.headers["x-tierroute-request-id"]
        assert list(s.iter_lines())
    given = c.chat.completions.with_raw_response.create(model=model, messages=MSG, max_tokens=4,
                                                        extra_headers={"x-request-id": "trace-7"})
    assert given.request_id == "trace-7"
    assert c.models.with_raw_response.list().request_id


def test_sdk_request_id_on_errors(proxy: Proxy) -> None:
    for call, kind in ((lambda: client(proxy).chat.completions.create(model="nope", messages=MSG),
                        openai.NotFoundError),
                       (lambda: client(proxy, "sk-wrong").chat.completions.create(model="auto", messages=MSG),
                        openai.AuthenticationError),
                       (lambda: client(proxy).chat.completions.create(model="auto", messages=MSG, stream=True,
                                                                      extra_body={"api_base": "http://x"}),
                        openai.BadRequestError),
                       (lambda: client(proxy).models.retrieve("nope"), openai.NotFoundError)):
        with pytest.raises(kind) as ei:
            call()
        assert ei.value.request_id and ei.value.response.headers["x-tierroute-request-id"] == ei.value.request_id
    for method, path in (("GET", "/health"), ("GET", "/nowhere"), ("GET", "/v1/chat/completions"),
                         ("GET", "/admin/stats")):
        r = httpx.request(method, proxy.url + path, timeout=10)
        assert r.headers.get("x-request-id"), (method, path, r.status_code)


def test_anthropic_sdk_answers_carry_both_request_ids(proxy: Proxy) -> None:
    c = anthropic.Anthropic(base_url=proxy.url, api_key=CLIENT_KEY, max_retries=0, timeout=30)
    raw = c.messages.with_raw_response.create(model="small", max_tokens=4, messages=MSG)
    assert raw.request_id and raw.headers["x-request-id"] == raw.request_id
    with pytest.raises(anthropic.NotFoundError) as ei:
        c.messages.create(model="nope", max_tokens=4, messages=MSG)
    assert ei.value.request_id and ei.value.response.headers["x-request-id"] == ei.value.request_id


def test_model_retrieve_every_listed_id(proxy: Proxy) -> None:
    c = client(proxy)
    listed = c.models.list().data
    assert len(listed) >= 6
    for m in listed:
        got = c.models.retrieve(m.id)
        assert got.model_dump() == m.model_dump()  # id, object "model", created, owned_by
    with pytest.raises(openai.NotFoundError) as ei:
        c.models.retrieve("gpt-5-nonexistent")
    err = ei.value.body
    assert isinstance(err, dict) and err["code"] == "model_not_found" and "gpt-5-nonexistent" in err["message"]
    with pytest.raises(openai.AuthenticationError):
        client(proxy, "sk-wrong").models.retrieve("auto")


PREFLIGHT = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os"}


def test_cors_is_off_by_default(proxy: Proxy) -> None:
    r = httpx.options(proxy.v1 + "/chat/completions", headers=PREFLIGHT, timeout=10)
    assert r.status_code == 405 and "access-control-allow-origin" not in r.headers
    r = httpx.post(proxy.v1 + "/chat/completions", json={"model": "small", "messages": MSG, "max_tokens": 2},
                   headers={**AUTH, "Origin": "https://app.example.com"}, timeout=30)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_cors_from_the_policy(make_proxy, cluster: Cluster) -> None:
    pol = default_policy(cluster)
    pol["cors"] = {"allow_origins": ["https://app.example.com"], "max_age_s": 120}
    with make_proxy(pol) as proxy:
        for path in ("/chat/completions", "/models", "/messages"):
            r = httpx.options(proxy.v1 + path, headers=PREFLIGHT, timeout=10)  # no key, as browsers send it
            assert r.status_code == 204, (path, r.text)
            h = r.headers
            assert h["access-control-allow-origin"] == "https://app.example.com" and h["vary"] == "Origin"
            assert h["access-control-allow-headers"] == PREFLIGHT["Access-Control-Request-Headers"]
            assert "POST" in h["access-control-allow-methods"] and h["access-control-max-age"] == "120"
        r = httpx.options(proxy.v1 + "/chat/completions", timeout=10,
                          headers={**PREFLIGHT, "Origin": "https://evil.example.com"})
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
        assert r.json()["error"]["code"] == "cors_origin_not_allowed"
        origin = {"Origin": "https://app.example.com"}
        r = httpx.post(proxy.v1 + "/chat/completions", json={"model": "small", "messages": MSG, "max_tokens": 2},
                       headers={**AUTH, **origin}, timeout=30)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "x-request-id" in r.headers["access-control-expose-headers"]
        with httpx.stream("POST", proxy.v1 + "/chat/completions", headers={**AUTH, **origin}, timeout=30,
                          json={"model": "small", "messages": MSG, "max_tokens": 2, "stream": True}) as s:
            assert s.status_code == 200 and s.headers["access-control-allow-origin"] == "https://app.example.com"
        for r in (httpx.get(proxy.v1 + "/models", headers=origin, timeout=10),  # errors are readable too
                  httpx.get(proxy.v1 + "/models", headers={**AUTH, **origin}, timeout=10),
                  httpx.get(proxy.url + "/admin/stats", timeout=10,
                            headers={"Authorization": f"Bearer {ADMIN_KEY}", **origin})):
            assert r.headers["access-control-allow-origin"] == "https://app.example.com", r.status_code
        r = httpx.get(proxy.v1 + "/models", headers={**AUTH, "Origin": "https://evil.example.com"}, timeout=10)
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        # the official SDK from the allowed origin (as a browser app would send it)
        c = openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0, timeout=30, default_headers=origin)
        raw = c.chat.completions.with_raw_response.create(model="small", messages=MSG, max_tokens=2)
        assert raw.headers["access-control-allow-origin"] == "https://app.example.com" and raw.request_id


def _litellm_fields(doc: dict[str, Any]) -> list[str]:
    """Fields of a chat answer or chunk that OpenAI's schema does not have."""
    bad = [k for k in doc if k not in {"id", "object", "created", "model", "choices", "usage",
                                        "system_fingerprint", "service_tier"}]
    for c in doc.get("choices") or []:
        bad += [f"choices.{k}" for k in c if k not in {"index", "message", "delta", "finish_reason", "logprobs"}]
        for part in ("message", "delta"):
            bad += [f"{part}.{k}" for k in c.get(part) or {} if k not in {
                "role", "content", "refusal", "tool_calls", "function_call", "annotations", "audio",
                "reasoning_content"}]
    u = doc.get("usage") or {}
    bad += [f"usage.{k}" for k in u if k not in {"prompt_tokens", "completion_tokens", "total_tokens",
                                                  "prompt_tokens_details", "completion_tokens_details",
                                                  "cost"}]  # usage.cost: tierroute's own (issue 13), as OpenRouter
    bad += [f"usage.prompt_tokens_details.{k}" for k in u.get("prompt_tokens_details") or {}
            if k not in {"audio_tokens", "cached_tokens"}]
    return bad


@pytest.mark.parametrize("model", ["openai/gpt-4o", "anthropic/claude-sonnet-4-20250514"])
def test_litellm_answers_trimmed_to_openais_schema(make_proxy, cluster: Cluster, model: str) -> None:
    pol = default_policy(cluster)
    base = cluster.provider + ("/v1" if model.startswith("openai/") else "")
    pol["tiers"][2]["backends"] = [{"kind": "litellm", "model": model, "api_base": base, "api_key_env": "PROVIDER_KEY",
                                    "price": {"input_per_mtok": 3, "output_per_mtok": 15}}]
    with make_proxy(pol) as proxy:
        body = {"model": "frontier", "messages": MSG, "max_tokens": 8}
        r = httpx.post(proxy.v1 + "/chat/completions", json=body, headers=AUTH, timeout=30)
        doc = r.json()
        assert r.status_code == 200 and doc["choices"][0]["message"]["content"] and doc["usage"]["total_tokens"]
        assert _litellm_fields(doc) == []
        with httpx.stream("POST", proxy.v1 + "/chat/completions", headers=AUTH, timeout=30,
                          json={**body, "stream": True, "stream_options": {"include_usage": True}}) as s:
            chunks = [orjson.loads(line[6:]) for line in s.iter_lines()
                      if line.startswith("data: ") and line != "data: [DONE]"]
        assert chunks and chunks[-1]["usage"]["completion_tokens"] > 0
        assert [_litellm_fields(ch) for ch in chunks] == [[] for _ in chunks]
        # and the SDK still reads everything it did
        sdk = client(proxy).chat.completions.create(model="frontier", messages=MSG, max_tokens=8)
        assert sdk.usage is not None and sdk.usage.prompt_tokens > 0 and sdk.choices[0].finish_reason
