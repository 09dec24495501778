"""One error mapping for SGLang and litellm upstreams (issue 10, point 5): neutral client bodies,
retry-after passed on, the upstream's own words in the log with the request id."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from tests.integration.conftest import CLIENT_KEY, Cluster, Proxy

H = {"Authorization": f"Bearer {CLIENT_KEY}"}
MSG = [{"role": "user", "content": "hello"}]
SECRET = "replica crashed at 10.1.2.3:30000 (CUDA OOM)"


def post(proxy: Proxy, model: str, **kw: Any) -> httpx.Response:
    return httpx.post(proxy.v1 + "/chat/completions", headers=H, timeout=30,
                      json={"model": model, "messages": MSG, "max_tokens": 4, **kw})


def fail(url: str, status: int, **kw: Any) -> None:
    httpx.post(url + "/sim/fail", json={"fail_next": 1, "status": status, **kw}, timeout=5).raise_for_status()


def error_of(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    return err


def assert_neutral(r: httpx.Response, cluster: Cluster, tier: str) -> str:
    text = r.text
    for leak in (SECRET, "10.1.2.3", "127.0.0.1", f"{tier}/0", "HTTP ", "Simulated", "litellm", "Exception",
                 cluster.provider.split("//")[1], *(u.split("//")[1] for u in cluster.small + cluster.large)):
        assert leak not in text, (leak, text)
    rid = r.headers["x-tierroute-request-id"]
    message = r.json()["error"]["message"]
    assert f"tier '{tier}'" in message and rid in message, message
    return rid


def logged(caplog: pytest.LogCaptureFixture, rid: str) -> list[str]:
    return [str(getattr(rec, "error", "")) for rec in caplog.records
            if rec.name == "tierroute.access" and getattr(rec, "request_id", None) == rid]


@pytest.mark.parametrize("status, expect", [(500, 502), (502, 502), (401, 502), (403, 502)])
def test_sglang_faults_give_a_neutral_body_and_log_the_detail(make_proxy, cluster: Cluster,
                                                              caplog: pytest.LogCaptureFixture,
                                                              status: int, expect: int) -> None:
    caplog.set_level(logging.WARNING, "tierroute.access")
    with make_proxy() as proxy:
        fail(cluster.large[0], status, message=SECRET)
        r = post(proxy, "large")  # pinned, one replica: nothing to retry on
        err = error_of(r, expect)
        assert err["type"] == "upstream_error" and err["code"] == "bad_gateway"  # our key refused: not the client's
        rid = assert_neutral(r, cluster, "large")
        assert any(SECRET in line and "large/0" in line for line in logged(caplog, rid)), caplog.records


@pytest.mark.parametrize("status, code", [(429, "rate_limit_exceeded"), (503, "no_healthy_replica")])
def test_sglang_retry_after_is_passed_on(make_proxy, cluster: Cluster, status: int, code: str) -> None:
    with make_proxy() as proxy:
        fail(cluster.large[0], status, message=SECRET, retry_after=7)
        r = post(proxy, "large")
        assert error_of(r, status)["code"] == code
        assert r.headers["retry-after"] == "7"
        assert_neutral(r, cluster, "large")


def test_client_caused_4xx_keeps_its_message_without_addresses(make_proxy, cluster: Cluster) -> None:
    with make_proxy() as proxy:
        for stream in (False, True):
            fail(cluster.large[0], 400, message="max_tokens must be at most 4096 (see http://10.1.2.3:30000/docs)")
            r = post(proxy, "large", stream=stream)
            err = error_of(r, 400)
            assert err["type"] == "invalid_request_error"
            assert err["message"].startswith("max_tokens must be at most 4096") and "10.1.2.3" not in r.text
        fail(cluster.large[0], 400, message="This model's maximum context length is 8192 tokens (at 10.1.2.3:30000)")
        err = error_of(post(proxy, "large"), 400)
        assert err["code"] == "context_length_exceeded" and "10.1.2.3" not in err["message"]


def test_litellm_faults_map_like_sglang(make_proxy, cluster: Cluster, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "tierroute.access")
    with make_proxy() as proxy:
        httpx.post(cluster.provider + "/fake/fail", json={"status": 500, "count": 1}).raise_for_status()
        r = post(proxy, "frontier")
        assert error_of(r, 502)["type"] == "upstream_error"
        rid = assert_neutral(r, cluster, "frontier")
        assert any("frontier/0" in line and "500" in line for line in logged(caplog, rid))
        httpx.post(cluster.provider + "/fake/fail", json={"status": 429, "count": 1}).raise_for_status()
        r = post(proxy, "frontier")
        assert error_of(r, 429)["code"] == "rate_limit_exceeded" and r.headers["retry-after"] == "0"
        assert_neutral(r, cluster, "frontier")
    env = {"TIERROUTE_API_KEYS": CLIENT_KEY, "PROVIDER_KEY": "sk-not-the-providers-key"}
    with make_proxy(env=env) as proxy:  # the provider refuses our key: the same answer as SGLang's 401
        r = post(proxy, "frontier")
        assert error_of(r, 502)["code"] == "bad_gateway" and "sk-not" not in r.text
        assert_neutral(r, cluster, "frontier")
