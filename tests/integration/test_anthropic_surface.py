"""The rest of Anthropic's surface on the proxy (issue 11, point 4), through the official anthropic SDK:
count_tokens, thinking and cache_control reaching a Claude model behind litellm (a recording
Anthropic upstream started here says what it received), what SGLang and non-Claude tiers get instead,
documents, server tools, and errors in Anthropic's shape everywhere under /v1/messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from classifiers.fake import FunctionClassifier
from router.anthropic import to_openai_request
from router.app import create_app
from router.domain import Endpoint
from router.parse import parse_request
from router.settings import Settings
from tests.integration.conftest import (
    ADMIN_KEY,
    CLIENT_KEY,
    PROVIDER_KEY,
    Cluster,
    Proxy,
    ProxyFactory,
    default_policy,
    keyword_score,
)
from tests.support import ServerThread, policy_dict, write_policy

Json = dict[str, Any]
CLAUDE = "anthropic/claude-sonnet-4-20250514"
EPHEMERAL = {"type": "ephemeral"}
THINKING = {"type": "enabled", "budget_tokens": 1024}
SIGNATURE = "c2lnbmF0dXJl"
PDF = {"type": "document", "title": "Q3", "context": "finance", "citations": {"enabled": True},
       "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"}}
URL_DOC = {"type": "document", "source": {"type": "url", "url": "https://example.com/report.pdf"}}
WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
TOOL = {"name": "weather", "description": "Weather", "input_schema": {"type": "object", "properties": {}},
        "cache_control": EPHEMERAL}
ASK = [{"role": "user", "content": "What is 2+2?"}]


# ============================================================================ a recording Anthropic upstream
def _event(name: str, data: Json) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data}) + b"\n\n"


def _sse(model: str) -> bytes:
    usage = {"input_tokens": 20, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    return b"".join([
        _event("message_start", {"message": {"id": "msg_up", "type": "message", "role": "assistant", "model": model,
                                             "content": [], "stop_reason": None, "stop_sequence": None,
                                             "usage": usage}}),
        _event("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": "",
                                                                     "signature": ""}}),
        _event("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": "2+2 "}}),
        _event("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": "is 4"}}),
        _event("content_block_delta", {"index": 0, "delta": {"type": "signature_delta", "signature": SIGNATURE}}),
        _event("content_block_stop", {"index": 0}),
        _event("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}),
        _event("content_block_delta", {"index": 1, "delta": {"type": "text_delta", "text": "4"}}),
        _event("content_block_stop", {"index": 1}),
        _event("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                 "usage": {"output_tokens": 9}}),
        _event("message_stop", {}),
    ])


class Upstream:
    """Answers Anthropic's Messages API with a thinking block (signed) and a text block; keeps the bodies."""

    def __init__(self) -> None:
        self.bodies: list[Json] = []

    async def messages(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.bodies.append(body)
        if body.get("stream"):
            return Response(_sse(body["model"]), media_type="text/event-stream")
        content = [{"type": "thinking", "thinking": "2+2 is 4", "signature": SIGNATURE}] if body.get("thinking") else []
        return Response(orjson.dumps({
            "id": "msg_up", "type": "message", "role": "assistant", "model": body["model"],
            "content": [*content, {"type": "text", "text": "4"}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 20, "output_tokens": 10, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0}}), media_type="application/json")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/messages", self.messages, methods=["POST"])])


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[Upstream, str]]:
    up = Upstream()
    with ServerThread(up.app()) as server:
        yield up, server.url


@pytest.fixture(scope="module")
def claude_proxy(cluster: Cluster, upstream: tuple[Upstream, str],
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """small and large: simulated SGLang; frontier: a Claude model behind litellm (the recording upstream)."""
    pol = policy_dict(small=cluster.small, large=cluster.large,
                      frontier={"model": CLAUDE, "api_base": upstream[1], "api_key_env": "PROVIDER_KEY",
                                "price": {"input_per_mtok": 3, "output_per_mtok": 15}})
    path = write_policy(tmp_path_factory.mktemp("claude") / "policy.yaml", pol)
    env = {"TIERROUTE_API_KEYS": CLIENT_KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY, "PROVIDER_KEY": PROVIDER_KEY}
    app = create_app(Settings(policy_path=str(path)), classifier=FunctionClassifier(keyword_score), env=env)
    with ServerThread(app) as server:
        yield Proxy(server.url, path)


def client(proxy: Proxy, key: str = CLIENT_KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key=key, max_retries=0, timeout=30)


def last(upstream: tuple[Upstream, str]) -> Json:
    return upstream[0].bodies[-1]


# ============================================================================ count_tokens
def _estimate(**body: Any) -> int:
    chat = to_openai_request({"model": "m", **body}, require_max_tokens=False)
    return parse_request(Endpoint.CHAT, chat).prompt_tokens_estimate()


def test_count_tokens_with_the_sdk(proxy: Proxy) -> None:
    c = client(proxy)
    ask = {"system": "Be brief.", "messages": [{"role": "user", "content": "Name three colours of the rainbow."}],
           "tools": [{"name": "weather", "input_schema": {"type": "object", "properties": {}}}]}
    raw = c.messages.with_raw_response.count_tokens(model="small", **ask)  # type: ignore[arg-type]
    assert raw.parse().input_tokens == _estimate(**ask) > 0
    assert raw.headers["x-tierroute-token-count"] == "estimate" and raw.headers["x-tierroute-tier"] == "small"
    assert raw.headers["request-id"] == raw.headers["x-request-id"]
    # an OpenAI model behind litellm: its own tokenizer (tiktoken, shipped in litellm)
    import litellm

    raw = c.messages.with_raw_response.count_tokens(model="frontier", **ask)  # type: ignore[arg-type]
    chat = to_openai_request({"model": "m", **ask}, require_max_tokens=False)
    assert raw.parse().input_tokens == litellm.token_counter(model="gpt-4o", messages=chat["messages"],
                                                             tools=chat["tools"], use_default_image_token_count=True)
    assert raw.headers["x-tierroute-token-count"] == "tokenizer"
    # auto: the tier the request would go to, as for messages
    hard = c.messages.with_raw_response.count_tokens(model="auto", messages=[{"role": "user", "content": "a hard one"}])
    assert hard.headers["x-tierroute-tier"] == "frontier" and hard.headers["x-tierroute-token-count"] == "tokenizer"
    easy = c.messages.with_raw_response.count_tokens(model="auto", messages=[{"role": "user", "content": "hi"}])
    assert easy.headers["x-tierroute-tier"] == "small" and easy.parse().input_tokens == _estimate(
        messages=[{"role": "user", "content": "hi"}])


def test_count_tokens_on_a_claude_tier_is_an_estimate(claude_proxy: Proxy) -> None:
    raw = client(claude_proxy).messages.with_raw_response.count_tokens(
        model="frontier", messages=ASK, thinking=THINKING, tools=[WEB_SEARCH])  # type: ignore[list-item]
    assert raw.headers["x-tierroute-token-count"] == "estimate" and raw.parse().input_tokens > 0


def _anthropic_error(r: httpx.Response, status: int, kind: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == kind, body
    assert r.headers["request-id"] == body["request_id"] == r.headers["x-request-id"]
    return str(body["error"]["message"])


def test_errors_in_anthropics_shape_everywhere(proxy: Proxy) -> None:
    c = client(proxy)
    with pytest.raises(anthropic.AuthenticationError) as auth:
        client(proxy, key="wrong").messages.count_tokens(model="auto", messages=ASK)  # type: ignore[arg-type]
    assert auth.value.request_id and isinstance(auth.value.body, dict)
    assert auth.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.NotFoundError) as nf:
        c.messages.count_tokens(model="no-such-model", messages=ASK)  # type: ignore[arg-type]
    assert isinstance(nf.value.body, dict) and nf.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as bad:
        c.messages.count_tokens(model="auto", messages=[])
    assert isinstance(bad.value.body, dict) and "messages" in bad.value.body["error"]["message"]
    with pytest.raises(anthropic.NotFoundError) as batches:  # the Batches API is not served
        c.messages.batches.list()
    assert isinstance(batches.value.body, dict) and batches.value.body["error"]["type"] == "not_found_error"
    h = {"x-api-key": CLIENT_KEY}
    _anthropic_error(httpx.get(proxy.url + "/v1/messages/count_tokens", headers=h), 405, "invalid_request_error")
    r = httpx.get(proxy.url + "/v1/messages", headers=h)
    _anthropic_error(r, 405, "invalid_request_error")
    assert r.headers["allow"] == "POST"
    assert "Unknown path" in _anthropic_error(httpx.post(proxy.url + "/v1/messages/nope/x", headers=h, json={}),
                                              404, "not_found_error")
    _anthropic_error(httpx.post(proxy.url + "/v1/messages/count_tokens", headers=h, content=b"{"), 400,
                     "invalid_request_error")
    rid = httpx.post(proxy.url + "/v1/messages", headers={**h, "x-request-id": "my-id-1"}, json={"model": "auto"})
    assert _anthropic_error(rid, 400, "invalid_request_error") and rid.headers["request-id"] == "my-id-1"


def test_body_too_large_and_rate_limits_in_anthropics_shape(make_proxy: ProxyFactory, cluster: Cluster) -> None:
    pol = default_policy(cluster)
    pol["upstream"]["max_body_bytes"] = 2048
    pol["auth"] = {"client_keys": [{"name": "app", "key_env": "APP_KEY", "requests_per_minute": 3}]}
    env = {"APP_KEY": CLIENT_KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY, "PROVIDER_KEY": PROVIDER_KEY}
    with make_proxy(pol, env=env) as proxy:
        big = [{"role": "user", "content": "x" * 4000}]
        h = {"x-api-key": CLIENT_KEY}
        for path in ("/v1/messages", "/v1/messages/count_tokens"):
            r = httpx.post(proxy.url + path, headers=h, json={"model": "small", "max_tokens": 4, "messages": big})
            _anthropic_error(r, 413, "request_too_large")
        assert client(proxy).messages.count_tokens(model="small", messages=ASK).input_tokens > 0  # type: ignore[arg-type]
        with pytest.raises(anthropic.RateLimitError) as limited:  # the key's fourth request in the minute
            client(proxy).messages.count_tokens(model="small", messages=ASK)  # type: ignore[arg-type]
        assert isinstance(limited.value.body, dict) and limited.value.body["error"]["type"] == "rate_limit_error"
        assert int(limited.value.response.headers["retry-after"]) >= 1


# ============================================================================ Claude behind litellm
def test_thinking_and_cache_control_reach_claude(claude_proxy: Proxy, upstream: tuple[Upstream, str]) -> None:
    raw = client(claude_proxy).messages.with_raw_response.create(
        model="frontier", max_tokens=2048, thinking=THINKING, tools=[TOOL],  # type: ignore[list-item]
        system=[{"type": "text", "text": "You are a calculator.", "cache_control": EPHEMERAL},
                {"type": "text", "text": "Be exact."}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "What is 2+2?", "cache_control": EPHEMERAL}]}])
    got = last(upstream)
    assert got["thinking"] == THINKING
    assert got["system"] == [{"type": "text", "text": "You are a calculator.", "cache_control": EPHEMERAL},
                             {"type": "text", "text": "Be exact."}]
    assert got["tools"][0]["cache_control"] == EPHEMERAL
    assert got["messages"][0]["content"] == [{"type": "text", "text": "What is 2+2?", "cache_control": EPHEMERAL}]
    assert "x-tierroute-dropped-params" not in raw.headers
    m = raw.parse()
    assert [b.type for b in m.content] == ["thinking", "text"]
    assert (m.content[0].thinking, m.content[0].signature) == ("2+2 is 4", SIGNATURE)  # type: ignore[union-attr]


def test_thinking_streams_back_from_claude(claude_proxy: Proxy) -> None:
    with client(claude_proxy).messages.stream(model="frontier", max_tokens=2048, thinking=THINKING,
                                              messages=ASK) as s:  # type: ignore[arg-type]
        kinds = {e.type for e in s}
        final = s.get_final_message()
    assert {"thinking", "signature", "text"} <= kinds
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert (final.content[0].thinking, final.content[0].signature) == ("2+2 is 4", SIGNATURE)  # type: ignore[union-attr]
    assert final.content[1].text == "4"  # type: ignore[union-attr]


def test_signed_thinking_goes_back_with_a_tool_round(claude_proxy: Proxy, upstream: tuple[Upstream, str]) -> None:
    client(claude_proxy).messages.create(model="frontier", max_tokens=2048, thinking=THINKING, tools=[TOOL], messages=[
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "call it", "signature": SIGNATURE},
                                          {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}])
    turn = last(upstream)["messages"][1]["content"]
    assert turn[0] == {"type": "thinking", "thinking": "call it", "signature": SIGNATURE}
    assert turn[-1]["type"] == "tool_use"


def test_documents_and_server_tools_reach_claude(claude_proxy: Proxy, upstream: tuple[Upstream, str]) -> None:
    text_doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Sales rose."}}
    m = client(claude_proxy).messages.create(
        model="frontier", max_tokens=64, tools=[WEB_SEARCH],  # type: ignore[list-item]
        messages=[{"role": "user", "content": [PDF, URL_DOC, text_doc, {"type": "text", "text": "Summarise."}]}])
    assert m.content[-1].text == "4"  # type: ignore[union-attr]
    got = last(upstream)
    assert got["messages"][0]["content"][:2] == [PDF, URL_DOC]  # as they were: title, context, citations kept
    assert got["messages"][0]["content"][2]["text"] == "Sales rose."
    assert got["tools"] == [WEB_SEARCH]


# ============================================================================ SGLang and non-Claude tiers
def test_sglang_tier_drops_cache_control_and_refuses_documents(claude_proxy: Proxy) -> None:
    c = client(claude_proxy)
    raw = c.messages.with_raw_response.create(
        model="small", max_tokens=16, thinking=THINKING, tools=[TOOL],  # type: ignore[list-item]
        system=[{"type": "text", "text": "Be brief.", "cache_control": EPHEMERAL}],
        messages=[{"role": "user", "content": [
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Sales rose."}},
            {"type": "text", "text": "Summarise.", "cache_control": EPHEMERAL}]}])
    assert raw.headers["x-tierroute-dropped-params"] == "cache_control" and raw.parse().content
    dropped = claude_proxy.admin("/admin/stats")["unsupported_params"]["dropped"]["small"]
    assert dropped["cache_control"] >= 1
    for ask, named in (({"messages": [{"role": "user", "content": [PDF, {"type": "text", "text": "?"}]}]},
                        "'document' block"),
                       ({"messages": ASK, "tools": [WEB_SEARCH]}, "'web_search_20250305'")):
        with pytest.raises(anthropic.BadRequestError) as info:
            c.messages.create(model="small", max_tokens=16, **ask)  # type: ignore[arg-type]
        assert isinstance(info.value.body, dict) and info.value.body["error"]["type"] == "invalid_request_error"
        message = info.value.body["error"]["message"]
        assert named in message and "tier 'small'" in message
        assert info.value.response.headers["x-tierroute-tier"] == "small"


@pytest.mark.parametrize("mode", ["drop", "reject"])
def test_thinking_on_a_non_claude_litellm_tier(make_proxy: ProxyFactory, cluster: Cluster, mode: str) -> None:
    pol = default_policy(cluster)  # frontier: openai/gpt-4o at the fake provider
    pol["upstream"]["unsupported_params"] = mode
    with make_proxy(pol) as proxy:
        c = client(proxy)
        system = [{"type": "text", "text": "Be brief.", "cache_control": EPHEMERAL}]
        if mode == "reject":
            with pytest.raises(anthropic.BadRequestError) as info:
                c.messages.create(model="frontier", max_tokens=16, thinking=THINKING, messages=ASK)  # type: ignore[arg-type]
            assert isinstance(info.value.body, dict)
            assert "'thinking'" in info.value.body["error"]["message"]
            assert "tier 'frontier'" in info.value.body["error"]["message"]
            # cache_control is a hint: dropped and named even under reject
            raw = c.messages.with_raw_response.create(model="frontier", max_tokens=16, system=system, messages=ASK)  # type: ignore[arg-type]
            assert raw.headers["x-tierroute-dropped-params"] == "cache_control"
            return
        raw = c.messages.with_raw_response.create(model="frontier", max_tokens=16, thinking=THINKING,
                                                  system=system, messages=ASK)  # type: ignore[arg-type]
        assert raw.headers["x-tierroute-dropped-params"] == "thinking,cache_control" and raw.parse().content
        got = httpx.get(cluster.provider + "/fake/stats", timeout=5).json()["last_body"]
        assert not {"thinking", "reasoning_effort"} & set(got) and b"cache_control" not in orjson.dumps(got)
