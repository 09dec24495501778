"""The simulated SGLang worker's tools, structured output, logprobs and images, through the openai SDK."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

StartWorker = Callable[..., str]

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                                                    "days": {"type": "integer", "minimum": 1, "maximum": 7}},
                   "required": ["city", "unit"], "additionalProperties": False}}}
STOCK = {"type": "function", "function": {
    "name": "get_stock_price", "description": "Latest stock price for a ticker symbol",
    "parameters": {"type": "object", "properties": {"ticker": {"type": "string"}}, "required": ["ticker"]}}}
ASK = [{"role": "user", "content": "What is the weather like in Paris today?"}]


class Recipe(BaseModel):
    title: str
    servings: int = Field(ge=1, le=12)
    ingredients: list[str] = Field(min_length=1)
    vegetarian: bool
    notes: str | None = None


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)


def _stream(client: openai.OpenAI, **kwargs: Any) -> tuple[list[Any], str, str | None, Any]:
    chunks = list(client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True}))
    args, finish, usage = "", None, None
    for ch in chunks:
        if ch.choices:
            for tc in ch.choices[0].delta.tool_calls or ():
                args += tc.function.arguments or "" if tc.function else ""
            finish = ch.choices[0].finish_reason or finish
        usage = ch.usage or usage
    return chunks, args, finish, usage


def test_tool_call_round_trip(start_worker: StartWorker) -> None:
    client = _client(start_worker())
    r = client.chat.completions.create(model="m", messages=ASK, tools=[STOCK, WEATHER])
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    call: Any = calls[0]
    assert call.type == "function" and call.id.startswith("call_") and len(call.id) == 29
    assert call.function.name == "get_weather"  # the tool that matches the question
    args = json.loads(call.function.arguments)
    jsonschema.validate(args, WEATHER["function"]["parameters"])  # type: ignore[index]
    assert r.usage is not None and r.usage.completion_tokens > 0
    # same prompt, same arguments
    again: Any = client.chat.completions.create(model="m", messages=ASK, tools=[STOCK, WEATHER])
    assert again.choices[0].message.tool_calls[0].function.arguments == call.function.arguments
    # the tool's result comes back: prose that quotes it, so an agent loop ends
    history = [*ASK, choice.message.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": call.id, "content": "Sunny and 21 degrees"}]
    done = client.chat.completions.create(model="m", messages=history, tools=[STOCK, WEATHER])
    assert done.choices[0].finish_reason == "stop" and done.choices[0].message.tool_calls is None
    assert "Sunny and 21 degrees" in (done.choices[0].message.content or "")


def test_tool_choice_modes(start_worker: StartWorker) -> None:
    client = _client(start_worker())
    named = {"type": "function", "function": {"name": "get_stock_price"}}
    r: Any = client.chat.completions.create(model="m", messages=ASK, tools=[WEATHER, STOCK], tool_choice=named)
    assert r.choices[0].message.tool_calls[0].function.name == "get_stock_price"
    none = client.chat.completions.create(model="m", messages=ASK, tools=[WEATHER], tool_choice="none")
    assert none.choices[0].message.tool_calls is None and none.choices[0].message.content
    after_tool = [*ASK, {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {
        "name": "get_weather", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "call_1", "content": "rain"}]
    forced = client.chat.completions.create(model="m", messages=after_tool, tools=[WEATHER], tool_choice="required")
    assert forced.choices[0].finish_reason == "tool_calls"
    short = client.chat.completions.create(model="m", messages=ASK, tools=[WEATHER], max_tokens=3)
    assert short.choices[0].finish_reason == "length" and short.choices[0].message.tool_calls is None
    assert short.choices[0].message.content and short.usage is not None and short.usage.completion_tokens == 3


def test_tool_call_streams_like_sglang(start_worker: StartWorker) -> None:
    client = _client(start_worker())
    plain: Any = client.chat.completions.create(model="m", messages=ASK, tools=[WEATHER])
    chunks, args, finish, usage = _stream(client, model="m", messages=ASK, tools=[WEATHER])
    assert finish == "tool_calls" and args == plain.choices[0].message.tool_calls[0].function.arguments
    assert usage is not None and usage.completion_tokens == plain.usage.completion_tokens
    deltas = [ch.choices[0].delta for ch in chunks if ch.choices]
    assert deltas[0].role == "assistant" and deltas[0].content == ""
    header = deltas[1].tool_calls[0]
    assert header.index == 0 and header.id.startswith("call_") and header.type == "function"
    assert header.function.name == "get_weather" and header.function.arguments == ""
    fragments = [d.tool_calls[0] for d in deltas[2:] if d.tool_calls]
    assert len(fragments) > 1 and all(f.function.name is None and f.id is None for f in fragments)
    assert chunks[-1].choices == []


def test_no_tool_call_parser_answers_auto_in_prose(start_worker: StartWorker) -> None:
    url = start_worker(tool_call_parser=None)
    client = _client(url)
    auto = client.chat.completions.create(model="m", messages=ASK, tools=[WEATHER])
    assert auto.choices[0].finish_reason == "stop" and auto.choices[0].message.tool_calls is None
    required = client.chat.completions.create(model="m", messages=ASK, tools=[WEATHER], tool_choice="required")
    assert required.choices[0].finish_reason == "tool_calls"
    assert httpx.get(url + "/get_server_info").json()["tool_call_parser"] is None


def test_structured_output(start_worker: StartWorker) -> None:
    client = _client(start_worker())
    for stream in (False, True):
        kwargs: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "A soup recipe"}],
                                  "response_format": {"type": "json_schema", "json_schema": {
                                      "name": "Recipe", "schema": Recipe.model_json_schema(), "strict": True}}}
        if stream:
            chunks, _, finish, _ = _stream(client, **kwargs)
            text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
        else:
            r = client.chat.completions.create(**kwargs)
            text, finish = r.choices[0].message.content or "", r.choices[0].finish_reason
        assert finish == "stop"
        Recipe.model_validate_json(text)
    parsed = client.chat.completions.parse(model="m", messages=[{"role": "user", "content": "Bread"}],
                                           response_format=Recipe)
    assert isinstance(parsed.choices[0].message.parsed, Recipe)
    obj = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Anything"}],
                                         response_format={"type": "json_object"})
    assert isinstance(json.loads(obj.choices[0].message.content or ""), dict)
    # JSON mode with the schema in the prompt (instructor's Mode.JSON, LangChain's json_mode): followed
    shown = json.dumps(Recipe.model_json_schema())
    obj = client.chat.completions.create(model="m", response_format={"type": "json_object"}, messages=[
        {"role": "system", "content": f"Return JSON that matches this json_schema:\n\n{shown}\n\nOnly the instance."},
        {"role": "user", "content": "A soup."}])
    assert Recipe.model_validate_json(obj.choices[0].message.content or "")


@pytest.mark.parametrize("body,message,kind", [
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
     "Tool 'nope' not found in tools list.", "BadRequestError"),
    ({"tool_choice": "required"}, "Tools cannot be empty if tool choice is set to required.", "BadRequestError"),
    ({"tool_choice": {"type": "function", "function": {"name": "x"}}},
     "Tools cannot be empty if tool choice is set to a specific tool.", "BadRequestError"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}}]},
     "Tool 0 function has invalid 'parameters' schema", "BadRequestError"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
     "schema_ is required for json_schema response format request.", "BadRequestError"),
    ({"response_format": {"type": "yaml"}}, "response_format.type", "Bad Request"),
    ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice", "Bad Request"),
])
def test_sglang_errors(start_worker: StartWorker, body: dict[str, Any], message: str, kind: str) -> None:
    url = start_worker()
    r = httpx.post(url + "/v1/chat/completions", json={"model": "m", "messages": ASK, **body})
    assert r.status_code == 400
    err = r.json()
    assert err["object"] == "error" and err["type"] == kind and err["code"] == 400
    assert message in err["message"]


def test_logprobs(start_worker: StartWorker) -> None:
    client = _client(start_worker())
    r = client.chat.completions.create(model="m", messages=ASK, logprobs=True, top_logprobs=3)
    lp = r.choices[0].logprobs
    assert lp is not None and lp.content is not None and r.usage is not None
    assert len(lp.content) == r.usage.completion_tokens
    assert "".join(t.token for t in lp.content) == r.choices[0].message.content
    for t in lp.content:
        assert t.logprob <= 0 and t.bytes == list(t.token.encode())
        assert len(t.top_logprobs) == 3 and t.top_logprobs[0].token == t.token
        assert [a.logprob for a in t.top_logprobs] == sorted((a.logprob for a in t.top_logprobs), reverse=True)
    chunks, _, _, _ = _stream(client, model="m", messages=ASK, logprobs=True, top_logprobs=3)
    streamed = [t for ch in chunks if ch.choices and ch.choices[0].logprobs
                for t in ch.choices[0].logprobs.content or ()]
    assert [t.model_dump() for t in streamed] == [t.model_dump() for t in lp.content]
    plain = client.chat.completions.create(model="m", messages=ASK)
    assert plain.choices[0].logprobs is None


def test_images_text_only_and_vision(start_worker: StartWorker) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "iVBORw0KGgo" * 50}}
    with_image = [{"role": "user", "content": [{"type": "text", "text": "What is in this picture?"}, image]}]
    text_only = [{"role": "user", "content": [{"type": "text", "text": "What is in this picture?"}]}]
    usage = {}
    for vision in (False, True):
        url = start_worker(vision=vision)
        client = _client(url)
        a, b = (client.chat.completions.create(model="m", messages=m) for m in (with_image, text_only))
        assert a.usage is not None and b.usage is not None
        usage[vision] = a.usage.prompt_tokens - b.usage.prompt_tokens
        assert httpx.get(url + "/get_model_info").json()["has_image_understanding"] is vision
    assert usage[False] == 0  # SGLang serving a text-only model ignores the image
    assert usage[True] == 256


def test_cli_flags() -> None:
    import argparse

    from fleet.sim.worker import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    default = config_from_args(parser.parse_args([]))
    assert default.vision is False and default.tool_call_parser == "qwen25"
    cfg = config_from_args(parser.parse_args(["--vision", "--tool-call-parser", ""]))
    assert cfg.vision is True and cfg.tool_call_parser is None
