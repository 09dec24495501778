"""Issue 10, point 7, one proxy without Redis: tokens per minute are charged from a stream's usage,
refusals are 429 in OpenAI's shape before the body is read, /admin/stats shows usage vs limits."""

from __future__ import annotations

import httpx

from tests.integration.conftest import ADMIN_KEY, Cluster, ProxyFactory, default_policy

KEY = "sk-tpm"


def test_tokens_per_minute_charged_from_a_stream(cluster: Cluster, make_proxy: ProxyFactory) -> None:
    policy = default_policy(cluster)
    policy["auth"] = {"client_keys": [{"name": "tpm", "key_env": "TPM_KEY", "tokens_per_minute": 30,
                                       "budget": {"usd_per_day": 1.0}}]}
    env = {"TPM_KEY": KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY}
    with make_proxy(policy, env=env) as proxy:
        with httpx.stream("POST", proxy.v1 + "/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                          json={"model": "small", "stream": True, "max_tokens": 40,
                                "messages": [{"role": "user", "content": "Tell me a long story."}]}) as r:
            assert r.status_code == 200
            body = b"".join(r.iter_bytes())
        assert b"[DONE]" in body
        # more than 30 tokens went by: the next request waits for the bucket
        refused = httpx.post(proxy.v1 + "/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                             content=b"x" * 100)  # not JSON: refused before the body is read
        assert refused.status_code == 429, refused.text
        error = refused.json()["error"]
        assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
        assert "30 tokens per minute" in error["message"] and int(refused.headers["retry-after"]) >= 1
        stats = proxy.admin("/admin/stats")
    usage = stats["limits"]["keys"]["tpm"]
    assert stats["limits"]["store"] == "memory"
    assert usage["tokens_per_minute"] == 30 and usage["tokens_available"] < 0
    assert 0 < usage["spend_usd"]["day"] == usage["spend_usd"]["month"]
    assert abs(usage["spend_usd"]["day"] - stats["tiers"]["small"]["cost_usd"]) < 1e-9  # the same cost figures
    assert usage["refused_here"]["tpm"] == 1
