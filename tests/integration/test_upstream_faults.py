"""Upstream faults without collateral damage: breakers, retries and fallback tiers (issue 10, point 5)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from fleet.sim import worker
from tests.integration.conftest import CLIENT_KEY, FAST, Cluster, Proxy, default_policy
from tests.support import ServerThread

H = {"Authorization": f"Bearer {CLIENT_KEY}"}
MSG = [{"role": "user", "content": "hello"}]


def post(proxy: Proxy, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(proxy.v1 + "/chat/completions", headers=H, json=body, timeout=30)


def policy(cluster: Cluster, **breaker: Any) -> dict[str, Any]:
    pol = default_policy(cluster)
    pol["health"]["interval_s"] = 60  # only what requests see counts
    pol["balance"] = {"policy": "least_loaded"}
    pol["breaker"] = {"failures": 3, "window_s": 30, "open_s": 60, **breaker}
    return pol


def test_one_connection_error_does_not_take_a_replica_out(make_proxy, cluster: Cluster) -> None:
    doomed = ServerThread(worker.create_app(worker.WorkerConfig(model="sim-small", **FAST))).__enter__()
    pol = policy(cluster)
    pol["tiers"][0]["backends"][0]["replicas"] = [doomed.url, cluster.small[0]]
    with make_proxy(pol) as proxy:
        time.sleep(0.3)  # the start-up health check saw both healthy
        doomed.__exit__(None, None, None)  # gone now (connection refused); no health check for a minute
        faults = 0
        for _ in range(12):
            r = post(proxy, {"model": "small", "messages": MSG, "max_tokens": 4})
            assert r.status_code == 200, r.text  # retried on the other replica
            rep = proxy.admin("/admin/stats")["replicas"]["small/0"]
            if rep["failed_attempts"] == 1 and faults == 0:
                faults = 1
                assert rep["healthy"] is True and rep["breaker"]["state"] == "closed"  # one fault is not enough
                assert rep["breaker"]["recent_faults"] == 1
            if rep["failed_attempts"] >= 3:
                break
        assert rep["failed_attempts"] == 3 and rep["breaker"]["state"] == "open" and rep["healthy"] is False
        for _ in range(3):  # open: no more attempts on it
            assert post(proxy, {"model": "small", "messages": MSG, "max_tokens": 4}).status_code == 200
        stats = proxy.admin("/admin/stats")
        assert stats["replicas"]["small/0"]["failed_attempts"] == 3
        assert stats["retries"]["retried_requests"] == 3 and stats["retries"]["failed_attempts"] == 3


def test_breaker_opens_then_half_open_probe_closes_it(make_proxy, cluster: Cluster) -> None:
    with make_proxy(policy(cluster, failures=2, open_s=0.5)) as proxy:
        body = {"model": "large", "messages": MSG, "max_tokens": 4}  # one replica, pinned: nothing to retry on
        httpx.post(cluster.large[0] + "/sim/fail", json={"fail_next": 2, "status": 500}).raise_for_status()
        assert post(proxy, body).status_code == 502
        assert proxy.admin("/admin/stats")["replicas"]["large/0"]["breaker"]["state"] == "closed"
        assert post(proxy, body).status_code == 502
        rep = proxy.admin("/admin/stats")["replicas"]["large/0"]
        assert rep["breaker"]["state"] == "open" and rep["healthy"] is False
        seen = cluster.sim_stats(cluster.large[0])["requests"]
        r = post(proxy, body)
        assert r.status_code == 503 and r.json()["error"]["code"] == "no_healthy_replica"
        assert cluster.sim_stats(cluster.large[0])["requests"] == seen  # open: not sent
        time.sleep(0.7)
        assert post(proxy, body).status_code == 200  # the half-open probe
        assert proxy.admin("/admin/stats")["replicas"]["large/0"]["breaker"]["state"] == "closed"


def test_5xx_is_retried_on_another_replica_of_the_tier(make_proxy, cluster: Cluster) -> None:
    with make_proxy(policy(cluster)) as proxy:
        httpx.post(cluster.small[0] + "/sim/fail", json={"fail_next": 1, "status": 500}).raise_for_status()
        attempts = []
        for _ in range(4):
            r = post(proxy, {"model": "small", "messages": MSG, "max_tokens": 4})
            assert r.status_code == 200, r.text
            attempts.append(r.headers.get("x-tierroute-attempts", "1"))
        assert cluster.sim_stats(cluster.small[0])["failed"] == 1
        assert sorted(attempts) == ["1", "1", "1", "2"]
        stats = proxy.admin("/admin/stats")
        assert stats["retries"]["retried_requests"] == 1
        assert stats["replicas"]["small/0"]["failed_attempts"] == 1


def test_provider_429_falls_back_to_the_next_tier(make_proxy, cluster: Cluster) -> None:
    with make_proxy(policy(cluster)) as proxy:
        httpx.post(cluster.provider + "/fake/fail", json={"status": 429, "count": 1}).raise_for_status()
        r = post(proxy, {"model": "auto", "messages": [{"role": "user", "content": "a hard one"}], "max_tokens": 4})
        assert r.status_code == 200, r.text
        assert r.headers["x-tierroute-tier"] == "large" and r.headers["x-tierroute-reason"] == "fallback_error"
        assert r.headers["x-tierroute-attempts"] == "2"
        stats = proxy.admin("/admin/stats")
        assert stats["retries"]["tier_fallbacks"] == 1 and stats["replicas"]["frontier/0"]["failed_attempts"] == 1


def test_attempts_are_bounded(make_proxy, cluster: Cluster) -> None:
    pol = policy(cluster)
    pol["upstream"]["retries"] = 1
    with make_proxy(pol) as proxy:
        for url in cluster.small + cluster.large:
            httpx.post(url + "/sim/fail", json={"fail_next": 5, "status": 500}).raise_for_status()
        r = post(proxy, {"model": "auto", "messages": MSG, "max_tokens": 4})
        assert r.status_code == 502
        failed = sum(cluster.sim_stats(u)["failed"] for u in cluster.small + cluster.large)
        assert failed == 2  # one retry, then the error


def test_no_retry_after_the_first_byte(make_proxy, cluster: Cluster) -> None:
    stall = worker.create_app(worker.WorkerConfig(model="sim-small", ttft_ms=1, decode_tokens_per_s=1,
                                                  min_output_tokens=20, max_output_tokens=20))
    with ServerThread(stall) as w:
        pol = policy(cluster)
        pol["tiers"][0]["backends"][0]["replicas"] = [w.url, cluster.small[0]]
        pol["upstream"]["read_timeout_s"] = 0.5
        with make_proxy(pol) as proxy:
            before = cluster.sim_stats(cluster.small[0])["requests"]
            lines: list[str] = []
            for _ in range(2):  # one of the two goes to the stalling replica
                with httpx.stream("POST", proxy.v1 + "/chat/completions", headers=H, timeout=30,
                                  json={"model": "small", "messages": MSG, "stream": True, "max_tokens": 20}) as r:
                    assert r.status_code == 200
                    got = [ln for ln in r.iter_lines() if ln.startswith("data:")]
                lines += got
            errors = [ln for ln in lines if '"error"' in ln]
            assert len(errors) == 1 and "upstream_timeout" in errors[0]  # ended with an error event
            assert cluster.sim_stats(cluster.small[0])["requests"] == before + 1  # not sent again elsewhere
