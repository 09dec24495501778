"""``POST /v1/embeddings`` (issue 11, point 3) through a real proxy on loopback, with the official SDK:
an SGLang embedding model (two simulated replicas) and a litellm model (the fake provider)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import openai
import pytest

from fleet.sim import worker
from fleet.sim.embed import DEFAULT_DIMENSIONS, vector
from tests.integration.conftest import ADMIN_KEY, CLIENT_KEY, FAST, PROVIDER_KEY, Cluster, ProxyFactory, default_policy
from tests.support import ServerThread


@pytest.fixture(scope="module")
def embed_workers() -> Iterator[list[str]]:
    with ExitStack() as stack:
        yield [stack.enter_context(ServerThread(worker.create_app(worker.WorkerConfig(model="sim-embed", **FAST)))).url
               for _ in range(2)]


def _policy(cluster: Cluster, replicas: list[str], **extra: Any) -> dict[str, Any]:
    pol = default_policy(cluster)
    pol["embeddings"] = {
        "bge-small": {"kind": "sglang", "model": "sim-embed", "replicas": replicas, "input_per_mtok": 0.01},
        "text-embedding-3-small": {"kind": "litellm", "model": "openai/text-embedding-3-small",
                                   "api_base": cluster.provider + "/v1", "api_key_env": "PROVIDER_KEY",
                                   "input_per_mtok": 0.02},
    }
    return {**pol, **extra}


def _client(proxy: Any, key: str = CLIENT_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.v1, api_key=key, max_retries=0, timeout=30)


def _close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(abs(x - y) < 1e-6 for x, y in zip(a, b, strict=True))


def test_sdk_single_and_list_input_base64_and_float(make_proxy: ProxyFactory, cluster: Cluster,
                                                    embed_workers: list[str]) -> None:
    with make_proxy(_policy(cluster, embed_workers)) as proxy:
        c = _client(proxy)
        for name, upstream_model in (("bge-small", "sim-embed"), ("text-embedding-3-small", "text-embedding-3-small")):
            raw = c.embeddings.with_raw_response.create(model=name, input="hello world")  # SDK default: base64
            one = raw.parse()
            assert one.model == name and len(one.data) == 1 and one.data[0].index == 0
            expected = vector(upstream_model.encode() + b"\0hello world", DEFAULT_DIMENSIONS)
            assert _close(one.data[0].embedding, expected)  # decoded by the SDK from our base64
            assert one.usage.prompt_tokens > 0 and one.usage.total_tokens == one.usage.prompt_tokens
            assert raw.headers["x-request-id"]
            many = c.embeddings.create(model=name, input=["a cat", "hello world", "a dog"], encoding_format="float")
            assert [d.index for d in many.data] == [0, 1, 2]
            assert _close(many.data[1].embedding, expected)
            assert not _close(many.data[0].embedding, many.data[2].embedding)
            assert many.usage.prompt_tokens > one.usage.prompt_tokens
        asked = httpx.post(proxy.v1 + "/embeddings", headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                           json={"model": "bge-small", "input": "hello world", "encoding_format": "base64"}).json()
        assert isinstance(asked["data"][0]["embedding"], str)  # as OpenAI answers: a base64 string
        dims = c.embeddings.create(model="text-embedding-3-small", input="x y", dimensions=8)
        assert len(dims.data[0].embedding) == 8
        seen = httpx.get(cluster.provider + "/fake/stats", timeout=5).json()
        assert seen["by_endpoint"].get("/v1/embeddings", 0) >= 3  # litellm called the provider's embeddings
        models = {m.id: m.owned_by for m in c.models.list()}
        assert models["bge-small"] == models["text-embedding-3-small"] == "tierroute-embedding"
        assert "auto" in models


def test_errors_in_openai_shape(make_proxy: ProxyFactory, cluster: Cluster, embed_workers: list[str]) -> None:
    with make_proxy(_policy(cluster, embed_workers)) as proxy:
        c = _client(proxy)
        with pytest.raises(openai.AuthenticationError):
            _client(proxy, "sk-wrong").embeddings.create(model="bge-small", input="hi")
        with pytest.raises(openai.NotFoundError) as nf:
            c.embeddings.create(model="text-embedding-ada-002", input="hi")
        err = nf.value.body
        assert isinstance(err, dict) and err["code"] == "model_not_found" and err["param"] == "model"
        assert "'bge-small'" in err["message"] and "'text-embedding-3-small'" in err["message"]
        with pytest.raises(openai.NotFoundError):  # a chat model cannot embed
            c.embeddings.create(model="small", input="hi")
        with pytest.raises(openai.BadRequestError) as bad:
            c.embeddings.create(model="bge-small", input="hi", extra_body={"api_base": "http://evil.example"})
        assert isinstance(bad.value.body, dict)
        assert bad.value.body["param"] == "api_base" and bad.value.body["code"] == "unknown_parameter"
        for body, param in (({"model": "bge-small", "input": []}, "input"),
                            ({"model": "bge-small", "input": ["a", ""]}, "input"),
                            ({"model": "bge-small", "input": [1.5]}, "input"),
                            ({"model": "bge-small", "input": "a", "encoding_format": "int8"}, "encoding_format"),
                            ({"model": "bge-small", "input": "a", "dimensions": 0}, "dimensions"),
                            ({"input": "a"}, "model")):
            r = httpx.post(proxy.v1 + "/embeddings", headers={"Authorization": f"Bearer {CLIENT_KEY}"}, json=body)
            assert r.status_code == 400 and r.json()["error"]["param"] == param, (body, r.text)
        r = httpx.post(proxy.v1 + "/embeddings", headers={"Authorization": f"Bearer {CLIENT_KEY}"}, content=b"{")
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
        for url in embed_workers:  # the replicas' own 400 is the client's (not retried); a 404 is ours: 502
            httpx.post(url + "/sim/fail", json={"fail_next": 1, "status": 400, "message": "too long at "
                                                "http://10.1.2.3:30000"}).raise_for_status()
        r = httpx.post(proxy.v1 + "/embeddings", headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                       json={"model": "bge-small", "input": "hi"})
        assert r.status_code == 400 and "too long" in r.text and "10.1.2.3" not in r.text
        for url in embed_workers:
            httpx.post(url + "/sim/fail", json={"fail_next": 1, "status": 404}).raise_for_status()
        r = httpx.post(proxy.v1 + "/embeddings", headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                       json={"model": "bge-small", "input": "hi"})
        assert r.status_code == 502 and "unavailable" in r.json()["error"]["message"]
        assert "request id" in r.json()["error"]["message"]
        for url in embed_workers:
            httpx.post(url + "/sim/fail", json={"fail_next": 0}).raise_for_status()


def test_no_embeddings_section_is_a_clear_404(make_proxy: ProxyFactory) -> None:
    with make_proxy() as proxy:
        with pytest.raises(openai.NotFoundError) as nf:
            _client(proxy).embeddings.create(model="text-embedding-3-small", input="hi")
        assert isinstance(nf.value.body, dict) and "no `embeddings` section" in nf.value.body["message"]


def test_stats_cost_failover_and_limits(make_proxy: ProxyFactory, cluster: Cluster,
                                        embed_workers: list[str]) -> None:
    pol = _policy(cluster, embed_workers, auth={"client_keys": [
        {"name": "app", "key_env": "APP_KEY", "requests_per_minute": 3}]})
    env = {"APP_KEY": CLIENT_KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY, "PROVIDER_KEY": PROVIDER_KEY}
    with make_proxy(pol, env=env) as proxy:
        c = _client(proxy)
        failed_before = httpx.get(embed_workers[0] + "/sim/stats").json()["failed"]
        httpx.post(embed_workers[0] + "/sim/fail", json={"fail_next": 1, "status": 503}).raise_for_status()
        raw = c.embeddings.with_raw_response.create(model="bge-small", input=["one two three", "four"])
        first = raw.parse()
        tokens = first.usage.prompt_tokens
        # round robin: one of the two requests met the failing replica first, and the other one answered
        tokens += c.embeddings.create(model="bge-small", input="five").usage.prompt_tokens
        assert httpx.get(embed_workers[0] + "/sim/stats").json()["failed"] == failed_before + 1
        assert abs(float(raw.headers["x-tierroute-cost-usd"]) - first.usage.prompt_tokens * 0.01 / 1e6) < 1e-12
        second = c.embeddings.create(model="text-embedding-3-small", input="five six")
        stats = proxy.admin("/admin/stats")
        bge, te3 = stats["embeddings"]["bge-small"], stats["embeddings"]["text-embedding-3-small"]
        assert (bge["requests"], bge["errors"], bge["input_tokens"]) == (2, 0, tokens)
        assert abs(bge["cost_usd"] - tokens * 0.01 / 1e6) < 1e-15
        assert te3["input_tokens"] == second.usage.prompt_tokens
        assert abs(te3["cost_usd"] - second.usage.prompt_tokens * 0.02 / 1e6) < 1e-15
        spent = stats["limits"]["keys"]["app"]
        assert spent["requests_per_minute"] == 3
        with pytest.raises(openai.RateLimitError):  # the key's fourth request in the minute
            c.embeddings.create(model="bge-small", input="fourth")
