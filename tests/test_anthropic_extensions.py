"""Anthropic's extensions, mapping by mapping: thinking, cache_control, documents, server tools.

The request translation (router/anthropic), what each backend kind gets (router/backends/fields.py,
rule 6; LiteLLMBackend for Claude and other litellm models), and thinking coming back (non-stream
and stream, parsed by the official SDK through a mock transport).
"""

from __future__ import annotations

from typing import Any

import anthropic
import orjson
import pytest

from router.anthropic import StreamTranslator, from_openai_response, to_openai_request
from router.backends import fields
from router.backends.litellm import LiteLLMBackend, openai_shape
from router.domain import Endpoint, Replica
from router.errors import BadRequest
from router.policy.model import Price

try:  # anthropic>=2 is built on httpx2; older releases on httpx
    import httpx2 as httpx_mod
except ImportError:  # pragma: no cover - depends on the installed SDK
    import httpx as httpx_mod  # type: ignore[no-redef]

Json = dict[str, Any]
EPHEMERAL = {"type": "ephemeral"}
PDF = {"type": "document", "title": "Q3", "context": "finance", "citations": {"enabled": True},
       "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}, "cache_control": EPHEMERAL}
URL_DOC = {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}
WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
TOOL = {"name": "weather", "input_schema": {"type": "object"}, "cache_control": EPHEMERAL}


def req(**extra: Any) -> Json:
    return {"model": "auto", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}], **extra}


def user(*blocks: Json) -> Json:
    return req(messages=[{"role": "user", "content": list(blocks)}])


def replica(model: str, kind: str = "litellm") -> Replica:
    return Replica(key=model, id=f"{kind}/0", tier="frontier" if kind == "litellm" else "small", kind=kind,  # type: ignore[arg-type]
                   model=model, price=Price(input_per_mtok=1, output_per_mtok=1), api_base="http://127.0.0.1:9")


# ============================================================================ request translation
def test_thinking_param() -> None:
    assert to_openai_request(req(thinking={"type": "enabled", "budget_tokens": 2048}))["thinking"] == {
        "type": "enabled", "budget_tokens": 2048}
    assert to_openai_request(req(thinking={"type": "disabled"}))["thinking"] == {"type": "disabled"}
    assert "thinking" not in to_openai_request(req())


def test_cache_control_on_blocks_and_tools() -> None:
    out = to_openai_request(req(
        tools=[TOOL], messages=[{"role": "user", "content": [
            {"type": "text", "text": "long context", "cache_control": EPHEMERAL},
            {"type": "image", "source": {"type": "url", "url": "https://x/i.png"}, "cache_control": EPHEMERAL}]},
            {"role": "assistant", "content": [{"type": "text", "text": "ok", "cache_control": EPHEMERAL}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "r",
                                          "cache_control": EPHEMERAL}]}]))
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "long context", "cache_control": EPHEMERAL},
        {"type": "image_url", "image_url": {"url": "https://x/i.png"}, "cache_control": EPHEMERAL}]
    assert out["messages"][1] == {"role": "assistant", "content": [
        {"type": "text", "text": "ok", "cache_control": EPHEMERAL}]}
    assert out["messages"][2] == {"role": "tool", "tool_call_id": "t", "content": [
        {"type": "text", "text": "r", "cache_control": EPHEMERAL}]}
    assert out["tools"][0]["cache_control"] == EPHEMERAL and out["tools"][0]["type"] == "function"
    # a lone text block with a breakpoint stays a part (a plain one collapses to a string, as before)
    lone = to_openai_request(user({"type": "text", "text": "q", "cache_control": EPHEMERAL}))
    assert lone["messages"][0]["content"] == [{"type": "text", "text": "q", "cache_control": EPHEMERAL}]


def test_text_documents_become_text() -> None:
    text_doc = {"type": "document", "title": "Notes", "source": {"type": "text", "media_type": "text/plain",
                                                                  "data": "The sky is blue."}}
    content_doc = {"type": "document", "cache_control": EPHEMERAL, "source": {"type": "content", "content": [
        {"type": "text", "text": "part one"}, {"type": "text", "text": "part two"}]}}
    out = to_openai_request(user(text_doc, content_doc, {"type": "text", "text": "summarise"}))
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "Notes\n\nThe sky is blue."}, {"type": "text", "text": "part one"},
        {"type": "text", "text": "part two", "cache_control": EPHEMERAL}, {"type": "text", "text": "summarise"}]
    assert to_openai_request(user({"type": "document", "source": {"type": "content", "content": "plain"}}))[
        "messages"][0]["content"] == "plain"


def test_pdf_and_url_documents_become_file_parts_holding_the_block() -> None:
    out = to_openai_request(user(PDF, URL_DOC))
    pdf, url = out["messages"][0]["content"]
    assert pdf == {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x"},
                   "document": PDF, "cache_control": EPHEMERAL}
    assert url == {"type": "file", "file": {"file_id": "https://example.com/a.pdf"}, "document": URL_DOC}


def test_server_tools_pass_as_they_are() -> None:
    out = to_openai_request(req(tools=[WEB_SEARCH, {"type": "code_execution_20250522", "name": "code_execution"},
                                       TOOL]))
    assert out["tools"][:2] == [WEB_SEARCH, {"type": "code_execution_20250522", "name": "code_execution"}]
    assert out["tools"][2]["function"]["name"] == "weather"


def test_count_tokens_body_needs_no_max_tokens() -> None:
    out = to_openai_request({"model": "auto", "messages": [{"role": "user", "content": "x"}]},
                            require_max_tokens=False)
    assert "max_tokens" not in out


# ============================================================================ fields.py, rule 6 (SGLang)
def test_sglang_gets_reasoning_effort_and_no_cache_control() -> None:
    body = to_openai_request(req(system=[{"type": "text", "text": "s", "cache_control": EPHEMERAL}], tools=[TOOL],
                                 thinking={"type": "enabled", "budget_tokens": 3000}, messages=[
                                     {"role": "user", "content": "q"},
                                     {"role": "assistant", "content": [
                                         {"type": "thinking", "thinking": "t", "signature": "s"},
                                         {"type": "text", "text": "a"}]},
                                     {"role": "user", "content": "again"}]))
    out = fields.build("sglang", Endpoint.CHAT, body, "qwen", stream=False)
    assert "thinking" not in out and out["reasoning_effort"] == "high"
    assert b"cache_control" not in orjson.dumps(out) and b"thinking_blocks" not in orjson.dumps(out)
    assert out["messages"][0] == {"role": "system", "content": [{"type": "text", "text": "s"}]}
    assert b"cache_control" in orjson.dumps(body)  # the request itself is untouched (other attempts)
    assert fields.unsupported_on_sglang(replica("qwen", "sglang"), Endpoint.CHAT, body) == ("cache_control",)
    assert fields.unsupported_on_sglang(replica("qwen", "sglang"), Endpoint.CHAT, to_openai_request(req())) == ()


@pytest.mark.parametrize(("budget", "effort"), [(1024, "low"), (2048, "medium"), (2049, "high")])
def test_budget_to_effort(budget: int, effort: str) -> None:
    assert fields.effort({"type": "enabled", "budget_tokens": budget}) == effort
    assert fields.effort({"type": "disabled"}) is None


@pytest.mark.parametrize(("body", "named"), [
    (user(PDF), "'document' block"), (user(URL_DOC), "'document' block"),
    (req(tools=[WEB_SEARCH]), "'web_search_20250305'"),
])
def test_sglang_refuses_documents_and_server_tools_naming_them_and_the_tier(body: Json, named: str) -> None:
    with pytest.raises(BadRequest) as info:
        fields.unsupported_on_sglang(replica("qwen", "sglang"), Endpoint.CHAT, to_openai_request(body))
    assert named in info.value.message and "tier 'small'" in info.value.message
    assert info.value.headers["x-tierroute-tier"] == "small"


def test_an_openai_file_part_is_not_an_anthropic_document() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,AA"}}]}]}
    assert fields.unsupported_on_sglang(replica("qwen", "sglang"), Endpoint.CHAT, body) == ()


# ============================================================================ litellm: Claude and the rest
CLAUDE = "anthropic/claude-sonnet-4-20250514"


def backend() -> LiteLLMBackend:
    return LiteLLMBackend(connect_timeout_s=1, read_timeout_s=1, env={})


async def kwargs(model: str, body: Json) -> Json:
    b = backend()
    return await b._kwargs(replica(model), Endpoint.CHAT, fields.build("litellm", Endpoint.CHAT, body, model, False))


async def test_claude_gets_everything_as_litellm_forwards_it() -> None:
    body = to_openai_request(req(thinking={"type": "enabled", "budget_tokens": 1024}, tools=[TOOL, WEB_SEARCH],
                                 messages=[{"role": "user", "content": [PDF, {"type": "text", "text": "q",
                                                                                "cache_control": EPHEMERAL}]}]))
    b = backend()
    assert await b.unsupported(replica(CLAUDE), Endpoint.CHAT, body) == ()
    kw = await kwargs(CLAUDE, body)
    assert kw["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert kw["messages"][0]["content"] == [PDF, {"type": "text", "text": "q", "cache_control": EPHEMERAL}]
    assert kw["tools"][0]["cache_control"] == EPHEMERAL and kw["tools"][1] == WEB_SEARCH


async def test_other_models_map_thinking_and_drop_cache_control() -> None:
    body = to_openai_request(req(thinking={"type": "enabled", "budget_tokens": 1500}, tools=[TOOL],
                                 system=[{"type": "text", "text": "s", "cache_control": EPHEMERAL}]))
    b = backend()
    # o3-mini takes reasoning_effort: thinking is mapped, not dropped; cache_control is named
    assert await b.unsupported(replica("openai/o3-mini"), Endpoint.CHAT, body) == ("cache_control",)
    kw = await kwargs("openai/o3-mini", body)
    assert "thinking" not in kw and kw["reasoning_effort"] == "medium"
    assert b"cache_control" not in orjson.dumps(kw["messages"]) + orjson.dumps(kw["tools"])
    # gpt-4o takes neither: thinking is a parameter it does not take (dropped or refused by policy)
    assert await b.unsupported(replica("openai/gpt-4o"), Endpoint.CHAT, body) == ("thinking", "cache_control")
    kw = await kwargs("openai/gpt-4o", body)
    assert "thinking" not in kw and "reasoning_effort" not in kw
    # a Claude model without extended thinking (litellm's table): thinking not taken, cache_control is
    haiku = "anthropic/claude-3-5-haiku-20241022"
    assert await b.unsupported(replica(haiku), Endpoint.CHAT, body) == ("thinking",)
    disabled = to_openai_request(req(thinking={"type": "disabled"}))
    assert await b.unsupported(replica("openai/gpt-4o"), Endpoint.CHAT, disabled) == ()  # nothing to ask for


@pytest.mark.parametrize("body", [user(PDF), req(tools=[WEB_SEARCH])])
async def test_other_models_refuse_documents_and_server_tools(body: Json) -> None:
    with pytest.raises(BadRequest) as info:
        await backend().unsupported(replica("openai/gpt-4o"), Endpoint.CHAT, to_openai_request(body))
    assert "tier 'frontier'" in info.value.message and "openai/gpt-4o" in info.value.message


def test_litellm_thinking_blocks_survive_the_trim() -> None:
    blocks = [{"type": "thinking", "thinking": "hmm", "signature": "sig"}]
    shaped = openai_shape({"id": "x", "choices": [{"index": 0, "message": {
        "role": "assistant", "content": "a", "reasoning_content": "hmm", "thinking_blocks": blocks,
        "provider_specific_fields": {}}}]})
    assert shaped["choices"][0]["message"] == {"role": "assistant", "content": "a", "reasoning_content": "hmm",
                                               "thinking_blocks": blocks}
    plain = openai_shape({"choices": [{"message": {"role": "assistant", "content": "a", "thinking_blocks": None}}]})
    assert plain["choices"][0]["message"] == {"role": "assistant", "content": "a"}


# ============================================================================ thinking back to the client
def completion(message: Json) -> Json:
    return {"id": "chatcmpl-t1", "model": "claude", "choices": [
        {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5}}


def test_thinking_blocks_in_the_reply() -> None:
    out = from_openai_response(completion({"content": "4", "reasoning_content": "2+2", "thinking_blocks": [
        {"type": "thinking", "thinking": "2+2", "signature": "sig=="}, {"type": "redacted_thinking", "data": "enc"}]}))
    assert out["content"] == [{"type": "thinking", "thinking": "2+2", "signature": "sig=="},
                              {"type": "redacted_thinking", "data": "enc"}, {"type": "text", "text": "4"}]
    bare = completion({"content": "4", "reasoning_content": "2+2"})  # SGLang's reasoning parser
    assert from_openai_response(bare)["content"] == [{"type": "text", "text": "4"}]  # not asked: not shown
    assert from_openai_response(bare, thinking=True)["content"][0] == {"type": "thinking", "thinking": "2+2",
                                                                       "signature": ""}


def chunk(delta: Json, finish: str | None = None) -> Json:
    return {"id": "chatcmpl-s1", "model": "claude", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


LITELLM_THINKING_STREAM = [  # as litellm streams Claude's thinking (llms/anthropic/chat/handler.py)
    chunk({"role": "assistant", "reasoning_content": "Let me ",
           "thinking_blocks": [{"type": "thinking", "thinking": "Let me ", "index": 0}]}),
    chunk({"reasoning_content": "add.", "thinking_blocks": [{"type": "thinking", "thinking": "add.", "index": 0}]}),
    chunk({"reasoning_content": "", "thinking_blocks": [{"type": "thinking", "thinking": "", "signature": "c2ln",
                                                         "index": 0}]}),
    chunk({"thinking_blocks": [{"type": "redacted_thinking", "data": "enc"}]}),
    chunk({"content": "It is 4."}),
    chunk({}, "stop"),
    {"id": "chatcmpl-s1", "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 8}},
]


def sse(chunks: list[Json], thinking: bool = False) -> bytes:
    tr = StreamTranslator("claude", thinking=thinking)
    return b"".join([ev for c in chunks for ev in tr.feed(c)] + tr.finish())


def sdk_stream(raw: bytes) -> anthropic.Anthropic:
    def handler(request: Any) -> Any:
        return httpx_mod.Response(200, headers={"content-type": "text/event-stream"}, content=raw)
    return anthropic.Anthropic(api_key="k", base_url="http://tierroute.test", max_retries=0,
                               http_client=httpx_mod.Client(transport=httpx_mod.MockTransport(handler)))


def test_thinking_stream_parsed_by_the_sdk() -> None:
    client = sdk_stream(sse(LITELLM_THINKING_STREAM))
    with client.messages.stream(model="auto", max_tokens=64, messages=[{"role": "user", "content": "2+2?"}],
                                thinking={"type": "enabled", "budget_tokens": 1024}) as s:
        kinds = [e.type for e in s]
        final = s.get_final_message()
    assert "thinking" in kinds and "signature" in kinds
    assert [b.type for b in final.content] == ["thinking", "redacted_thinking", "text"]
    assert (final.content[0].thinking, final.content[0].signature) == ("Let me add.", "c2ln")
    assert final.content[1].data == "enc" and final.content[2].text == "It is 4."


def test_bare_reasoning_stream_only_when_asked() -> None:
    chunks = [chunk({"reasoning_content": "hmm"}), chunk({"content": "ok"}), chunk({}, "stop")]
    final = sdk_stream(sse(chunks, thinking=True)).messages.create(
        model="auto", max_tokens=8, messages=[{"role": "user", "content": "x"}], stream=True)
    starts = [e.content_block.type for e in final if e.type == "content_block_start"]
    assert starts == ["thinking", "text"]
    assert b"thinking" not in sse(chunks)
