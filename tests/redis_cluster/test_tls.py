"""``rediss://`` and ``rediss+cluster://``: the stores' calls over TLS, to one Redis and to a cluster.

The servers speak TLS only (``--port 0``), with a certificate for 127.0.0.1 signed by a private CA
that the URL names (``?ssl_ca_certs=``): a call that did not verify it, or spoke plain TCP, fails,
and the stores would count a fallback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from router.auth import Principal
from router.balance.redis_affinity import RedisAffinity, key_prefix
from router.clock import SystemClock
from router.redis_cluster import ClusterCalls
from router.redis_connect import redis_client
from router.redis_limits import RedisLimits
from tests.balance.test_redis_pipe import CANDS, PARAMS
from tests.redis_cluster.servers import LocalCluster, Servers, cluster_ports, make_certificates, wait_for


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory, certs: Path) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("tls-cluster"), tls=certs) as cluster:
        yield cluster


async def decide(url: str) -> dict[str, object]:
    client = redis_client(url, timeout_s=1.0)
    affinity, limits = RedisAffinity(client, SystemClock()), RedisLimits(client, SystemClock())
    try:
        for i in range(20):
            assert await affinity.choose("tls", [f"b{i % 3}"], CANDS, f"L{i}", PARAMS) is not None
            await limits.admit(Principal("tls-key", None, requests_per_minute=1000))
        if isinstance(client.calls, ClusterCalls):
            assert client.calls._pipes  # noqa: SLF001 - the node pipes carried the calls, over TLS
        return affinity.describe()["redis"]
    finally:
        await affinity.aclose()


async def test_the_pipe_speaks_tls_to_a_rediss_url(tmp_path: Path, certs: Path) -> None:
    server = Servers(tmp_path, tls=certs)
    [port] = cluster_ports(1)
    server.start(port)
    try:
        wait_for("redis-server over TLS", server.client(port).ping)
        seen = await decide(f"rediss://127.0.0.1:{port}/0{server.tls_query()}")
        assert seen["errors"] == 0 and seen["fallbacks"] == 0, seen
        assert server.client(port).keys(key_prefix("tls") + "lru:*")
    finally:
        server.stop()


async def test_the_stores_decide_on_a_tls_cluster(tls_cluster: LocalCluster) -> None:
    seen = await decide(tls_cluster.url)
    assert seen["errors"] == 0 and seen["fallbacks"] == 0, seen
    assert tls_cluster.client(tls_cluster.primary_for(key_prefix("tls"))).keys(key_prefix("tls") + "lru:*")
