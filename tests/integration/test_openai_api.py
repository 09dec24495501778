"""The proxy through the official openai SDK (sync, async, streaming) against simulated SGLang."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from tests.integration.conftest import CLIENT_KEY, Proxy

MSG = [{"role": "user", "content": "Say hello in three words."}]


def client(proxy: Proxy, key: str = CLIENT_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.v1, api_key=key, max_retries=0, timeout=30)


def test_non_streaming_auto_routes_and_reports(proxy: Proxy) -> None:
    raw = client(proxy).chat.completions.with_raw_response.create(model="auto", messages=MSG, max_tokens=16)
    r = raw.parse()
    assert r.model == "sim-small"  # the concrete model that answered, never "auto"
    assert r.choices[0].message.content
    assert r.usage is not None and r.usage.prompt_tokens > 0 and 0 < r.usage.completion_tokens <= 16
    h = raw.headers
    assert h["x-tierroute-tier"] == "small" and h["x-tierroute-reason"] == "auto"
    assert float(h["x-tierroute-score"]) == pytest.approx(0.1)
    assert h["x-tierroute-request-id"] and h["x-tierroute-replica"].startswith("small/")
    cost = r.usage.prompt_tokens * 0.1e-6 + r.usage.completion_tokens * 0.2e-6
    assert float(h["x-tierroute-cost-usd"]) == pytest.approx(cost, rel=1e-6)


@pytest.mark.parametrize("text, tier, model", [("a medium question", "large", "sim-large"),
                                                ("a hard question", "frontier", "gpt-4o")])
def test_score_picks_the_tier(proxy: Proxy, text: str, tier: str, model: str) -> None:
    raw = client(proxy).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": text}], max_tokens=8)
    assert raw.headers["x-tierroute-tier"] == tier
    assert raw.parse().model == model


def test_streaming_with_usage(proxy: Proxy) -> None:
    chunks = list(client(proxy).chat.completions.create(
        model="auto", messages=MSG, max_tokens=12, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert 0 < chunks[-1].usage.completion_tokens <= 12 and chunks[-1].usage.prompt_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])
    text = "".join(c.choices[0].delta.content or "" for c in chunks[:-1] if c.choices)
    assert text.strip()
    assert {c.model for c in chunks} == {"sim-small"}


def test_streaming_without_usage_has_no_usage_chunk(proxy: Proxy) -> None:
    chunks = list(client(proxy).chat.completions.create(model="auto", messages=MSG, max_tokens=12, stream=True))
    assert chunks and all(c.choices for c in chunks)


def test_raw_sse_framing_and_headers(proxy: Proxy) -> None:
    with httpx.stream("POST", proxy.v1 + "/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {CLIENT_KEY}", "x-tierroute-tier": "large"},
                      json={"model": "auto", "messages": MSG, "stream": True, "max_tokens": 8}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-tierroute-tier"] == "large" and r.headers["x-tierroute-reason"] == "header"
        assert "x-tierroute-score" not in r.headers  # pinned: not classified
        lines = [ln for ln in r.iter_lines() if ln.strip()]
    assert lines[-1] == "data: [DONE]"
    assert all(ln.startswith("data: ") for ln in lines)


async def test_async_sdk_concurrent(proxy: Proxy) -> None:
    ac = openai.AsyncOpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0, timeout=30)
    try:
        rs = await asyncio.gather(*[ac.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": f"Count to {i}."}], max_tokens=8) for i in range(32)])
        stream = await ac.chat.completions.create(model="small", messages=MSG, max_tokens=8, stream=True)
        parts = [c async for c in stream]
    finally:
        await ac.close()
    assert all(r.model == "sim-small" for r in rs)
    assert parts and parts[0].model == "sim-small"


def test_legacy_completions(proxy: Proxy) -> None:
    c = client(proxy)
    r = c.completions.create(model="auto", prompt="Once upon a time", max_tokens=8)
    assert r.choices[0].text and r.model == "sim-small"
    chunks = list(c.completions.create(model="large", prompt="Once upon a time", max_tokens=8, stream=True))
    assert chunks and chunks[0].model == "sim-large"


def test_models_list(proxy: Proxy) -> None:
    ids = [m.id for m in client(proxy).models.list().data]
    assert ids[:4] == ["auto", "small", "large", "frontier"]
    assert {"sim-small", "sim-large", "openai/gpt-4o", "gpt-4o"} <= set(ids)


@pytest.mark.parametrize("model, tier, answered", [("large", "large", "sim-large"),
                                                     ("sim-large", "large", "sim-large"),
                                                     ("gpt-4o", "frontier", "gpt-4o")])
def test_tier_and_model_names(proxy: Proxy, model: str, tier: str, answered: str) -> None:
    raw = client(proxy).chat.completions.with_raw_response.create(model=model, messages=MSG, max_tokens=8)
    assert raw.headers["x-tierroute-tier"] == tier and raw.parse().model == answered
    assert "x-tierroute-score" not in raw.headers


def test_unknown_fields_pass_through_to_the_backend(proxy: Proxy, cluster) -> None:
    tools = [{"type": "function", "function": {"name": "f", "description": "d",
                                               "parameters": {"type": "object", "properties": {}}}}]
    r = client(proxy).chat.completions.create(model="gpt-4o", messages=MSG, max_tokens=8, tools=tools, seed=7,
                                              response_format={"type": "text"}, extra_body={"top_k": 3})
    assert r.choices
    body = httpx.get(cluster.provider + "/fake/stats", timeout=5).json()["last_body"]
    assert body["tools"] == tools and body["seed"] == 7 and body["response_format"] == {"type": "text"}


@pytest.mark.parametrize("given, kept", [("trace-42:a.b", True), ("bad id", False), ("caf\u00e9", False),
                                         ("x" * 65, False)])
def test_request_id_kept_only_when_it_is_a_plain_token(proxy: Proxy, given: str, kept: bool) -> None:
    for path, method, body in (("/chat/completions", "POST", {"model": "small", "messages": MSG, "max_tokens": 2}),
                               ("/models", "GET", None)):
        r = httpx.request(method, proxy.v1 + path, json=body, timeout=30,
                          headers={"Authorization": f"Bearer {CLIENT_KEY}", "x-request-id": given.encode("latin-1")})
        assert r.status_code == 200
        rid = r.headers["x-tierroute-request-id"]
        assert (rid == given) is kept and rid.isascii()  # the edge and the Starlette routes agree
