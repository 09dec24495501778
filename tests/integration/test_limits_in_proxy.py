"""Issue 10, point 7, one proxy without Redis: tokens per minute are charged from a stream's usage,
refusals are 429 in OpenAI's shape before the body is read, /admin/stats shows usage vs limits."""

from __future__ import annotations

import time

import httpx
import yaml

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


def test_a_reload_changes_a_keys_limits_and_a_bad_budget_is_refused(cluster: Cluster,
                                                                    make_proxy: ProxyFactory) -> None:
    policy = default_policy(cluster)
    policy["auth"] = {"client_keys": [{"name": "tpm", "key_env": "TPM_KEY", "requests_per_minute": 100}]}
    env = {"TPM_KEY": KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY}

    def ask() -> int:
        return httpx.post(proxy.v1 + "/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                          json={"model": "small", "max_tokens": 2,
                                "messages": [{"role": "user", "content": "hi"}]}).status_code

    def reloaded(digest: str) -> None:
        deadline = time.monotonic() + 10
        while proxy.admin("/admin/policy")["digest"] == digest:
            assert time.monotonic() < deadline, "the policy did not reload"
            time.sleep(0.05)

    with make_proxy(policy, env=env) as proxy:
        assert [ask() for _ in range(3)] == [200, 200, 200]
        digest = proxy.admin("/admin/policy")["digest"]
        policy["auth"]["client_keys"][0] = {"name": "tpm", "key_env": "TPM_KEY", "requests_per_minute": 100,
                                            "budget": {"usd_per_day": 1e-9, "on_exhausted": "refuse"}}
        proxy.policy_path.write_text(yaml.safe_dump(policy))
        reloaded(digest)
        assert ask() == 200  # spend is tracked for keys with a budget: none before the reload
        assert ask() == 429  # one request is more than $1e-9
        usage = proxy.admin("/admin/stats")["limits"]["keys"]["tpm"]
        assert usage["budget"]["exhausted"] == "day" and usage["refused_here"]["budget"] == 1
        bad = yaml.safe_dump(policy).replace("on_exhausted: refuse", "on_exhausted: ignore")
        proxy.policy_path.write_text(bad)
        deadline = time.monotonic() + 10
        # the watcher may first see the file half-written ("must be a mapping ..."): that is refused too,
        # and the whole file is read on the next look
        while "on_exhausted" not in (proxy.admin("/admin/policy")["last_error"] or ""):
            assert time.monotonic() < deadline, "the bad policy was not reported"
            time.sleep(0.05)
        assert ask() == 429  # the previous policy (and its budget) keeps serving
