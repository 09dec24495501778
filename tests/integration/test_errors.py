"""Every error a client can cause, and upstream failures: OpenAI's error shape, the right status."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import httpx
import openai
import pytest

from fleet.sim import worker
from tests.integration.conftest import ADMIN_KEY, CLIENT_KEY, PROVIDER_KEY, Cluster, Proxy, default_policy
from tests.support import ServerThread

H = {"Authorization": f"Bearer {CLIENT_KEY}"}
MSG = [{"role": "user", "content": "hello"}]


def post(proxy: Proxy, *, headers: dict[str, str] | None = None, path: str = "/chat/completions",
         **kw: Any) -> httpx.Response:
    return httpx.post(proxy.v1 + path, headers=H if headers is None else headers, timeout=30, **kw)


def assert_error(r: httpx.Response, status: int, code: str | None = None, param: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and isinstance(err["message"], str)
    assert "Traceback" not in r.text
    if code is not None:
        assert err["code"] == code, err
    if param is not None:
        assert err["param"] == param, err
    assert r.headers["x-tierroute-request-id"]
    return err


@pytest.mark.parametrize("body, status, code, param", [
    (b"{not json", 400, "invalid_json", None),
    (b"", 400, "invalid_json", None),
    (b"[1, 2]", 400, "invalid_json", None),
    (b'{"model": "auto"}', 422, "missing_required_parameter", "messages"),
    (b'{"messages": [{"role": "user", "content": "x"}]}', 422, "missing_required_parameter", "model"),
    (b'{"model": "auto", "messages": []}', 422, None, "messages"),
    (b'{"model": "auto", "messages": [{"role": "wizard", "content": "x"}]}', 422, None, "messages[0].role"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": 5}]}', 422, None, "messages[0].content"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', 422, None, "stream"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}', 422, None, "max_tokens"),
    (b'{"model": "no-such-model-xyz", "messages": [{"role": "user", "content": "x"}]}', 404, "model_not_found",
     "model"),
])
def test_bad_requests(proxy: Proxy, body: bytes, status: int, code: str | None, param: str | None) -> None:
    assert_error(post(proxy, content=body, headers={**H, "content-type": "application/json"}), status, code, param)


def test_completions_needs_prompt(proxy: Proxy) -> None:
    assert_error(post(proxy, path="/completions", json={"model": "auto"}), 422, param="prompt")


def test_auth_errors(proxy: Proxy) -> None:
    assert_error(post(proxy, headers={}, json={"model": "auto", "messages": MSG}), 401, "invalid_api_key")
    err = assert_error(post(proxy, headers={"Authorization": "Bearer sk-wrong"}, json={"model": "auto",
                                                                                     "messages": MSG}), 401)
    assert "sk-wrong" not in err["message"]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=proxy.v1, api_key="nope", max_retries=0).models.list()
    assert httpx.get(proxy.url + "/admin/stats", headers=H).status_code == 401  # a client key is not admin
    assert httpx.get(proxy.url + "/admin/stats", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).status_code == 200


def test_body_too_large(proxy: Proxy) -> None:
    big = b'{"model": "auto", "messages": [{"role": "user", "content": "' + b"x" * (9 * 1024 * 1024) + b'"}]}'
    assert_error(post(proxy, content=big), 413, "request_too_large")


def test_unknown_path_and_method(proxy: Proxy) -> None:
    assert_error(httpx.get(proxy.v1 + "/nothing-here"), 404)
    assert_error(httpx.get(proxy.v1 + "/chat/completions"), 405)


def test_context_too_long_for_every_tier(proxy: Proxy) -> None:
    huge = "word " * 250_000  # ~312k estimated tokens > the frontier tier's 200k
    assert_error(post(proxy, json={"model": "auto", "messages": [{"role": "user", "content": huge}]}), 400,
                 "context_length_exceeded")


def test_long_prompt_escalates_past_small(proxy: Proxy) -> None:
    long = "word " * 4000  # ~5k tokens: over the small tier's 4096
    r = post(proxy, json={"model": "auto", "messages": [{"role": "user", "content": long}], "max_tokens": 4})
    assert r.status_code == 200 and r.headers["x-tierroute-tier"] == "large"
    assert r.headers["x-tierroute-reason"] == "context_escalation"


def test_key_tier_limits_and_rate_limit(make_proxy, cluster: Cluster) -> None:
    pol = default_policy(cluster)
    limited_key = "sk-limited"
    pol["auth"] = {"client_keys": [{"name": "limited", "key_sha256": hashlib.sha256(limited_key.encode()).hexdigest(),
                                    "tiers": ["small", "large"], "requests_per_minute": 4}]}
    with make_proxy(pol) as proxy:
        h = {"Authorization": f"Bearer {limited_key}"}
        r = post(proxy, headers=h, json={"model": "auto", "messages": [{"role": "user", "content": "hard one"}]})
        assert r.status_code == 200 and r.headers["x-tierroute-tier"] == "large"  # frontier not allowed for it
        assert r.headers["x-tierroute-reason"] == "key_limit"
        assert_error(post(proxy, headers=h, json={"model": "frontier", "messages": MSG}), 403, "tier_not_allowed")
        assert post(proxy, headers=h, json={"model": "small", "messages": MSG}).status_code == 200
        assert post(proxy, headers=h, json={"model": "small", "messages": MSG}).status_code == 200
        r = post(proxy, headers=h, json={"model": "small", "messages": MSG})
        assert_error(r, 429, "rate_limit_exceeded")
        assert int(r.headers["retry-after"]) >= 1
        assert post(proxy, json={"model": "frontier", "messages": MSG}).status_code == 200  # env keys: all tiers


def test_upstream_failures_map_to_502_503_504(make_proxy, cluster: Cluster) -> None:
    with make_proxy() as proxy:
        body = {"model": "large", "messages": MSG, "max_tokens": 4}
        httpx.post(cluster.large[0] + "/sim/fail", json={"fail_next": 1, "status": 500}).raise_for_status()
        r = post(proxy, json=body)
        err = assert_error(r, 502)
        assert "tier 'large' is unavailable" in err["message"]  # the upstream's words are in the log only
        assert (r.headers["x-tierroute-tier"], r.headers["x-tierroute-reason"]) == ("large", "tier")
        httpx.post(cluster.large[0] + "/sim/fail", json={"fail_next": 1, "status": 400}).raise_for_status()
        r = post(proxy, json=body)
        assert_error(r, 400)  # the backend's own client error is the client's to see
        assert r.headers["x-tierroute-tier"] == "large"
        httpx.post(cluster.large[0] + "/sim/health", json={"healthy": False}).raise_for_status()
        r = post(proxy, json=body)
        assert_error(r, 503)
        assert (r.headers["x-tierroute-tier"], r.headers["x-tierroute-reason"]) == ("large", "tier")
        unknown = post(proxy, json={**body, "model": "nope"})  # before routing: no tier to name
        assert_error(unknown, 404)
        assert "x-tierroute-tier" not in unknown.headers and unknown.headers["x-request-id"]
        stats = proxy.admin("/admin/stats")
        assert stats["tiers"]["large"]["errors"] == 3


def test_streaming_error_before_first_byte_gets_a_status(make_proxy, cluster: Cluster) -> None:
    with make_proxy() as proxy:
        httpx.post(cluster.large[0] + "/sim/fail", json={"fail_next": 1, "status": 500}).raise_for_status()
        with pytest.raises(openai.InternalServerError) as ei:
            list(openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0).chat.completions.create(
                model="large", messages=MSG, stream=True))
        assert ei.value.status_code == 502


def test_unreachable_replica_is_skipped_and_marked(make_proxy, cluster: Cluster) -> None:
    pol = default_policy(cluster)
    pol["tiers"][0]["backends"][0]["replicas"] = ["http://127.0.0.1:9", cluster.small[0]]  # port 9: nothing there
    pol["health"]["interval_s"] = 60  # only the request itself can find out
    with make_proxy(pol) as proxy:
        for _ in range(4):
            assert post(proxy, json={"model": "small", "messages": MSG, "max_tokens": 4}).status_code == 200
        reps = proxy.admin("/admin/stats")["replicas"]
        assert reps["small/0"]["healthy"] is False and reps["small/1"]["requests"] == 4


def test_provider_errors_through_litellm(make_proxy, cluster: Cluster) -> None:
    with make_proxy() as proxy:
        body = {"model": "frontier", "messages": MSG, "max_tokens": 4}
        httpx.post(cluster.provider + "/fake/fail", json={"status": 429, "count": 1}).raise_for_status()
        assert_error(post(proxy, json=body), 429)
        assert post(proxy, json=body).status_code == 200
    env = {"TIERROUTE_API_KEYS": CLIENT_KEY, "PROVIDER_KEY": "sk-not-the-providers-key"}
    with make_proxy(env=env) as proxy:  # the provider rejects *our* key: a gateway problem, not the client's
        err = assert_error(post(proxy, json={"model": "frontier", "messages": MSG}), 502)
        assert "sk-not" not in err["message"] and PROVIDER_KEY not in err["message"]
    with make_proxy(env={"TIERROUTE_API_KEYS": CLIENT_KEY}) as proxy:  # provider key env unset
        assert_error(post(proxy, json={"model": "frontier", "messages": MSG}), 503)


def test_slow_replica_times_out_with_504(make_proxy, cluster: Cluster) -> None:
    slow = worker.create_app(worker.WorkerConfig(model="sim-slow", ttft_ms=3000, decode_tokens_per_s=20000))
    with ServerThread(slow) as w:
        pol = default_policy(cluster)
        pol["tiers"][0]["backends"][0]["replicas"] = [w.url]
        pol["upstream"]["read_timeout_s"] = 0.3
        with make_proxy(pol) as proxy:
            assert_error(post(proxy, json={"model": "small", "messages": MSG}), 504, "upstream_timeout")
            with httpx.stream("POST", proxy.v1 + "/chat/completions", headers=H, timeout=30,
                              json={"model": "small", "messages": MSG, "stream": True}) as r:
                assert r.status_code == 504


def test_client_disconnect_cancels_the_upstream_stream(make_proxy, cluster: Cluster) -> None:
    slow = worker.create_app(worker.WorkerConfig(model="sim-slow", ttft_ms=1, decode_tokens_per_s=20,
                                                 min_output_tokens=200, max_output_tokens=200))
    with ServerThread(slow) as w:
        pol = default_policy(cluster)
        pol["tiers"][0]["backends"][0]["replicas"] = [w.url]
        with make_proxy(pol) as proxy:
            with httpx.stream("POST", proxy.v1 + "/chat/completions", headers=H, timeout=30,
                              json={"model": "small", "messages": MSG, "stream": True, "max_tokens": 200}) as r:
                assert r.status_code == 200
                next(r.iter_lines())  # one chunk, then hang up
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                sim = httpx.get(w.url + "/sim/stats").json()
                reps = proxy.admin("/admin/stats")["replicas"]
                if sim["aborted"] == 1 and reps["small/0"]["in_flight"] == 0:
                    break
                time.sleep(0.05)
            assert sim["aborted"] == 1 and sim["running"] == 0, sim  # the worker stopped generating
            assert reps["small/0"]["in_flight"] == 0
            assert proxy.admin("/admin/stats")["rejected_by_status"] == {}
