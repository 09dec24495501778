"""The fake provider's tools, structured output, logprobs and images: openai, anthropic and litellm clients."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

KEY = "sk-fake-0123456789"
StartProvider = Callable[..., str]
PARAMS = {"type": "object", "properties": {"city": {"type": "string"},
                                           "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
          "required": ["city", "unit"], "additionalProperties": False}
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                            "parameters": PARAMS}}
CLOCK = {"type": "function", "function": {"name": "get_time", "description": "Current time in a timezone",
                                          "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}
ASK = [{"role": "user", "content": "What's the weather in Oslo?"}]


class Answer(BaseModel):
    summary: str
    confidence: float = Field(ge=0, le=1)
    sources: list[str]


def _openai(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)


def _anthropic(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0)


def test_openai_tool_call_round_trip_and_stream(start_provider: StartProvider) -> None:
    client = _openai(start_provider(api_key=KEY))
    r = client.chat.completions.create(model="gpt-4o", messages=ASK, tools=[CLOCK, WEATHER])
    msg: Any = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls" and msg.content is None
    call = msg.tool_calls[0]
    assert call.function.name == "get_weather" and call.id.startswith("call_")
    jsonschema.validate(json.loads(call.function.arguments), PARAMS)
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=ASK, tools=[CLOCK, WEATHER], stream=True,
                                                 stream_options={"include_usage": True}))
    first: Any = chunks[0].choices[0].delta
    assert first.role == "assistant" and first.tool_calls[0].id.startswith("call_")
    assert first.tool_calls[0].function.name == "get_weather" and first.tool_calls[0].function.arguments == ""
    args = "".join(tc.function.arguments for ch in chunks[1:] if ch.choices
                   for tc in ch.choices[0].delta.tool_calls or ())
    assert args == call.function.arguments
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finishes == ["tool_calls"] and chunks[-1].usage is not None
    history = [*ASK, msg.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": call.id, "content": "-3 C and snowing"}]
    done = client.chat.completions.create(model="gpt-4o", messages=history, tools=[CLOCK, WEATHER])
    assert done.choices[0].finish_reason == "stop" and "-3 C and snowing" in (done.choices[0].message.content or "")


def test_openai_legacy_functions(start_provider: StartProvider) -> None:
    url = start_provider(api_key=KEY)
    body = {"model": "gpt-4o", "messages": ASK, "functions": [WEATHER["function"]],
            "function_call": {"name": "get_weather"}}
    r = httpx.post(url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"}).json()
    choice = r["choices"][0]
    assert choice["finish_reason"] == "function_call" and choice["message"]["content"] is None
    assert choice["message"]["function_call"]["name"] == "get_weather"
    jsonschema.validate(json.loads(choice["message"]["function_call"]["arguments"]), PARAMS)


def test_openai_structured_output(start_provider: StartProvider) -> None:
    client = _openai(start_provider(api_key=KEY))
    parsed = client.chat.completions.parse(model="gpt-4o", messages=[{"role": "user", "content": "Summarise"}],
                                           response_format=Answer)
    assert isinstance(parsed.choices[0].message.parsed, Answer)
    with pytest.raises(openai.BadRequestError) as e:  # as OpenAI: json_object needs the word in the messages
        client.chat.completions.create(model="gpt-4o", messages=ASK, response_format={"type": "json_object"})
    assert e.value.body is not None and "must contain the word 'json'" in str(e.value.body)
    ok = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Reply in JSON."}],
                                        response_format={"type": "json_object"})
    assert isinstance(json.loads(ok.choices[0].message.content or ""), dict)


@pytest.mark.parametrize("body,param", [
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
    ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
])
def test_openai_errors(start_provider: StartProvider, body: dict[str, Any], param: str) -> None:
    url = start_provider()
    r = httpx.post(url + "/v1/chat/completions", json={"model": "gpt-4o", "messages": ASK, **body})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param


def test_openai_logprobs_and_images(start_provider: StartProvider) -> None:
    client = _openai(start_provider(api_key=KEY))
    r = client.chat.completions.create(model="gpt-4o", messages=ASK, logprobs=True, top_logprobs=2)
    lp = r.choices[0].logprobs
    assert lp is not None and lp.content is not None
    assert "".join(t.token for t in lp.content) == r.choices[0].message.content
    assert all(len(t.top_logprobs) == 2 for t in lp.content)
    streamed = [t for ch in client.chat.completions.create(model="gpt-4o", messages=ASK, logprobs=True,
                                                            top_logprobs=2, stream=True)
                if ch.choices and ch.choices[0].logprobs for t in ch.choices[0].logprobs.content or ()]
    assert [t.model_dump() for t in streamed] == [t.model_dump() for t in lp.content]
    picture = [{"role": "user", "content": [{"type": "text", "text": "Describe"},
                                            {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}]
    seen = client.chat.completions.create(model="gpt-4o", messages=picture)
    plain = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Describe"}])
    assert seen.usage is not None and plain.usage is not None
    assert seen.usage.prompt_tokens - plain.usage.prompt_tokens == 256
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="gpt-3.5-turbo", messages=picture)
    assert "image_url is only supported by certain models" in str(e.value)


def test_anthropic_tool_use(start_provider: StartProvider) -> None:
    client = _anthropic(start_provider(api_key=KEY))
    tools: Any = [{"name": "get_weather", "description": "Weather in a city", "input_schema": PARAMS}]
    msgs: Any = [{"role": "user", "content": "Weather in Lima?"}]
    m = client.messages.create(model="claude-sonnet-4-20250514", max_tokens=200, messages=msgs, tools=tools)
    assert m.stop_reason == "tool_use" and len(m.content) == 1
    block: Any = m.content[0]
    assert block.type == "tool_use" and block.id.startswith("toolu_") and block.name == "get_weather"
    jsonschema.validate(block.input, PARAMS)
    with client.messages.stream(model="claude-sonnet-4-20250514", max_tokens=200, messages=msgs,
                                tools=tools) as stream:
        final = stream.get_final_message()
    streamed: Any = final.content[0]
    assert final.stop_reason == "tool_use" and streamed.type == "tool_use" and streamed.input == block.input
    follow: Any = [*msgs, {"role": "assistant", "content": [block.model_dump()]},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id,
                                                 "content": "Cloudy, 18 C"}]}]
    done = client.messages.create(model="claude-sonnet-4-20250514", max_tokens=200, messages=follow, tools=tools)
    text: Any = done.content[0]
    assert done.stop_reason == "end_turn" and "Cloudy, 18 C" in text.text
    forced = client.messages.create(model="claude-sonnet-4-20250514", max_tokens=200, messages=follow, tools=tools,
                                    tool_choice={"type": "any"})
    assert forced.stop_reason == "tool_use"
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model="claude-sonnet-4-20250514", max_tokens=200, messages=msgs, tools=tools,
                               tool_choice={"type": "tool", "name": "nope"})
    assert "nope" in str(e.value)


def test_litellm_sees_tool_calls(start_provider: StartProvider) -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # slow; the proxy's frontier tiers go through it

    url = start_provider(api_key=KEY)

    async def run(model: str, base: str, stream: bool) -> tuple[str, str, str | None]:
        r: Any = await litellm.acompletion(model=model, api_base=base, api_key=KEY, messages=ASK, tools=[WEATHER],
                                           max_tokens=200, stream=stream, max_retries=0)
        if not stream:
            call = r.choices[0].message.tool_calls[0]
            return call.function.name, call.function.arguments, r.choices[0].finish_reason
        name, args, finish = "", "", None
        async for ch in r:
            for tc in ch.choices[0].delta.tool_calls or ():
                name += tc.function.name or ""
                args += tc.function.arguments or ""
            finish = ch.choices[0].finish_reason or finish
        return name, args, finish

    for model, base in (("openai/gpt-4o", url + "/v1"), ("anthropic/claude-sonnet-4-20250514", url)):
        for stream in (False, True):
            name, args, finish = asyncio.run(run(model, base, stream))
            assert name == "get_weather" and finish == "tool_calls", (model, stream)
            jsonschema.validate(json.loads(args), PARAMS)


def test_text_only_models_flag(start_provider: StartProvider) -> None:
    import argparse

    from fleet.sim.fake_provider import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args([])).text_only_models == ("gpt-3.5*", "*text-only*")
    cfg = config_from_args(parser.parse_args(["--text-only-models", "claude-2*, old-*"]))
    assert cfg.text_only_models == ("claude-2*", "old-*")
    client = _anthropic(start_provider(text_only_models=cfg.text_only_models))
    image: Any = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    msgs: Any = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, image]}]
    seen = client.messages.create(model="claude-sonnet-4-20250514", max_tokens=50, messages=msgs)
    plain = client.messages.create(model="claude-sonnet-4-20250514", max_tokens=50,
                                   messages=[{"role": "user", "content": [{"type": "text", "text": "What is this?"}]}])
    assert seen.usage.input_tokens - plain.usage.input_tokens == 256
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model="claude-2.1", max_tokens=50, messages=msgs)
