"""External tiers through litellm against a local fake provider (OpenAI and Anthropic wire formats)."""

from __future__ import annotations

import httpx
import openai

from tests.integration.conftest import CLIENT_KEY, Cluster, default_policy


def test_anthropic_provider_through_litellm(make_proxy, cluster: Cluster) -> None:
    pol = default_policy(cluster)
    pol["tiers"][2]["backends"] = [{"kind": "litellm", "model": "anthropic/claude-sonnet-4-20250514",
                                    "api_base": cluster.provider, "api_key_env": "PROVIDER_KEY",
                                    "price": {"input_per_mtok": 3, "output_per_mtok": 15}}]
    with make_proxy(pol) as proxy:
        c = openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0, timeout=30)
        raw = c.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "a hard question"}], max_tokens=16)
        r = raw.parse()
        assert raw.headers["x-tierroute-tier"] == "frontier" and r.model.startswith("claude-sonnet-4")
        assert r.usage is not None and r.usage.completion_tokens > 0
        cost = (r.usage.prompt_tokens * 3 + r.usage.completion_tokens * 15) / 1e6
        assert abs(float(raw.headers["x-tierroute-cost-usd"]) - cost) < 1e-9
        chunks = list(c.chat.completions.create(model="claude-sonnet-4-20250514", stream=True, max_tokens=16,
                                                messages=[{"role": "user", "content": "hi"}],
                                                stream_options={"include_usage": True}))
        assert chunks[-1].choices == [] and chunks[-1].usage and chunks[-1].usage.completion_tokens > 0
        assert "".join(ch.choices[0].delta.content or "" for ch in chunks[:-1] if ch.choices)
        stats = httpx.get(cluster.provider + "/fake/stats", timeout=5).json()
        assert stats["by_endpoint"].get("/v1/messages", 0) >= 2  # litellm spoke Anthropic's API


def test_openai_provider_streaming_usage_is_last_with_empty_choices(make_proxy, cluster: Cluster) -> None:
    with make_proxy() as proxy:
        c = openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0, timeout=30)
        chunks = list(c.chat.completions.create(model="gpt-4o", stream=True, max_tokens=16,
                                                messages=[{"role": "user", "content": "hi"}],
                                                stream_options={"include_usage": True}))
        assert chunks[-1].choices == [] and chunks[-1].usage is not None
        assert all(ch.usage is None for ch in chunks[:-1])
        plain = list(c.chat.completions.create(model="gpt-4o", stream=True, max_tokens=16,
                                               messages=[{"role": "user", "content": "hi"}]))
        assert plain and all(ch.choices for ch in plain)
        tier = proxy.admin("/admin/stats")["tiers"]["frontier"]
        assert tier["requests"] == 2 and tier["output_tokens"] > 0 and tier["cost_usd"] > 0
