"""The one front (issue 10, point 2): the key is checked from the headers before any body byte, bodies
are bounded as they arrive, and every route shares one request-id source and one error shape."""

from __future__ import annotations

import hashlib
from urllib.parse import urlparse

import httpx
import pytest

from tests.api.raw import RawClient
from tests.integration.conftest import ADMIN_KEY, CLIENT_KEY, Cluster, Proxy, default_policy

MSG = [{"role": "user", "content": "hello"}]


def _port(proxy: Proxy) -> int:
    port = urlparse(proxy.url).port
    assert port is not None
    return port


@pytest.mark.parametrize("path, headers", [
    ("/v1/chat/completions", {}),
    ("/v1/chat/completions", {"Authorization": "Bearer sk-wrong"}),
    ("/v1/messages", {"x-api-key": "sk-wrong", "anthropic-version": "2023-06-01"}),
    ("/v1/completions", {"Authorization": "Bearer " + ADMIN_KEY}),  # the admin key is not a client key
])
def test_401_before_a_byte_of_the_body(proxy: Proxy, path: str, headers: dict[str, str]) -> None:
    """The client announces a body and never sends it: the answer must not wait for it."""
    for framing in ({"Content-Length": "100000"}, {"Transfer-Encoding": "chunked"}):
        c = RawClient(_port(proxy), timeout=5)
        try:
            c.head("POST", path, {"Content-Type": "application/json", **headers, **framing})
            assert c.status() == 401  # a socket timeout here: the proxy waited for the body
        finally:
            c.close()


def test_rate_limit_before_the_body(make_proxy, cluster: Cluster) -> None:
    pol = default_policy(cluster)
    pol["auth"] = {"client_keys": [{"name": "slow", "key_sha256": hashlib.sha256(b"sk-slow").hexdigest(),
                                    "requests_per_minute": 1}]}
    with make_proxy(pol) as proxy:
        h = {"Authorization": "Bearer sk-slow"}
        assert httpx.post(proxy.v1 + "/chat/completions", headers=h, timeout=30,
                          json={"model": "small", "messages": MSG, "max_tokens": 2}).status_code == 200
        c = RawClient(_port(proxy), timeout=5)
        try:
            c.head("POST", "/v1/chat/completions", {**h, "Content-Length": "100000"})
            assert c.status() == 429
        finally:
            c.close()


def test_chunked_upload_over_the_limit_is_refused_as_it_arrives(make_proxy, cluster: Cluster) -> None:
    pol = default_policy(cluster)
    pol["upstream"]["max_body_bytes"] = 64 * 1024
    with make_proxy(pol) as proxy:
        c = RawClient(_port(proxy), timeout=5)
        try:
            c.head("POST", "/v1/chat/completions", {"Authorization": f"Bearer {CLIENT_KEY}",
                                                    "Transfer-Encoding": "chunked"})
            for _ in range(20):  # 80 KiB of a body that never ends
                c.chunk(b"x" * 4096)
            assert c.status() == 413
            assert b"request_too_large" in c.read_until(b"}}")
        finally:
            c.close()


def test_one_request_id_source_and_one_error_shape_for_every_route(proxy: Proxy) -> None:
    ours = httpx.post(proxy.v1 + "/chat/completions", headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                      json={"model": "small", "messages": MSG, "max_tokens": 2}, timeout=30)
    assert ours.status_code == 200
    prefix = ours.headers["x-tierroute-request-id"][:12]
    answers = [
        httpx.get(proxy.v1 + "/models", headers={"Authorization": f"Bearer {CLIENT_KEY}"}),
        httpx.get(proxy.v1 + "/models"),  # 401 from the same gate
        httpx.get(proxy.url + "/admin/stats", headers={"Authorization": f"Bearer {CLIENT_KEY}"}),  # 401
        httpx.get(proxy.url + "/admin/policy", headers={"Authorization": f"Bearer {ADMIN_KEY}"}),
        httpx.get(proxy.v1 + "/nothing-here"),  # 404 from Starlette's router
        httpx.post(proxy.v1 + "/models"),  # 405
        httpx.post(proxy.v1 + "/feedback", json={}),  # 401
    ]
    assert [r.status_code for r in answers] == [200, 401, 401, 200, 404, 405, 401]
    for r in answers:
        assert r.headers["x-tierroute-request-id"][:12] == prefix, (r.request.url, r.headers)
        if r.status_code >= 400:
            assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    echoed = httpx.get(proxy.v1 + "/nothing-here", headers={"x-request-id": "client-id-1"})
    assert echoed.headers["x-tierroute-request-id"] == "client-id-1"
    stats = proxy.admin("/admin/stats")["rejected_by_status"]
    assert stats.get("401", 0) >= 4  # every refusal counted alike, admin and Starlette routes included
