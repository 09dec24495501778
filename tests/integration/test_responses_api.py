"""POST /v1/responses with the official openai SDK against a proxy on loopback.

Text, tool calls and structured output come from the simulated cluster (``auto``, a pinned
SGLang tier, the litellm tier on the fake provider); exact tool-call shapes, the conversation the
upstream is sent and a stream broken mid-way from a scripted chat backend started here
(:class:`Scripted`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest
from openai.types.responses import Response as ResponseObject
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.integration.conftest import CLIENT_KEY, Proxy, ProxyFactory
from tests.support import ServerThread, policy_dict

WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "The weather in a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                               "additionalProperties": False}, "strict": True}


class Person(BaseModel):
    name: str
    age: int


def client(proxy: Proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0)


# --- the simulated cluster: text, streaming, headers, the store ------------------------------------------------

@pytest.mark.parametrize("model", ["auto", "small", "frontier"])
def test_create_answers_in_the_response_schema(proxy: Proxy, model: str) -> None:
    raw = client(proxy).responses.with_raw_response.create(model=model, input="Say hello.", instructions="Be brief.",
                                                             max_output_tokens=16, metadata={"run": "t1"})
    r = raw.parse()
    ResponseObject.model_validate_json(raw.http_response.text)  # the SDK's schema, strictly
    assert r.id.startswith("resp_") and r.object == "response" and r.status in ("completed", "incomplete")
    assert r.output[0].type == "message" and r.output[0].role == "assistant"
    assert r.output_text and r.output_text == r.output[0].content[0].text
    assert r.output[0].content[0].annotations == []
    assert r.usage is not None and r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert (r.instructions, r.metadata, r.max_output_tokens, r.tools, r.tool_choice) == \
        ("Be brief.", {"run": "t1"}, 16, [], "auto")
    assert raw.headers["x-tierroute-tier"] == ("small" if model == "auto" else model)
    assert raw.headers["x-request-id"] == raw.headers["x-tierroute-request-id"] and r._request_id


@pytest.mark.parametrize("model", ["auto", "small", "frontier"])
def test_stream_events_build_the_final_response(proxy: Proxy, model: str) -> None:
    with client(proxy).responses.stream(model=model, input="Tell me a story.", max_output_tokens=400) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas and final.output_text == deltas
    assert final.id == events[0].response.id and final.status == "completed"
    assert final.usage is not None and final.usage.input_tokens > 0 and final.usage.output_tokens > 0


def test_cut_by_max_output_tokens_is_incomplete(proxy: Proxy) -> None:
    c = client(proxy)
    r = c.responses.create(model="small", input="Tell me a long story.", max_output_tokens=1)
    assert r.status == "incomplete" and r.incomplete_details is not None
    assert r.incomplete_details.reason == "max_output_tokens" and r.output[0].status == "incomplete"
    events = list(c.responses.create(model="small", input="Tell me a long story.", max_output_tokens=1, stream=True))
    assert events[-1].type == "response.incomplete" and events[-1].response.status == "incomplete"
    assert events[-1].response.usage is not None and events[-1].response.usage.output_tokens == 1


def test_create_stream_true_yields_typed_events(proxy: Proxy) -> None:
    events = list(client(proxy).responses.create(model="large", input="Hi there.", stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert events[-1].response.output_text == "".join(e.delta for e in events if e.type == "response.output_text.delta")


def test_stored_responses_are_retrieved_chained_and_deleted(proxy: Proxy) -> None:
    c = client(proxy)
    first = c.responses.create(model="small", input="Remember the word 'plum'.")
    assert c.responses.retrieve(first.id).output_text == first.output_text
    items = c.responses.input_items.list(first.id)
    assert [i.type for i in items.data] == ["message"]
    second = c.responses.create(model="small", input="Which word?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert second.usage is not None and first.usage is not None
    assert second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens  # the history was sent
    assert c.responses.delete(first.id) is None
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(first.id)
    with pytest.raises(openai.BadRequestError) as e:
        c.responses.create(model="small", input="Again?", previous_response_id=first.id)
    assert e.value.code == "previous_response_not_found" and e.value.param == "previous_response_id"


def test_store_false_is_not_kept(proxy: Proxy) -> None:
    c = client(proxy)
    r = c.responses.create(model="small", input="Forget me.", store=False)
    assert r.store is False
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(r.id)


@pytest.mark.parametrize(("kwargs", "param", "code"), [
    ({"tools": [{"type": "web_search"}]}, "tools[0].type", "unsupported_tool"),
    ({"extra_body": {"frobnicate": 1}}, "frobnicate", "unknown_parameter"),
    ({"input": [{"type": "message", "role": "robot", "content": "x"}]}, "input[0].role", None),
    ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format", "missing_required_parameter"),
])
def test_bad_requests_name_the_field(proxy: Proxy, kwargs: dict[str, Any], param: str, code: str | None) -> None:
    args: dict[str, Any] = {"model": "auto", "input": "hello", **kwargs}
    with pytest.raises(openai.BadRequestError) as e:
        client(proxy).responses.create(**args)
    assert e.value.param == param and e.value.code == code
    assert e.value.response.headers["x-request-id"]


def test_hosted_tool_error_names_it(proxy: Proxy) -> None:
    r = httpx.post(proxy.v1 + "/responses", headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                   json={"model": "auto", "input": "x", "tools": [{"type": "file_search", "vector_store_ids": []}]})
    assert r.status_code == 400 and "'file_search'" in r.json()["error"]["message"]


def test_key_is_required(proxy: Proxy) -> None:
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=proxy.v1, api_key="sk-wrong", max_retries=0).responses.create(model="auto", input="x")
    r = httpx.get(proxy.v1 + "/responses/resp_nope")
    assert r.status_code == 401


@pytest.mark.parametrize("model", ["auto", "small", "frontier"])
def test_tool_calls_with_the_simulated_models(proxy: Proxy, model: str) -> None:
    c = client(proxy)
    first = c.responses.create(model=model, input="What is the weather in Paris?", tools=[WEATHER_TOOL])
    call = first.output[-1]
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id
    assert isinstance(orjson.loads(call.arguments)["city"], str)
    with c.responses.stream(model=model, input="What is the weather in Paris?", tools=[WEATHER_TOOL]) as stream:
        kinds = [e.type for e in stream]
        streamed = stream.get_final_response().output[-1]
    assert "response.function_call_arguments.delta" in kinds and kinds[-1] == "response.completed"
    assert streamed.type == "function_call" and isinstance(orjson.loads(streamed.arguments)["city"], str)
    answer = c.responses.create(model=model, previous_response_id=first.id, tools=[WEATHER_TOOL], input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny and 21C"}])
    assert answer.output[0].type == "message" and "sunny and 21C" in answer.output_text  # the sim quotes it


@pytest.mark.parametrize("model", ["auto", "small", "frontier"])
def test_structured_output_with_the_simulated_models(proxy: Proxy, model: str) -> None:
    c = client(proxy)
    parsed = c.responses.parse(model=model, input="Describe a person.", text_format=Person)
    assert isinstance(parsed.output_parsed, Person)
    with c.responses.stream(model=model, input="Describe a person.", text_format=Person) as stream:
        final = stream.get_final_response()
    assert isinstance(final.output_parsed, Person)


# --- a scripted chat backend: tool calls, JSON, what the upstream is sent, a broken stream ----------------------

class Scripted:
    """A chat completions backend whose answer depends on the last user message: TOOL -> a get_weather
    call, JSON -> a Person as JSON, BREAK -> a stream cut by malformed JSON, else "ok". Keeps the bodies."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def app(self) -> Starlette:
        async def health(request: Request) -> Response:
            return Response("ok")

        async def chat(request: Request) -> Response:
            body = orjson.loads(await request.body())
            self.bodies.append(body)
            last = next(m for m in reversed(body["messages"]) if m["role"] in ("user", "tool"))
            text = last["content"] if isinstance(last["content"], str) else str(last["content"])
            if body.get("stream"):
                return StreamingResponse(self._chunks(body["model"], text), media_type="text/event-stream")
            message, finish = self._message(text, last["role"])
            return JSONResponse({"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
                                 "model": body["model"], "choices": [{"index": 0, "message": message,
                                                                      "finish_reason": finish}],
                                 "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}})

        return Starlette(routes=[Route("/health", health), Route("/v1/chat/completions", chat, methods=["POST"])])

    @staticmethod
    def _message(text: str, role: str) -> tuple[dict[str, Any], str]:
        if "TOOL" in text and role == "user":
            return {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_w1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}, "tool_calls"
        if "JSON" in text:
            return {"role": "assistant", "content": '{"name": "Ada", "age": 36}'}, "stop"
        return {"role": "assistant", "content": "ok"}, "stop"

    async def _chunks(self, model: str, text: str) -> AsyncIterator[bytes]:
        def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
            c = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": model,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if usage is None else [],
                 **({"usage": usage} if usage else {})}
            return b"data: " + orjson.dumps(c) + b"\n\n"

        if "TOOL" in text:
            yield chunk({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_w2", "type": "function",
                                                              "function": {"name": "get_weather", "arguments": ""}}]})
            for part in ('{"city": ', '"Paris"}'):
                yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
            yield chunk({}, "tool_calls")
        else:
            yield chunk({"role": "assistant", "content": "o"})
            if "BREAK" in text:
                await asyncio.sleep(0.1)  # after the first event has been relayed: too late to retry
                yield b"data: {not json\n\n"
                return
            yield chunk({"content": "k"})
            yield chunk({}, "stop")
        yield chunk({}, usage={"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13})
        yield b"data: [DONE]\n\n"


@pytest.fixture
def scripted(make_proxy: ProxyFactory) -> Iterator[tuple[Proxy, Scripted]]:
    backend = Scripted()
    with ServerThread(backend.app()) as server, make_proxy(policy_dict(small=[server.url])) as proxy:
        yield proxy, backend


def test_tool_call_round_trip(scripted: tuple[Proxy, Scripted]) -> None:
    proxy, backend = scripted
    c = client(proxy)
    r = c.responses.create(model="auto", input="TOOL: weather in Paris?", tools=[WEATHER_TOOL],
                           tool_choice="auto", parallel_tool_calls=False)
    call = r.output[0]
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id == "call_w1"
    assert orjson.loads(call.arguments) == {"city": "Paris"}
    sent = backend.bodies[-1]
    assert sent["tools"] == [{"type": "function", "function": {k: WEATHER_TOOL[k] for k in
                                                               ("name", "description", "parameters", "strict")}}]
    assert (sent["tool_choice"], sent["parallel_tool_calls"]) == ("auto", False)
    # the Agents SDK's next turn: the whole input again, the call and its output as items
    follow = c.responses.create(model="auto", tools=[WEATHER_TOOL], input=[
        {"role": "user", "content": "TOOL: weather in Paris?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"}])
    assert follow.output_text == "ok"
    assert backend.bodies[-1]["messages"] == [
        {"role": "user", "content": "TOOL: weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_w1", "type": "function", "function": {"name": "get_weather", "arguments": call.arguments}}]},
        {"role": "tool", "tool_call_id": "call_w1", "content": "sunny, 21C"}]


def test_streamed_tool_call(scripted: tuple[Proxy, Scripted]) -> None:
    proxy, _ = scripted
    with client(proxy).responses.stream(model="auto", input="TOOL please", tools=[WEATHER_TOOL]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.function_call_arguments.delta", "response.function_call_arguments.delta",
                     "response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    call = final.output[0]
    assert call.type == "function_call" and call.call_id == "call_w2" and call.arguments == '{"city": "Paris"}'
    assert final.usage is not None and final.usage.output_tokens == 2


def test_previous_response_id_sends_the_conversation(scripted: tuple[Proxy, Scripted]) -> None:
    proxy, backend = scripted
    c = client(proxy)
    first = c.responses.create(model="auto", input="TOOL: weather?", instructions="Use tools.", tools=[WEATHER_TOOL])
    call = first.output[0]
    assert call.type == "function_call"
    second = c.responses.create(model="auto", previous_response_id=first.id, tools=[WEATHER_TOOL], input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": "rain"}])
    third = c.responses.create(model="auto", previous_response_id=second.id, input="thanks", stream=False)
    assert third.output_text == "ok"
    assert [(m["role"], m.get("content")) for m in backend.bodies[-1]["messages"]] == [
        ("user", "TOOL: weather?"), ("assistant", None), ("tool", "rain"), ("assistant", "ok"), ("user", "thanks")]


def test_structured_output_parses(scripted: tuple[Proxy, Scripted]) -> None:
    proxy, backend = scripted
    parsed = client(proxy).responses.parse(model="auto", input="JSON please", text_format=Person)
    assert parsed.output_parsed == Person(name="Ada", age=36)
    fmt = backend.bodies[-1]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Person"
    assert fmt["json_schema"]["schema"]["required"] == ["name", "age"] and fmt["json_schema"]["strict"] is True


def test_stream_broken_midway_fails_in_band(scripted: tuple[Proxy, Scripted]) -> None:
    proxy, _ = scripted
    events = list(client(proxy).responses.create(model="auto", input="BREAK it", stream=True))
    assert [e.type for e in events][-2:] == ["error", "response.failed"]
    failed = events[-1].response
    assert failed.status == "failed" and failed.error is not None and failed.error.message
    with pytest.raises(openai.NotFoundError):  # a failed response is not stored
        client(proxy).responses.retrieve(failed.id)
