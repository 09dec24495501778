"""A proxied SGLang answer carries only OpenAI's fields (issue 11, point 7), streamed and not."""

from __future__ import annotations

import httpx
import openai

from tests.integration.conftest import CLIENT_KEY, Proxy


def test_a_proxied_sglang_answer_has_only_openai_fields(make_proxy) -> None:
    with make_proxy() as proxy:
        _check(proxy)


def _check(proxy: Proxy) -> None:
    body = {"model": "small", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    r = httpx.post(proxy.v1 + "/chat/completions", json=body, headers={"Authorization": f"Bearer {CLIENT_KEY}"})
    assert r.status_code == 200 and r.headers["x-tierroute-tier"] == "small"
    for extra in (b'"matched_stop"', b'"metadata"', b'"reasoning_content"', b'"reasoning_tokens"'):
        assert extra not in r.content
    client = openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0)
    with client.chat.completions.with_streaming_response.create(
            model="small", messages=body["messages"], max_tokens=4, stream=True,
            stream_options={"include_usage": True}) as s:
        raw = b"".join(s.iter_bytes())
    assert raw.count(b"data: ") >= 3 and b'"matched_stop"' not in raw and b'"reasoning_content"' not in raw
    assert b'"prompt_tokens"' in raw
