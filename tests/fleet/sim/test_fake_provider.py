from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from fleet.sim.fake_provider import FakeProviderConfig, add_arguments, config_from_args

KEY = "sk-fake-0123456789"
OPENAI_MODEL = "openai/gpt-4o"
ANTHROPIC_MODEL = "anthropic/claude-sonnet-4-20250514"
MSGS = [{"role": "system", "content": "Be concise."}, {"role": "user", "content": "Name three rivers."}]
StartProvider = Callable[..., str]


@pytest.fixture(scope="module")
def litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm as lib  # imported here: slow, and must see the env var first

    lib.suppress_debug_info = True
    return lib


async def _collect(stream: Any) -> tuple[str, Any, str | None]:
    text, usage, finish = [], None, None
    async for chunk in stream:
        if chunk.choices:
            text.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if getattr(chunk, "usage", None):
            usage = chunk.usage
    return "".join(text), usage, finish


@pytest.mark.parametrize("model,suffix", [(OPENAI_MODEL, "/v1"), (ANTHROPIC_MODEL, "")])
def test_litellm_round_trip(litellm: Any, start_provider: StartProvider, model: str, suffix: str) -> None:
    url = start_provider(api_key=KEY)
    kwargs = {"model": model, "api_base": url + suffix, "api_key": KEY, "messages": MSGS, "max_retries": 0}

    async def run() -> tuple[Any, tuple[str, Any, str | None], Any]:
        plain = await litellm.acompletion(**kwargs, max_tokens=200)
        streamed = await _collect(await litellm.acompletion(**kwargs, max_tokens=200, stream=True,
                                                            stream_options={"include_usage": True}))
        short = await litellm.acompletion(**kwargs, max_tokens=5)
        return plain, streamed, short

    plain, (text, usage, finish), short = asyncio.run(run())
    content = plain.choices[0].message.content
    assert content and plain.choices[0].finish_reason == "stop"
    assert plain.usage.prompt_tokens > 5 and 16 <= plain.usage.completion_tokens <= 64
    assert text == content and finish == "stop"
    assert usage is not None and usage.completion_tokens == plain.usage.completion_tokens
    assert usage.prompt_tokens == plain.usage.prompt_tokens
    assert short.usage.completion_tokens == 5 and short.choices[0].finish_reason == "length"
    stats = httpx.get(url + "/fake/stats").json()
    endpoint = "/v1/chat/completions" if model == OPENAI_MODEL else "/v1/messages"
    assert stats["by_endpoint"] == {endpoint: 3} and stats["requests"] == 3
    assert stats["last_model"] == model.split("/", 1)[1]


@pytest.mark.parametrize("model,suffix", [(OPENAI_MODEL, "/v1"), (ANTHROPIC_MODEL, "")])
def test_litellm_errors(litellm: Any, start_provider: StartProvider, model: str, suffix: str) -> None:
    url = start_provider(api_key=KEY)
    kwargs = {"model": model, "api_base": url + suffix, "messages": MSGS, "max_retries": 0, "max_tokens": 10}

    async def run() -> None:
        with pytest.raises(litellm.AuthenticationError):
            await litellm.acompletion(**kwargs, api_key="sk-wrong-key-000000")
        for stream in (False, True):
            httpx.post(url + "/fake/fail", json={"status": 429, "count": 1})
            with pytest.raises(litellm.RateLimitError):
                r = await litellm.acompletion(**kwargs, api_key=KEY, stream=stream)
                await _collect(r)
        httpx.post(url + "/fake/fail", json={"status": 500, "count": 1})
        with pytest.raises(litellm.InternalServerError):
            await litellm.acompletion(**kwargs, api_key=KEY)
        ok = await litellm.acompletion(**kwargs, api_key=KEY)  # failures used up
        assert ok.choices[0].message.content

    asyncio.run(run())
    stats = httpx.get(url + "/fake/stats").json()
    assert stats["unauthorized"] == 1 and stats["failed"] == 3 and stats["fail_pending"] == 0


def test_openai_sdk_shapes(start_provider: StartProvider) -> None:
    url = start_provider(api_key=KEY, models=("gpt-4o", "o3"))
    client = openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)
    r = client.chat.completions.create(model="gpt-4o", messages=MSGS)  # type: ignore[arg-type]
    assert r.model == "gpt-4o" and r.object == "chat.completion" and r.usage is not None
    again = client.chat.completions.create(model="gpt-4o", messages=MSGS)  # type: ignore[arg-type]
    assert again.choices[0].message.content == r.choices[0].message.content
    body = {"model": "gpt-4o", "messages": MSGS, "stream": True, "stream_options": {"include_usage": True}}
    raw = httpx.post(url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"}).text
    events = [e[6:] for e in raw.split("\n\n") if e]
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == r.usage.total_tokens
    no_usage = httpx.post(url + "/v1/chat/completions", json={**body, "stream_options": None},
                          headers={"authorization": f"Bearer {KEY}"}).text
    assert '"usage"' not in no_usage
    completion = client.completions.create(model="gpt-4o", prompt="Say hi", max_tokens=7)
    assert completion.usage is not None and completion.usage.completion_tokens == 7
    assert [m.id for m in client.models.list().data] == ["gpt-4o", "o3"]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url + "/v1", api_key="nope", max_retries=0).chat.completions.create(
            model="gpt-4o", messages=MSGS)  # type: ignore[arg-type]
    bad = httpx.post(url + "/v1/chat/completions", json={"model": "gpt-4o"}, headers={"authorization": f"Bearer {KEY}"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "messages"


def test_anthropic_sdk_and_event_sequence(start_provider: StartProvider) -> None:
    url = start_provider(api_key=KEY)
    client = anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0)
    msg = client.messages.create(model="claude-sonnet-4-20250514", max_tokens=100, system="Be concise.",
                                 messages=[{"role": "user", "content": "Name three rivers."}])
    assert msg.type == "message" and msg.role == "assistant" and msg.model == "claude-sonnet-4-20250514"
    assert msg.stop_reason == "end_turn" and msg.content[0].type == "text"
    assert msg.usage.input_tokens > 5 and msg.usage.output_tokens > 0
    with client.messages.stream(model="claude-sonnet-4-20250514", max_tokens=100, system="Be concise.",
                                messages=[{"role": "user", "content": "Name three rivers."}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert msg.content[0].type == "text" and text == msg.content[0].text
    assert final.usage.output_tokens == msg.usage.output_tokens
    body = {"model": "claude-sonnet-4-20250514", "max_tokens": 8, "stream": True,
            "messages": [{"role": "user", "content": "Hi"}]}
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    raw = httpx.post(url + "/v1/messages", json=body, headers=headers).text
    names = [e.split("\n", 1)[0].removeprefix("event: ") for e in raw.split("\n\n") if e]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    delta = orjson.loads(raw.split("event: message_delta\ndata: ", 1)[1].split("\n", 1)[0])
    assert delta["delta"]["stop_reason"] == "max_tokens" and delta["usage"]["output_tokens"] == 8
    r = httpx.post(url + "/v1/messages", json=body, headers={"x-api-key": KEY})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.post(url + "/v1/messages", json={**body, "max_tokens": None}, headers=headers)
    assert r.status_code == 400
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=url, api_key="nope", max_retries=0).messages.create(
            model="claude-sonnet-4-20250514", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    httpx.post(url + "/fake/fail", json={"status": 529, "count": 1})
    r = httpx.post(url + "/v1/messages", json=body, headers=headers)
    assert r.status_code == 529 and r.json()["error"]["type"] == "overloaded_error"


def test_no_key_configured_accepts_anything(start_provider: StartProvider) -> None:
    url = start_provider()
    r = httpx.post(url + "/v1/chat/completions", json={"model": "m", "messages": MSGS})
    assert r.status_code == 200
    assert httpx.post(url + "/fake/fail", json={"status": 200}).status_code == 400
    assert httpx.post(url + "/fake/reset").json()["requests"] == 0


def test_unknown_models_rejected_when_asked(litellm: Any, start_provider: StartProvider) -> None:
    url = start_provider(models=("gpt-4o", "claude-sonnet-4-20250514"), reject_unknown_models=True)
    r = httpx.post(url + "/v1/chat/completions", json={"model": "gpt-9", "messages": MSGS})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    r = httpx.post(url + "/v1/messages", headers={"anthropic-version": "2023-06-01"},
                   json={"model": "claude-9", "max_tokens": 5, "messages": MSGS[1:]})
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
    assert httpx.post(url + "/v1/chat/completions", json={"model": "gpt-4o", "messages": MSGS}).status_code == 200

    async def run() -> None:
        with pytest.raises(litellm.NotFoundError):
            await litellm.acompletion(model="openai/gpt-9", api_base=url + "/v1", api_key="k", messages=MSGS,
                                      max_retries=0)

    asyncio.run(run())


def test_cli_flags_round_trip() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    ns = parser.parse_args(["--api-key", "k", "--latency-ms", "5", "--tokens-per-s", "0", "--models", "a, b"])
    assert config_from_args(ns) == FakeProviderConfig(api_key="k", latency_ms=5, tokens_per_s=0, models=("a", "b"))
