"""Capability-aware routing through a real proxy: images, output budgets, what /admin/stats shows.

The simulated SGLang workers report ``has_image_understanding: false`` (like a text model); the
frontier tier is ``openai/gpt-4o`` through litellm, whose local model map says it takes images."""

from __future__ import annotations

import copy

import httpx
import openai

from tests.integration.conftest import CLIENT_KEY, Cluster, default_policy

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


def client(proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0)


def image_message() -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": "an easy question about this picture"}, IMAGE]}]


def test_an_image_goes_to_a_tier_that_takes_images(make_proxy) -> None:
    with make_proxy() as proxy:
        r = client(proxy).chat.completions.with_raw_response.create(model="auto", messages=image_message())
        assert r.headers["x-tierroute-tier"] == "frontier"
        assert r.headers["x-tierroute-reason"] == "capability"
        assert r.headers["x-tierroute-needs"] == "vision"
        r = client(proxy).chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "an easy one"}])
        assert r.headers["x-tierroute-tier"] == "small" and "x-tierroute-needs" not in r.headers
        caps = proxy.admin("/admin/stats")["capabilities"]
        assert caps["small"]["vision"] is False and caps["small"]["source"] == "sglang"
        assert caps["frontier"]["vision"] is True and caps["frontier"]["source"] == "litellm"
        assert caps["frontier"]["max_output_tokens"] >= 4096
        assert proxy.admin("/admin/stats")["routing_reasons"]["capability"] == 1


def test_a_pinned_tier_without_images_says_so(make_proxy) -> None:
    with make_proxy() as proxy:
        r = httpx.post(proxy.v1 + "/chat/completions", headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                       json={"model": "small", "messages": image_message()}, timeout=10)
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["code"] == "unsupported_capability" and "'small'" in err["message"]
        assert "image input" in err["message"] and err["param"] == "model"


def test_the_policy_declaration_wins_over_what_replicas_report(make_proxy, cluster: Cluster) -> None:
    pol = copy.deepcopy(default_policy(cluster))
    pol["tiers"][1]["capabilities"] = {"vision": True}
    with make_proxy(pol) as proxy:
        r = client(proxy).chat.completions.with_raw_response.create(model="auto", messages=image_message())
        assert (r.headers["x-tierroute-tier"], r.headers["x-tierroute-reason"]) == ("large", "capability")
        assert proxy.admin("/admin/stats")["capabilities"]["large"]["source"] == "policy+sglang"


def test_a_large_max_tokens_is_clamped_not_escalated(make_proxy, cluster: Cluster) -> None:
    with make_proxy() as proxy:
        r = client(proxy).chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "an easy one"}], max_tokens=60_000)
        assert r.headers["x-tierroute-tier"] == "small"
        assert r.headers["x-tierroute-reason"] == "auto"
        clamped = int(r.headers["x-tierroute-max-tokens-clamped"])
        assert 3900 < clamped < 4096
        # a budget that fits is sent as asked
        r = client(proxy).chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "an easy one"}], max_tokens=50)
        assert "x-tierroute-max-tokens-clamped" not in r.headers
        # the frontier's map says 16,384 output tokens at most: a 100k budget is cut to it, not refused
        r = client(proxy).chat.completions.with_raw_response.create(
            model="frontier", messages=[{"role": "user", "content": "hi"}], max_tokens=100_000)
        assert r.headers["x-tierroute-tier"] == "frontier"
        assert int(r.headers["x-tierroute-max-tokens-clamped"]) <= 16384
