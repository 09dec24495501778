"""Anthropic Messages <-> OpenAI chat translation: pure data, plus the official SDK parsing our output.

The SDK checks run without a server: a mock HTTP transport hands the SDK the bytes our
translators produce, exactly as the proxy would send them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import anthropic
import orjson
import pytest

from router.anthropic import (
    RAW_ARGUMENTS_KEY,
    AnthropicRequestError,
    StreamTranslator,
    error_body,
    error_event,
    from_openai_response,
    to_openai_request,
)

try:  # anthropic>=2 is built on httpx2; older releases on httpx
    import httpx2 as httpx_mod
except ImportError:  # pragma: no cover - depends on the installed SDK
    import httpx as httpx_mod  # type: ignore[no-redef]

Json = dict[str, Any]


def req(**fields: Any) -> Json:
    body: Json = {"model": "auto", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    body.update(fields)
    return body


# ============================================================================ request
def test_minimal_request() -> None:
    assert to_openai_request(req()) == {
        "model": "auto", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


def test_system_string_and_blocks() -> None:
    assert to_openai_request(req(system="be brief"))["messages"][0] == {"role": "system", "content": "be brief"}
    blocks = [{"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "two"}]
    out = to_openai_request(req(system=blocks))
    assert out["messages"][0] == {"role": "system", "content": [  # a cache breakpoint keeps the blocks apart
        {"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "two"}]}
    assert len(out["messages"]) == 2
    plain = [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    assert to_openai_request(req(system=plain))["messages"][0] == {"role": "system", "content": "one\n\ntwo"}
    assert to_openai_request(req(system=""))["messages"] == [{"role": "user", "content": "hi"}]


def test_sampling_stream_metadata_and_dropped_fields() -> None:
    out = to_openai_request(req(temperature=0.2, top_p=0.9, top_k=40, stop_sequences=["###", "END"],
                                stream=True, metadata={"user_id": "u-1"}, service_tier="auto",
                                thinking={"type": "enabled", "budget_tokens": 1024}))
    assert out == {"model": "auto", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}],
                   "temperature": 0.2, "top_p": 0.9, "stop": ["###", "END"], "user": "u-1",
                   "stream": True, "stream_options": {"include_usage": True},
                   "thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert "stream" not in to_openai_request(req(stream=False))
    assert "user" not in to_openai_request(req(metadata={"user_id": None}))


def test_images_become_image_url_parts() -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "what are these?"},
    ]
    out = to_openai_request(req(messages=[{"role": "user", "content": content}]))
    assert out["messages"] == [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "what are these?"},
    ]}]


def test_single_text_block_collapses_to_string() -> None:
    out = to_openai_request(req(messages=[{"role": "user", "content": [{"type": "text", "text": "hey"}]}]))
    assert out["messages"] == [{"role": "user", "content": "hey"}]


def test_tool_use_and_tool_result_round() -> None:
    messages = [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "two calls", "signature": "sig"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {"city": "Rome"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True, "content": [
                {"type": "text", "text": "station down"},
                {"type": "image", "source": {"type": "url", "url": "https://x/map.png"}},
            ]},
            {"type": "text", "text": "summarise"},
        ]},
    ]
    out = to_openai_request(req(messages=messages))["messages"]
    assert out == [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}},
            {"id": "toolu_2", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Rome"}'}},
        ], "thinking_blocks": [{"type": "thinking", "thinking": "two calls", "signature": "sig"}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: station down"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/map.png"}},
                                     {"type": "text", "text": "summarise"}]},
    ]


def test_tool_only_turns() -> None:
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "noop", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
        {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "xx"}]},
    ]
    out = to_openai_request(req(messages=messages))["messages"]
    assert out[1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "noop", "arguments": "{}"}}]}
    assert out[2] == {"role": "tool", "tool_call_id": "t1", "content": ""}
    assert out[3] == {"role": "assistant", "content": "",
                      "thinking_blocks": [{"type": "redacted_thinking", "data": "xx"}]}
    assert len(out) == 4


TOOLS = [{"name": "weather", "description": "Current weather", "input_schema": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
    {"type": "custom", "name": "noop", "input_schema": {"type": "object"}}]


def test_tools() -> None:
    out = to_openai_request(req(tools=TOOLS))
    assert out["tools"] == [
        {"type": "function", "function": {"name": "weather", "description": "Current weather",
                                          "parameters": TOOLS[0]["input_schema"]}},
        {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}},
    ]
    assert "tool_choice" not in out


@pytest.mark.parametrize(("choice", "expected"), [
    ({"type": "auto"}, {"tool_choice": "auto"}),
    ({"type": "any"}, {"tool_choice": "required"}),
    ({"type": "none"}, {"tool_choice": "none"}),
    ({"type": "tool", "name": "weather"}, {"tool_choice": {"type": "function", "function": {"name": "weather"}}}),
    ({"type": "any", "disable_parallel_tool_use": True}, {"tool_choice": "required", "parallel_tool_calls": False}),
    ({"type": "auto", "disable_parallel_tool_use": False}, {"tool_choice": "auto"}),
])
def test_tool_choice(choice: Json, expected: Json) -> None:
    out = to_openai_request(req(tools=TOOLS, tool_choice=choice))
    assert {k: out[k] for k in ("tool_choice", "parallel_tool_calls") if k in out} == expected


def test_output_config_format() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    out = to_openai_request(req(output_config={"effort": "low", "format": {"type": "json_schema", "schema": schema}}))
    assert out["response_format"] == {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
    assert "response_format" not in to_openai_request(req(output_config={"effort": "high"}))


def test_tool_choice_without_tools_is_dropped() -> None:
    out = to_openai_request(req(tool_choice={"type": "auto"}))
    assert "tool_choice" not in out and "tools" not in out


def _msg(content: Any, role: str = "user") -> Json:
    return req(messages=[{"role": "user", "content": "a"}, {"role": role, "content": content}])


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    (req(max_tokens=0), "max_tokens"),
    (req(max_tokens=True), "max_tokens"),
    (req(max_tokens="10"), "max_tokens"),
    (req(model=""), "model"),
    ({"model": "m", "max_tokens": 5}, "messages"),
    (req(messages=[]), "messages"),
    (req(messages={"role": "user"}), "messages"),
    (req(messages=["hi"]), "messages[0]"),
    (req(messages=[{"role": "system", "content": "x"}]), "messages[0].role"),
    (req(messages=[{"role": "user"}]), "messages[0].content"),
    (req(messages=[{"role": "user", "content": []}]), "messages[0].content"),
    (_msg([{"type": "search_result", "source": "s"}]), "messages[1].content[0].type"),
    (_msg([{"type": "document", "source": {}}]), "messages[1].content[0].source.type"),
    (_msg([{"text": "no type"}]), "messages[1].content[0].type"),
    (_msg([{"type": "text", "text": 3}]), "messages[1].content[0].text"),
    (_msg([{"type": "tool_result", "tool_use_id": "t", "content": "x"}], "assistant"), "messages[1].content[0].type"),
    (_msg([{"type": "tool_use", "id": "t", "name": "n", "input": {}}]), "messages[1].content[0].type"),
    (_msg([{"type": "tool_use", "id": "t", "name": "n", "input": "{}"}], "assistant"), "messages[1].content[0].input"),
    (_msg([{"type": "tool_use", "name": "n", "input": {}}], "assistant"), "messages[1].content[0].id"),
    (_msg([{"type": "tool_result", "content": "x"}]), "messages[1].content[0].tool_use_id"),
    (_msg([{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "document"}]}]),
     "messages[1].content[0].content[0].type"),
    (_msg([{"type": "tool_result", "tool_use_id": "t", "is_error": "yes"}]), "messages[1].content[0].is_error"),
    (_msg([{"type": "image", "source": {"type": "file", "file_id": "f"}}]), "messages[1].content[0].source.type"),
    (_msg([{"type": "image", "source": {"type": "base64", "data": "x"}}]), "messages[1].content[0].source.media_type"),
    (req(system=[{"type": "image"}]), "system[0].type"),
    (req(system=5), "system"),
    (req(stop_sequences="END"), "stop_sequences"),
    (req(stop_sequences=["ok", 1]), "stop_sequences[1]"),
    (req(temperature="hot"), "temperature"),
    (req(stream="yes"), "stream"),
    (req(metadata={"user_id": 7}), "metadata.user_id"),
    (req(tools=[{"type": "web_search_20250305"}]), "tools[0].name"),
    (req(thinking={"type": "enabled"}), "thinking.budget_tokens"),
    (req(thinking={"type": "on", "budget_tokens": 2000}), "thinking.type"),
    (req(thinking=True), "thinking"),
    (_msg([{"type": "text", "text": "x", "cache_control": "ephemeral"}]), "messages[1].content[0].cache_control"),
    (_msg([{"type": "document", "source": {"type": "file", "file_id": "f"}}]), "messages[1].content[0].source.type"),
    (_msg([{"type": "document", "source": {"type": "text"}}]), "messages[1].content[0].source.data"),
    (_msg([{"type": "document", "source": {"type": "content", "content": [{"type": "pdf"}]}}]),
     "messages[1].content[0].source.content[0].type"),
    (_msg([{"type": "thinking", "thinking": "t"}], "assistant"), "messages[1].content[0].signature"),
    (req(tools=[{"name": "x"}]), "tools[0].input_schema"),
    (req(tools=[{"input_schema": {}}]), "tools[0].name"),
    (req(tools=TOOLS, tool_choice={"type": "function"}), "tool_choice.type"),
    (req(tools=TOOLS, tool_choice={"type": "tool"}), "tool_choice.name"),
    (req(output_config="json"), "output_config"),
    (req(output_config={"format": {"type": "regex"}}), "output_config.format.type"),
    (req(output_config={"format": {"type": "json_schema"}}), "output_config.format.schema"),
])
def test_malformed_requests(body: Json, param: str) -> None:
    with pytest.raises(AnthropicRequestError) as info:
        to_openai_request(body)
    assert info.value.param == param
    assert info.value.message.startswith(f"{param}: ")
    assert isinstance(info.value, ValueError)


def test_non_object_body() -> None:
    with pytest.raises(AnthropicRequestError) as info:
        to_openai_request(["not", "a", "dict"])  # type: ignore[arg-type]
    assert info.value.param is None


def test_request_is_not_mutated() -> None:
    body = req(tools=TOOLS, system=[{"type": "text", "text": "s"}])
    snapshot = orjson.dumps(body)
    out = to_openai_request(body)
    out["tools"][0]["function"]["parameters"]["extra"] = True
    assert orjson.dumps(body) == snapshot


# ============================================================================ response
def completion(message: Json, finish: str | None = "stop", **choice_extra: Any) -> Json:
    return {"id": "chatcmpl-abc123", "object": "chat.completion", "created": 1, "model": "qwen-7b",
            "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish,
                         **choice_extra}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107,
                      "prompt_tokens_details": {"cached_tokens": 60}}}


def test_text_response() -> None:
    out = from_openai_response(completion({"content": "Hello!"}))
    assert out == {"id": "msg_abc123", "type": "message", "role": "assistant", "model": "qwen-7b",
                   "content": [{"type": "text", "text": "Hello!"}], "stop_reason": "end_turn",
                   "stop_sequence": None,
                   "usage": {"input_tokens": 40, "output_tokens": 7, "cache_read_input_tokens": 60}}
    assert from_openai_response(completion({"content": "x"}), model="auto")["model"] == "auto"


def test_usage_without_cache_details() -> None:
    resp = completion({"content": "x"})
    resp["usage"] = {"prompt_tokens": 12, "completion_tokens": 3}
    assert from_openai_response(resp)["usage"] == {"input_tokens": 12, "output_tokens": 3}
    del resp["usage"]
    assert from_openai_response(resp)["usage"] == {"input_tokens": 0, "output_tokens": 0}


def test_tool_calls_response() -> None:
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "broken", "arguments": '{"city": "Ro'}},
        {"id": "call_3", "type": "function", "function": {"name": "listy", "arguments": "[1, 2]"}},
        {"type": "function", "function": {"name": "noargs", "arguments": ""}},
    ]
    out = from_openai_response(completion({"content": "Let me check.", "tool_calls": calls}, "tool_calls"))
    assert out["stop_reason"] == "tool_use"
    assert out["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "broken", "input": {RAW_ARGUMENTS_KEY: '{"city": "Ro'}},
        {"type": "tool_use", "id": "call_3", "name": "listy", "input": {RAW_ARGUMENTS_KEY: "[1, 2]"}},
        {"type": "tool_use", "id": "toolu_abc123_3", "name": "noargs", "input": {}},
    ]


def test_tool_calls_with_stop_finish_reason_still_tool_use() -> None:
    calls = [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    out = from_openai_response(completion({"content": None, "tool_calls": calls}, "stop"))
    assert out["stop_reason"] == "tool_use"
    assert [b["type"] for b in out["content"]] == ["tool_use"]


@pytest.mark.parametrize(("finish", "reason"), [
    ("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("function_call", "tool_use"),
    ("content_filter", "refusal"), (None, "end_turn"), ("abort", "end_turn"),
])
def test_finish_reason_mapping(finish: str | None, reason: str) -> None:
    out = from_openai_response(completion({"content": "x"}, finish))
    assert (out["stop_reason"], out["stop_sequence"]) == (reason, None)


@pytest.mark.parametrize(("extra", "stops", "expected"), [
    ({"matched_stop": "###"}, None, ("stop_sequence", "###")),          # SGLang
    ({"stop_reason": "END"}, ["END"], ("stop_sequence", "END")),        # vLLM
    ({"matched_stop": 151645}, None, ("end_turn", None)),               # EOS token id, not a sequence
    ({"stop_reason": None}, None, ("end_turn", None)),
    ({"matched_stop": "</s>"}, ["###"], ("end_turn", None)),            # not one of the request's
])
def test_stop_sequence_when_knowable(extra: Json, stops: list[str] | None, expected: tuple[str, str | None]) -> None:
    out = from_openai_response(completion({"content": "x"}, "stop", **extra), stop_sequences=stops)
    assert (out["stop_reason"], out["stop_sequence"]) == expected


def test_refusal_and_odd_shapes() -> None:
    out = from_openai_response(completion({"content": None, "refusal": "I can't help with that."}))
    assert out["content"] == [{"type": "text", "text": "I can't help with that."}]
    assert out["stop_reason"] == "refusal"
    two_parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    parts = from_openai_response(completion({"content": two_parts}))
    assert parts["content"] == [{"type": "text", "text": "ab"}]
    empty = from_openai_response({"choices": [], "model": "m"})
    assert empty["content"] == [] and empty["stop_reason"] == "end_turn" and empty["id"].startswith("msg_")


# ============================================================================ stream
def chunk(delta: Json | None = None, finish: str | None = None, **choice_extra: Any) -> Json:
    return {"id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 1, "model": "qwen-7b",
            "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish, **choice_extra}]}


def usage_chunk(prompt: int = 20, completion: int = 9, cached: int | None = None) -> Json:
    usage: Json = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return {"id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 1, "model": "qwen-7b",
            "choices": [], "usage": usage}


def tool_delta(index: int, *, id: str | None = None, name: str | None = None, args: str | None = None) -> Json:
    call: Json = {"index": index, "function": {}}
    if id is not None:
        call["id"], call["type"] = id, "function"
    if name is not None:
        call["function"]["name"] = name
    if args is not None:
        call["function"]["arguments"] = args
    return {"tool_calls": [call]}


def translate(chunks: Iterable[Json], translator: StreamTranslator | None = None) -> list[bytes]:
    tr = translator or StreamTranslator("auto")
    out = [ev for c in chunks for ev in tr.feed(c)]
    return out + tr.finish()


def parse_sse(raw: list[bytes]) -> list[tuple[str, Json]]:
    events = []
    for ev in raw:
        assert ev.endswith(b"\n\n")
        name_line, data_line = ev[:-2].split(b"\n")
        assert name_line.startswith(b"event: ") and data_line.startswith(b"data: ")
        name, data = name_line[7:].decode(), orjson.loads(data_line[6:])
        assert data["type"] == name
        events.append((name, data))
    return events


TEXT_STREAM = [chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}), chunk({"content": "lo"}),
               chunk({}, "stop"), usage_chunk(cached=5)]


def test_text_stream_event_sequence() -> None:
    events = parse_sse(translate(TEXT_STREAM))
    assert [n for n, _ in events] == ["message_start", "ping", "content_block_start", "content_block_delta",
                                      "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start == {"id": "msg_s1", "type": "message", "role": "assistant", "model": "auto", "content": [],
                     "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}
    assert events[2][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert events[3][1]["delta"] == {"type": "text_delta", "text": "Hel"}
    assert events[5][1] == {"type": "content_block_stop", "index": 0}
    assert events[6][1] == {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                            "usage": {"input_tokens": 15, "output_tokens": 9, "cache_read_input_tokens": 5}}


def test_model_falls_back_to_upstream_and_input_tokens_hint() -> None:
    events = parse_sse(translate(TEXT_STREAM, StreamTranslator(None, input_tokens=17)))
    assert events[0][1]["message"]["model"] == "qwen-7b"
    assert events[0][1]["message"]["usage"]["input_tokens"] == 17


def test_interleaved_text_and_two_tool_calls() -> None:
    chunks = [
        chunk({"role": "assistant", "content": "Checking"}),
        chunk({"content": " both."}),
        chunk(tool_delta(0, id="call_a", name="weather", args="")),
        chunk(tool_delta(0, args='{"city": ')),
        chunk(tool_delta(0, args='"Paris"}')),
        chunk(tool_delta(1, id="call_b", name="weather", args='{"city": "Rome"}')),
        chunk({}, "tool_calls"),
        usage_chunk(),
    ]
    events = parse_sse(translate(chunks))
    names = [n for n, _ in events]
    assert names == ["message_start", "ping",
                     "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    starts = [d for n, d in events if n == "content_block_start"]
    assert [s["index"] for s in starts] == [0, 1, 2]
    assert starts[1]["content_block"] == {"type": "tool_use", "id": "call_a", "name": "weather", "input": {}}
    assert starts[2]["content_block"]["id"] == "call_b"
    json_parts: dict[int, str] = {}
    for n, d in events:
        if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta":
            json_parts[d["index"]] = json_parts.get(d["index"], "") + d["delta"]["partial_json"]
    assert {i: orjson.loads(s) for i, s in json_parts.items()} == {1: {"city": "Paris"}, 2: {"city": "Rome"}}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_text_after_tool_call_opens_new_block() -> None:
    chunks = [chunk(tool_delta(0, id="c", name="f", args="{}")), chunk({"content": "done"}), chunk({}, "stop")]
    events = parse_sse(translate(chunks))
    starts = [d["content_block"]["type"] for n, d in events if n == "content_block_start"]
    stops = [d["index"] for n, d in events if n == "content_block_stop"]
    assert starts == ["tool_use", "text"] and stops == [0, 1]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"  # a tool was called: the client must run it


def test_tool_name_arriving_late_and_missing_ids() -> None:
    chunks = [chunk(tool_delta(0, args='{"a"')), chunk(tool_delta(0, name="late")), chunk(tool_delta(0, args=": 1}")),
              chunk({"tool_calls": [{"id": "x2", "function": {"name": "noindex", "arguments": "{}"}}]}),
              chunk({}, "tool_calls")]
    events = parse_sse(translate(chunks))
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert starts == [{"type": "tool_use", "id": "toolu_s1_0", "name": "late", "input": {}},
                      {"type": "tool_use", "id": "x2", "name": "noindex", "input": {}}]
    deltas = [(d["index"], d["delta"]["partial_json"]) for n, d in events if n == "content_block_delta"]
    assert deltas == [(0, '{"a"'), (0, ": 1}"), (1, "{}")]


def test_id_arriving_with_name_and_late_fragment_for_closed_block() -> None:
    chunks = [chunk(tool_delta(0, args="{")), chunk(tool_delta(0, id="call_x", name="f")),
              chunk(tool_delta(1, id="call_y", name="g", args="{}")), chunk(tool_delta(0, args="}")),
              chunk({}, "tool_calls")]
    events = parse_sse(translate(chunks))
    starts = [d["content_block"]["id"] for n, d in events if n == "content_block_start"]
    deltas = [(d["index"], d["delta"]["partial_json"]) for n, d in events if n == "content_block_delta"]
    assert starts == ["call_x", "call_y"]
    assert deltas == [(0, "{"), (1, "{}"), (0, "}")]  # the straggler keeps its block's index


def test_content_and_finish_in_one_chunk_and_no_usage() -> None:
    events = parse_sse(translate([chunk({"content": "all at once"}, "length")]))
    assert [n for n, _ in events][2:] == ["content_block_start", "content_block_delta", "content_block_stop",
                                          "message_delta", "message_stop"]
    assert events[-2][1] == {"type": "message_delta", "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
                             "usage": {"output_tokens": 0}}


def test_stop_sequence_in_stream() -> None:
    tr = StreamTranslator("auto", stop_sequences=["###"])
    events = parse_sse(translate([chunk({"content": "a"}), chunk({}, "stop", matched_stop="###")], tr))
    assert events[-2][1]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "###"}


def test_empty_stream_and_idempotent_finish() -> None:
    tr = StreamTranslator("auto")
    events = parse_sse(tr.finish())
    assert [n for n, _ in events] == ["message_start", "ping", "message_delta", "message_stop"]
    assert tr.finish() == [] and tr.feed(chunk({"content": "late"})) == []


def test_other_choices_and_refusal_delta() -> None:
    extra = chunk({"content": "ignored"})
    extra["choices"][0]["index"] = 1
    events = parse_sse(translate([extra, chunk({"refusal": "No."}), chunk({}, "stop")]))
    texts = [d["delta"]["text"] for n, d in events if n == "content_block_delta"]
    assert texts == ["No."] and events[-2][1]["delta"]["stop_reason"] == "refusal"


# ============================================================================ errors
@pytest.mark.parametrize(("status", "kind"), [
    (400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"),
    (404, "not_found_error"), (413, "request_too_large"), (422, "invalid_request_error"),
    (429, "rate_limit_error"), (500, "api_error"), (502, "api_error"), (503, "overloaded_error"),
    (504, "api_error"), (529, "overloaded_error"),
])
def test_error_body(status: int, kind: str) -> None:
    assert error_body(status, "nope") == {"type": "error", "error": {"type": kind, "message": "nope"}}


def test_error_event() -> None:
    assert parse_sse([error_event(529, "busy")]) == [
        ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})]


# ============================================================================ the official SDK
Handler = Callable[[Any], Any]


def sdk(handler: Handler) -> anthropic.Anthropic:
    transport = httpx_mod.MockTransport(handler)
    return anthropic.Anthropic(api_key="sk-test", base_url="http://tierroute.test", max_retries=0,
                               http_client=httpx_mod.Client(transport=transport))


def sse_reply(events: list[bytes]) -> Handler:
    def handler(request: Any) -> Any:
        assert request.url.path == "/v1/messages"
        assert orjson.loads(request.content)["stream"] is True
        return httpx_mod.Response(200, headers={"content-type": "text/event-stream"}, content=b"".join(events))
    return handler


def json_reply(status: int, body: Json, seen: list[Json] | None = None) -> Handler:
    def handler(request: Any) -> Any:
        if seen is not None:
            seen.append(orjson.loads(request.content))
        return httpx_mod.Response(status, headers={"content-type": "application/json"}, content=orjson.dumps(body))
    return handler


ASK: Json = {"model": "auto", "max_tokens": 64, "messages": [{"role": "user", "content": "weather?"}]}
TOOL_STREAM = [
    chunk({"role": "assistant", "content": "Let me "}), chunk({"content": "check."}),
    chunk(tool_delta(0, id="call_a", name="weather", args='{"city": "Pa')),
    chunk(tool_delta(0, args='ris", "units": ["C"]}')),
    chunk(tool_delta(1, id="call_b", name="clock", args="")),
    chunk({}, "tool_calls"),
    usage_chunk(prompt=30, completion=12, cached=10),
]


def test_sdk_stream_final_message() -> None:
    client = sdk(sse_reply(translate(TOOL_STREAM)))
    with client.messages.stream(**ASK) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Let me check."
    assert final.id == "msg_s1" and final.model == "auto" and final.role == "assistant"
    assert [b.type for b in final.content] == ["text", "tool_use", "tool_use"]
    assert final.content[0].text == "Let me check."
    assert (final.content[1].id, final.content[1].name, final.content[1].input) == (
        "call_a", "weather", {"city": "Paris", "units": ["C"]})
    assert (final.content[2].name, final.content[2].input) == ("clock", {})
    assert final.stop_reason == "tool_use" and final.stop_sequence is None
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.cache_read_input_tokens) == (20, 12, 10)


def test_sdk_stream_truncated_tool_arguments() -> None:
    chunks = [chunk(tool_delta(0, id="call_t", name="write", args='{"path": "a.txt", "body": "hel')),
              chunk({}, "length"), usage_chunk(completion=64)]
    with sdk(sse_reply(translate(chunks))).messages.stream(**ASK) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens" and final.usage.output_tokens == 64
    assert final.content[0].type == "tool_use" and final.content[0].input["path"] == "a.txt"


def test_sdk_raw_stream_events() -> None:
    client = sdk(sse_reply(translate(TEXT_STREAM)))
    events = list(client.messages.create(**ASK, stream=True))
    assert [e.type for e in events] == ["message_start", "content_block_start", "content_block_delta",
                                        "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert events[-2].delta.stop_reason == "end_turn" and events[-2].usage.output_tokens == 9


def test_sdk_stream_stop_sequence() -> None:
    tr = StreamTranslator("auto", stop_sequences=["###"])
    client = sdk(sse_reply(translate([chunk({"content": "a"}), chunk({}, "stop", matched_stop="###")], tr)))
    with client.messages.stream(**ASK, stop_sequences=["###"]) as stream:
        final = stream.get_final_message()
    assert (final.stop_reason, final.stop_sequence, final.content[0].text) == ("stop_sequence", "###", "a")


def test_sdk_mid_stream_error() -> None:
    events = [*translate(TEXT_STREAM)[:4], error_event(503, "replica went away")]
    client = sdk(sse_reply(events))
    with pytest.raises(anthropic.APIStatusError) as info, client.messages.stream(**ASK) as stream:
        stream.get_final_message()
    assert "replica went away" in str(info.value)


def test_sdk_non_streaming_create() -> None:
    calls = [{"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]
    resp = from_openai_response(completion({"content": "Sure.", "tool_calls": calls}, "tool_calls"), model="auto")
    seen: list[Json] = []
    message = sdk(json_reply(200, resp, seen)).messages.create(**ASK)
    assert isinstance(message, anthropic.types.Message)
    assert message.id == "msg_abc123" and message.model == "auto"
    assert message.content[0].type == "text" and message.content[0].text == "Sure."
    assert message.content[1].type == "tool_use" and message.content[1].input == {"city": "Paris"}
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens, message.usage.cache_read_input_tokens) == (
        40, 7, 60)
    assert seen[0]["max_tokens"] == 64


def test_sdk_request_shapes_translate() -> None:
    """What the SDK actually sends for a tool round trip is accepted by to_openai_request."""
    seen: list[Json] = []
    client = sdk(json_reply(200, from_openai_response(completion({"content": "ok"})), seen))
    client.messages.create(
        model="auto", max_tokens=32, system=[{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        tools=[{"name": "weather", "description": "d", "input_schema": {"type": "object", "properties": {}}}],
        tool_choice={"type": "any", "disable_parallel_tool_use": True}, metadata={"user_id": "u"},
        stop_sequences=["###"], output_config={"format": {"type": "json_schema", "schema": {"type": "object"}}},
        extra_body={"temperature": 0.5, "top_k": 5},  # older SDKs' keyword arguments
        messages=[{"role": "user", "content": "w?"},
                  {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "weather",
                                                     "input": {"city": "Paris"}}]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "18C"}]}])
    out = to_openai_request(seen[0])
    assert out["messages"][0] == {"role": "system", "content": [
        {"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}]}
    assert out["messages"][2]["tool_calls"][0]["function"] == {"name": "weather", "arguments": '{"city":"Paris"}'}
    assert out["messages"][3] == {"role": "tool", "tool_call_id": "call_1", "content": "18C"}
    assert (out["tool_choice"], out["parallel_tool_calls"]) == ("required", False)
    assert (out["user"], out["stop"]) == ("u", ["###"])
    assert out["temperature"] == 0.5 and "top_k" not in out
    assert out["response_format"]["json_schema"]["schema"] == {"type": "object"}


@pytest.mark.parametrize(("status", "exc"), [
    (400, anthropic.BadRequestError), (401, anthropic.AuthenticationError), (404, anthropic.NotFoundError),
    (429, anthropic.RateLimitError), (529, anthropic.InternalServerError),
])
def test_sdk_error_responses(status: int, exc: type[anthropic.APIStatusError]) -> None:
    client = sdk(json_reply(status, error_body(status, "went wrong")))
    with pytest.raises(exc) as info:
        client.messages.create(**ASK)
    assert info.value.status_code == status
    assert info.value.body == error_body(status, "went wrong")
