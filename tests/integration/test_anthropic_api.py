"""Anthropic's Messages API on the proxy, through the official anthropic SDK."""

from __future__ import annotations

import anthropic
import httpx

from tests.integration.conftest import CLIENT_KEY, Proxy


def client(proxy: Proxy, key: str = CLIENT_KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key=key, max_retries=0, timeout=30)


def test_messages_non_streaming(proxy: Proxy) -> None:
    raw = client(proxy).messages.with_raw_response.create(
        model="auto", max_tokens=16, system="Be brief.", messages=[{"role": "user", "content": "Say hi."}])
    m = raw.parse()
    assert raw.headers["x-tierroute-tier"] == "small"
    assert m.role == "assistant" and m.content[0].type == "text" and m.content[0].text
    assert m.model == "sim-small" and m.stop_reason in ("end_turn", "max_tokens")
    assert m.usage.output_tokens > 0 and m.usage.input_tokens > 0


def test_messages_streaming(proxy: Proxy) -> None:
    with client(proxy).messages.stream(model="auto", max_tokens=16,
                                       messages=[{"role": "user", "content": "a medium question"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text and final.content[0].text == text
    assert final.model == "sim-large"
    assert final.usage.output_tokens > 0 and final.usage.input_tokens > 0


def test_messages_to_an_external_tier(proxy: Proxy) -> None:
    m = client(proxy).messages.create(model="frontier", max_tokens=16,
                                      messages=[{"role": "user", "content": "Hello"}])
    assert m.model == "gpt-4o" and m.content[0].text


def test_messages_errors_use_anthropics_shape(proxy: Proxy) -> None:
    try:
        client(proxy, key="wrong").messages.create(model="auto", max_tokens=8,
                                                   messages=[{"role": "user", "content": "x"}])
        raise AssertionError("expected 401")
    except anthropic.AuthenticationError as e:
        assert e.status_code == 401
    r = httpx.post(proxy.url + "/v1/messages", headers={"x-api-key": CLIENT_KEY}, timeout=10,
                   json={"model": "auto", "messages": [{"role": "user", "content": "x"}]})  # no max_tokens
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]
    r = httpx.post(proxy.url + "/v1/messages", headers={"x-api-key": CLIENT_KEY}, timeout=10,
                   json={"model": "nope", "max_tokens": 4, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
