"""The Responses <-> chat translation (router/responses), checked against the openai SDK's own types."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from router.domain import Endpoint
from router.errors import BadRequest
from router.parse import parse_request
from router.responses import ResponseStore, StreamTranslator, from_chat, to_chat_request

EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}


def translate(kept: ResponseStore | None = None, /, **body: Any) -> Any:
    return to_chat_request({"model": "auto", "input": "hi", **body}, kept or ResponseStore())


def test_request_fields_map_to_chat() -> None:
    schema = {"type": "json_schema", "name": "P", "schema": {"type": "object"}, "strict": True}
    chat = translate(instructions="Be brief.", max_output_tokens=50, temperature=0.2, top_p=0.9, user="u1",
                     tools=[TOOL], tool_choice={"type": "function", "name": "get_weather"}, parallel_tool_calls=False,
                     text={"format": schema},
                     reasoning={"effort": "low"}, stream=True, store=False, metadata={"a": "b"}, truncation="auto",
                     include=["reasoning.encrypted_content"])
    assert dict(chat) == {
        "model": "auto", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "temperature": 0.2, "top_p": 0.9, "user": "u1", "max_tokens": 50, "stream": True,
        "stream_options": {"include_usage": True},
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": TOOL["parameters"]}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}}, "parallel_tool_calls": False,
        "response_format": {"type": "json_schema", "json_schema": {"name": "P", "schema": {"type": "object"},
                                                                   "strict": True}},
        "reasoning_effort": "low"}
    assert chat.origin.store is False and chat.origin.id.startswith("resp_")
    assert chat.origin.echo["metadata"] == {"a": "b"} and chat.origin.echo["truncation"] == "auto"
    parse_request(Endpoint.CHAT, chat)  # what the pipeline checks: every field is a chat field


def test_tool_choice_is_sent_only_with_tools() -> None:
    assert "tool_choice" not in translate(tool_choice="auto", parallel_tool_calls=True)
    assert translate(text={"format": {"type": "json_object"}})["response_format"] == {"type": "json_object"}
    assert "response_format" not in translate(text={"format": {"type": "text"}})


def test_input_items_become_messages() -> None:
    chat = translate(input=[
        {"role": "developer", "content": "Rules."},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"}]},
        {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
         "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}]},
        {"type": "function_call", "call_id": "c1", "name": "look", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "zoom", "arguments": "{\"x\": 1}"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call_output", "call_id": "c1", "output": "a cat"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "big"}]},
    ])
    assert chat["messages"] == [
        {"role": "system", "content": "Rules."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA",
                                                                         "detail": "low"}}]},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "zoom", "arguments": "{\"x\": 1}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "a cat"},
        {"role": "tool", "tool_call_id": "c2", "content": "big"}]
    parse_request(Endpoint.CHAT, chat)


@pytest.mark.parametrize(("body", "param", "code"), [
    ({"frobnicate": 1}, "frobnicate", "unknown_parameter"),
    ({"conversation": "conv_1"}, "conversation", "unsupported_parameter"),
    ({"background": True}, "background", "unsupported_parameter"),
    ({"tools": [{"type": "web_search_preview"}]}, "tools[0].type", "unsupported_tool"),
    ({"tools": [{"type": "function"}]}, "tools[0].name", "missing_required_parameter"),
    ({"tools": [TOOL], "tool_choice": {"type": "file_search"}}, "tool_choice", "unsupported_value"),
    ({"text": {"format": {"type": "xml"}}}, "text.format.type", "unsupported_value"),
    ({"input": 5}, "input", None),
    ({"input": [{"type": "item_reference", "id": "msg_x"}]}, "input[0].id", "item_not_found"),
    ({"input": [{"type": "file_search_call", "id": "x"}]}, "input[0].type", "unsupported_value"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}, "input[0].content[0].type",
     "unsupported_value"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
     "input[0].content[0].image_url", "unsupported_value"),
    ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id", "missing_required_parameter"),
    ({"previous_response_id": "resp_missing"}, "previous_response_id", "previous_response_not_found"),
    ({"store": "yes"}, "store", None),
])
def test_bad_requests_name_the_field(body: dict[str, Any], param: str, code: str | None) -> None:
    with pytest.raises(BadRequest) as e:
        translate(**body)
    assert (e.value.param, e.value.code, e.value.status) == (param, code, 400)


def test_missing_input_is_required() -> None:
    with pytest.raises(BadRequest) as e:
        to_chat_request({"model": "auto"}, ResponseStore())
    assert e.value.code == "missing_required_parameter"


def chat_reply(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {"id": "chatcmpl-1", "model": "m", "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14,
                      "prompt_tokens_details": {"cached_tokens": 6},
                      "completion_tokens_details": {"reasoning_tokens": 1}}}


def test_reply_is_a_valid_response_object() -> None:
    chat = translate(instructions="x", tools=[TOOL], metadata={"k": "v"})
    obj = from_chat(chat_reply({"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"c\": 1}"}}]},
        "tool_calls"), chat.origin, "served-model")
    r = Response.model_validate(obj)  # the SDK's own schema, validated strictly
    assert r.id == chat.origin.id and r.model == "served-model" and r.status == "completed"
    assert r.output_text == "Checking." and r.output[0].type == "message"
    call = r.output[1]
    assert call.type == "function_call" and (call.call_id, call.name, call.arguments) == \
        ("call_1", "get_weather", "{\"c\": 1}")
    assert r.usage is not None and (r.usage.input_tokens, r.usage.output_tokens, r.usage.total_tokens) == (10, 4, 14)
    assert r.usage.input_tokens_details.cached_tokens == 6 and r.usage.output_tokens_details.reasoning_tokens == 1
    assert (r.instructions, r.metadata, r.tool_choice, r.parallel_tool_calls) == ("x", {"k": "v"}, "auto", True)
    assert r.tools[0].type == "function" and r.text is not None and r.text.format is not None


def test_length_and_refusal() -> None:
    chat = translate()
    cut = Response.model_validate(from_chat(chat_reply({"role": "assistant", "content": "Once"}, "length"),
                                            chat.origin))
    assert cut.status == "incomplete" and cut.incomplete_details is not None
    assert cut.incomplete_details.reason == "max_output_tokens" and cut.output[0].status == "incomplete"
    refused = Response.model_validate(from_chat(chat_reply({"role": "assistant", "content": None,
                                                            "refusal": "No."}), chat.origin))
    part = refused.output[0].content[0]  # type: ignore[union-attr]
    assert part.type == "refusal" and part.refusal == "No."


def parse_sse(raw: list[bytes]) -> list[Any]:
    events = []
    for block in b"".join(raw).split(b"\n\n"):
        if not block:
            continue
        head, data = block.split(b"\n", 1)
        payload = orjson.loads(data.removeprefix(b"data: "))
        assert head == b"event: " + payload["type"].encode()
        events.append(EVENTS.validate_python(payload))
    return events


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, usage: Any = None) -> dict[str, Any]:
    return {"id": "c", "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
            **({"usage": usage} if usage else {})}


def test_stream_of_text_then_tool_calls() -> None:
    chat = translate(tools=[TOOL])
    t = StreamTranslator(chat.origin, "m")
    raw = t.start()
    for c in [chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}),
              chunk({"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "f", "arguments": "{\"a\""}}]}),
              chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
              chunk({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),  # name after the fragment
              chunk({"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "g"}}]}),
              chunk({}, "tool_calls"), chunk(usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8})]:
        raw += t.feed(c)
    raw += t.finish()
    events = parse_sse(raw)
    assert [e.type for e in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.delta", "response.output_text.done", "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    assert final.output_text == "Hello" and [o.type for o in final.output] == ["message", "function_call",
                                                                               "function_call"]
    assert [(o.call_id, o.name, o.arguments) for o in final.output[1:]] == [("call_a", "f", "{\"a\": 1}"),
                                                                            ("call_b", "g", "{}")]
    assert final.usage is not None and final.usage.total_tokens == 8
    assert events[2].item.id == events[8].item.id == final.output[0].id  # the SDK checks item identities
    assert t.response is not None and t.response["id"] == chat.origin.id


def test_stream_failure_and_cut() -> None:
    t = StreamTranslator(translate().origin, "m")
    events = parse_sse(t.start() + t.feed(chunk({"content": "x"})) + t.fail(502, "bad_gateway", "upstream broke"))
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert events[-2].code == "bad_gateway" and events[-2].message == "upstream broke"
    failed = events[-1].response
    assert (failed.status, failed.error.code, failed.error.message) == ("failed", "server_error", "upstream broke")
    t = StreamTranslator(translate().origin, "m")
    events = parse_sse(t.start() + t.feed(chunk({"content": "x"}, "length")) + t.finish())
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"


def test_empty_answer_is_one_empty_message_streamed_or_not() -> None:
    chat = translate()
    t = StreamTranslator(chat.origin, "m")
    events = parse_sse(t.start() + t.feed(chunk({"role": "assistant", "content": ""}, "stop")) + t.finish())
    assert [e.type for e in events[2:]] == ["response.output_item.added", "response.content_part.added",
                                            "response.output_text.done", "response.content_part.done",
                                            "response.output_item.done", "response.completed"]
    streamed = events[-1].response
    whole = Response.model_validate(from_chat(chat_reply({"role": "assistant", "content": ""}), chat.origin))
    assert [(o.type, o.content[0].text) for o in streamed.output] == \
        [(o.type, o.content[0].text) for o in whole.output] == [("message", "")]  # type: ignore[union-attr]


def test_store_chains_and_evicts() -> None:
    store = ResponseStore(max_entries=2)
    first = translate(store, input="one")
    store.put(from_chat(chat_reply({"role": "assistant", "content": "1"}), first.origin), first.origin.items)
    second = translate(store, input="two", previous_response_id=first.origin.id, instructions="new rules")
    assert [m["content"] for m in second["messages"]] == ["new rules", "one", "1", "two"]
    assert second.origin.items[-1]["content"] == "two" and len(second.origin.items) == 3
    second_response = from_chat(chat_reply({"role": "assistant", "content": "2"}), second.origin)
    second_output_id = second_response["output"][0]["id"]
    store.put(second_response, second.origin.items)
    assert store.get(first.origin.id) is not None  # used: now the most recent
    third = translate(store, input="three")
    store.put(from_chat(chat_reply({"role": "assistant", "content": "3"}), third.origin), third.origin.items)
    assert store.get(second.origin.id) is None and store.get(first.origin.id) is not None
    assert store.describe() == {"entries": 2, "max_entries": 2, "evicted": 1}
    kept_item, gone_item = store.get(first.origin.id).response["output"][0], second_output_id  # type: ignore[union-attr]
    chat = translate(store, input=[{"type": "item_reference", "id": kept_item["id"]}, {"role": "user", "content": "?"}])
    assert chat["messages"] == [{"role": "assistant", "content": "1"}, {"role": "user", "content": "?"}]
    with pytest.raises(BadRequest):  # evicted with its response
        translate(store, input=[{"type": "item_reference", "id": gone_item}])
    assert store.delete(first.origin.id) and not store.delete(first.origin.id)
