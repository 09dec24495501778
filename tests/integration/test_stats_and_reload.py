"""Admin stats agree with what the simulated workers saw; the policy hot-reloads on a live proxy."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
import yaml

from tests.integration.conftest import CLIENT_KEY, Cluster, Proxy, default_policy

SYSTEM = "You are a meticulous assistant. " * 60  # a long shared prefix


def _traffic(proxy: Proxy) -> None:
    c = openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0, timeout=30)
    for i in range(12):
        msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"question {i}"}]
        if i % 3 == 0:
            msgs[-1]["content"] += " (medium)"
        if i % 2:
            list(c.chat.completions.create(model="auto", messages=msgs, max_tokens=8, stream=True))
        else:
            c.chat.completions.create(model="auto", messages=msgs, max_tokens=8)


def test_stats_match_the_workers(make_proxy, cluster: Cluster) -> None:
    with make_proxy() as proxy:
        _traffic(proxy)
        stats = proxy.admin("/admin/stats")
        metrics = httpx.get(proxy.url + "/metrics").text
    for tier, urls in (("small", cluster.small), ("large", cluster.large)):
        sims = [cluster.sim_stats(u) for u in urls]
        t = stats["tiers"][tier]
        assert t["input_tokens"] == sum(s["prompt_tokens"] for s in sims)
        assert t["output_tokens"] == sum(s["completion_tokens"] for s in sims)
        assert t["cached_tokens"] == sum(s["cached_tokens"] for s in sims)
        assert t["requests"] == sum(s["requests"] for s in sims)
        assert t["latency_ms"]["p50"] is not None and t["latency_ms"]["p95"] >= t["latency_ms"]["p50"]
        for i, u in enumerate(urls):
            rep = stats["replicas"][f"{tier}/{i}"]
            assert rep["url"] == u and rep["input_tokens"] == cluster.sim_stats(u)["prompt_tokens"]
    assert stats["tiers"]["small"]["requests"] == 8 and stats["tiers"]["large"]["requests"] == 4
    assert stats["tiers"]["small"]["cached_tokens"] > 0  # the shared system prompt was found in the cache
    assert stats["tiers"]["small"]["ttft_ms"]["p50"] is not None  # streams measured TTFT
    assert stats["classifier"]["decisions"] == 12 and stats["classifier"]["by_tier"] == {"small": 8, "large": 4}
    # savings: the same tokens at the strongest tier's price (openai/gpt-4o from litellm's map: 2.5 / 10 per Mtok)
    t = stats["totals"]
    baseline = (t["input_tokens"] * 2.5 + t["output_tokens"] * 10) / 1e6
    assert stats["savings"]["baseline_cost_usd"] == pytest.approx(baseline)
    assert stats["savings"]["saved_usd"] == pytest.approx(baseline - t["cost_usd"])
    assert 'tierroute_requests_total{tier="small"} 8' in metrics


def _wait_for(pred, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_hot_reload_on_a_live_proxy(make_proxy, cluster: Cluster) -> None:
    with make_proxy() as proxy:
        c = openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0, timeout=30)

        def tier() -> str:
            raw = c.chat.completions.with_raw_response.create(model="auto", max_tokens=4,
                                                              messages=[{"role": "user", "content": "easy"}])
            return raw.headers["x-tierroute-tier"]

        assert tier() == "small"
        digest = proxy.admin("/admin/policy")["digest"]
        pol = default_policy(cluster)
        pol["routing"]["auto"][0]["below"] = 0.05  # easy prompts (score 0.1) now go to large
        proxy.policy_path.write_text(yaml.safe_dump(pol))
        _wait_for(lambda: proxy.admin("/admin/policy")["digest"] != digest)
        assert tier() == "large"
        proxy.policy_path.write_text("routing: {auto: [{tier: nowhere}]}\ntiers: []\n")  # invalid
        _wait_for(lambda: proxy.admin("/admin/policy")["last_error"] is not None)
        doc = proxy.admin("/admin/policy")
        assert "tiers" in doc["last_error"] and doc["reloads"] == 1
        assert tier() == "large"  # the previous valid policy keeps serving


def test_ready_needs_a_healthy_replica(make_proxy, cluster: Cluster) -> None:
    pol = default_policy(cluster)
    del pol["tiers"][2]
    pol["routing"]["auto"] = [{"tier": "small", "below": 0.5}, {"tier": "large"}]
    with make_proxy(pol) as proxy:
        r = httpx.get(proxy.url + "/ready")
        assert r.status_code == 200 and r.json()["classifier_loaded"] is True
        for u in cluster.small + cluster.large:
            httpx.post(u + "/sim/health", json={"healthy": False}).raise_for_status()
        _wait_for(lambda: httpx.get(proxy.url + "/ready").status_code == 503)
        assert httpx.get(proxy.url + "/health").status_code == 200  # alive, just not ready
