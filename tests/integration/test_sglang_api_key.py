"""SGLang replicas started with ``--api-key``: the policy's ``api_key_env`` on ``kind: sglang``
(issue 10, point 5), sent on requests and on every health poll, never shown or logged."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from fleet.sim import worker
from router.errors import PolicyError
from router.policy.loader import parse_policy
from tests.integration.conftest import ADMIN_KEY, CLIENT_KEY, FAST, Cluster
from tests.support import ServerThread, policy_dict

SECRET = "sk-sglang-replica-secret-0123"
H = {"Authorization": f"Bearer {CLIENT_KEY}"}
MSG = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def keyed() -> Iterator[str]:
    """A simulated SGLang worker started with --api-key."""
    with ServerThread(worker.create_app(worker.WorkerConfig(model="sim-small", api_key=SECRET, **FAST))) as s:
        yield s.url


def keyed_policy(url: str) -> dict[str, Any]:
    pol = policy_dict(small=[url])
    pol["tiers"][0]["backends"][0]["api_key_env"] = "SGLANG_KEY"
    return pol


def env(**extra: str) -> dict[str, str]:
    return {"TIERROUTE_API_KEYS": CLIENT_KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY, **extra}


def chat(v1: str, **kw: Any) -> httpx.Response:
    return httpx.post(v1 + "/chat/completions", headers=H, timeout=30,
                      json={"model": "small", "messages": MSG, "max_tokens": 4, **kw})


def no_secret_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert SECRET not in caplog.text
    for rec in caplog.records:
        assert SECRET not in repr(rec.__dict__)


def test_sim_worker_requires_its_key_like_sglang(keyed: str) -> None:
    body = {"model": "sim-small", "messages": MSG, "max_tokens": 2}
    for path in ("/v1/chat/completions", "/get_server_info", "/v1/models"):
        r = httpx.request("POST" if path.startswith("/v1/chat") else "GET", keyed + path, json=body, timeout=5)
        assert r.status_code == 401 and r.json() == {"error": "Unauthorized"}, path
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.get(keyed + "/get_server_info", headers=wrong, timeout=5).status_code == 401
    assert httpx.get(keyed + "/health", timeout=5).status_code == 200  # open, as on SGLang
    assert httpx.get(keyed + "/metrics", timeout=5).status_code == 200
    ok = {"Authorization": f"Bearer {SECRET}"}
    assert httpx.get(keyed + "/get_server_info", headers=ok, timeout=5).status_code == 200
    assert httpx.post(keyed + "/v1/chat/completions", headers=ok, json=body, timeout=5).status_code == 200


def test_policy_validates_api_key_env() -> None:
    pol = keyed_policy("http://127.0.0.1:1")
    pol["tiers"][0]["backends"][0]["api_key_env"] = "not a name"
    with pytest.raises(PolicyError) as ei:
        parse_policy(yaml.safe_dump(pol), env={})
    assert any("tiers[0] (small).backends[0].api_key_env" in p for p in ei.value.problems), ei.value.problems
    parse_policy(yaml.safe_dump(keyed_policy("http://127.0.0.1:1")), env={})  # unset at load: a 503 later


def test_key_is_sent_on_requests_and_health_polls(make_proxy, keyed: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with make_proxy(keyed_policy(keyed), env=env(SGLANG_KEY=SECRET)) as proxy:
        for stream in (False, True):
            r = chat(proxy.v1, stream=stream)
            assert r.status_code == 200, r.text
        time.sleep(0.3)
        rep = proxy.admin("/admin/stats")["replicas"]["small/0"]
        assert rep["healthy"] is True
        assert rep["max_total_tokens"] == worker.WorkerConfig().max_total_tokens  # /get_server_info, with the key
    no_secret_logged(caplog)


def test_wrong_or_missing_key(make_proxy, keyed: str, cluster: Cluster, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with make_proxy(keyed_policy(keyed), env=env(SGLANG_KEY="sk-wrong-key")) as proxy:
        r = chat(proxy.v1)
        assert r.status_code == 502 and r.json()["error"]["code"] == "bad_gateway"  # not the client's 401
        assert "sk-wrong-key" not in r.text and SECRET not in r.text and keyed.split("//")[1] not in r.text
    with make_proxy(keyed_policy(keyed), env=env()) as proxy:  # SGLANG_KEY unset
        r = chat(proxy.v1)
        assert r.status_code == 503 and "SGLANG_KEY" in r.json()["error"]["message"], r.text
    no_secret_logged(caplog)
    assert "sk-wrong-key" not in caplog.text
