"""Malformed chat messages are the client's fault: a 4xx, never an upstream fault (issue 10, point 8).

Found by the chaos run's fuzzing: a system message without ``content`` sent to a litellm tier
made litellm's Anthropic translation raise ``KeyError('content')``, which litellm reports as an
``APIConnectionError``; the proxy answered 503 and counted a fault against the provider's
circuit breaker, so three such requests from one client took the tier out for everyone.
OpenAI's API refuses these messages itself; the proxy now does, before any upstream.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.conftest import CLIENT_KEY, Cluster, default_policy

H = {"Authorization": f"Bearer {CLIENT_KEY}"}
HI = {"role": "user", "content": "hi"}
BAD: dict[str, list[Any]] = {
    "system_without_content": [{"role": "system"}, HI],
    "developer_without_content": [{"role": "developer"}, HI],
    "user_without_content": [{"role": "user", "name": "x"}],
    "assistant_without_content_or_tool_calls": [HI, {"role": "assistant"}, HI],
    "tool_without_call_id": [HI, {"role": "tool", "content": "42"}],
    "image_part_without_url": [{"role": "user", "content": [{"type": "image_url"}]}],
    "text_part_without_text": [{"role": "user", "content": [{"type": "text"}]}],
    "part_of_unknown_type": [{"role": "user", "content": [{"type": "hologram", "text": "x"}]}],
}


@pytest.fixture
def anthropic_policy(cluster: Cluster) -> dict[str, Any]:
    pol = default_policy(cluster)
    pol["tiers"][-1]["backends"][0].update(model="anthropic/claude-sonnet-4-20250514", api_base=cluster.provider,
                                           price={"input_per_mtok": 3.0, "output_per_mtok": 15.0})
    pol["breaker"] = {"failures": 3, "window_s": 60, "open_s": 60}
    return pol


def test_malformed_messages_are_refused_before_any_upstream(make_proxy, cluster: Cluster,
                                                            anthropic_policy: dict[str, Any]) -> None:
    with make_proxy(anthropic_policy) as proxy:
        for name, messages in BAD.items():
            r = httpx.post(proxy.v1 + "/chat/completions", headers=H, timeout=30,
                           json={"model": "frontier", "messages": messages, "max_tokens": 4})
            assert r.status_code == 422, (name, r.status_code, r.text)
            assert r.json()["error"]["param"].startswith("messages["), (name, r.text)
        frontier = proxy.admin("/admin/stats")["replicas"]["frontier/0"]
        assert frontier["failed_attempts"] == 0 and frontier["breaker"]["state"] == "closed"
        ok = [HI, {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
              {"role": "tool", "tool_call_id": "c1", "content": "42"}, {"role": "user", "content": [
                  {"type": "text", "text": "and now?"}]}]
        r = httpx.post(proxy.v1 + "/chat/completions", headers=H, timeout=30,
                       json={"model": "frontier", "messages": ok, "max_tokens": 4})
        assert r.status_code == 200, r.text
