"""router.redis_connect: the three forms of ``--redis-url`` and the clients built for them."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from classifiers.registry import Registry
from router.learning.model_share import RedisModelSource
from router.procs import free_port
from router.redis_client import RedisPipe, calls_of
from router.redis_cluster import ClusterCalls, SharedCluster
from router.redis_connect import RedisTarget, async_client, parse_redis_url, redis_client, sync_client
from router.redis_sentinel import SentinelPipe


def test_a_plain_url_is_redis_pys_own() -> None:
    for url in ("redis://127.0.0.1:6379/0", "rediss://u:p@h:6380/2", "unix:///run/redis.sock"):
        assert parse_redis_url(url) == RedisTarget("single", url)


def test_cluster_urls_list_startup_nodes_and_credentials() -> None:
    t = parse_redis_url("redis+cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2,[::1]:7002")
    assert t.kind == "cluster" and t.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002))
    assert (t.username, t.password, t.ssl, t.db) == ("app", "s@cret", False, 0)
    assert parse_redis_url("rediss+cluster://h:7000/0").auth() == {"username": None, "password": None, "ssl": True}


def test_sentinel_urls_name_the_service_and_db() -> None:
    t = parse_redis_url("redis+sentinel://:pw@s1:26380,s2/mymaster/3?sentinel_password=spw")
    assert t.kind == "sentinel" and t.nodes == (("s1", 26380), ("s2", 26379))
    assert (t.service, t.db, t.password, t.sentinel_password) == ("mymaster", 3, "pw", "spw")
    assert parse_redis_url("redis+sentinel://s1/mymaster").db == 0


@pytest.mark.parametrize(("url", "says"), [
    ("redis+cluster://h:7000/1", "only database 0"),
    ("redis+cluster://h:x", "bad host:port"),
    ("redis+cluster://h:7000?foo=1", "unknown option"),
    ("redis+sentinel://s1:26379", "service"),
    ("redis+sentinel://s1:26379/mymaster/x", "service"),
    ("localhost:6379", "no scheme"),
])
def test_a_bad_url_says_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_redis_url(url)


def test_a_password_is_not_repeated_in_an_error() -> None:
    with pytest.raises(ValueError) as e:
        parse_redis_url("redis+cluster://app:hunter2@h:7000/5")
    assert "hunter2" not in str(e.value) and "***@h:7000" in str(e.value)


async def test_each_form_gets_its_client_and_calls() -> None:
    """Built without connecting: the clients connect on first use."""
    single = redis_client("redis://127.0.0.1:1/0")
    sentinel = redis_client("redis+sentinel://127.0.0.1:1/mymaster/2")
    cluster = redis_client("redis+cluster://127.0.0.1:1,127.0.0.1:2")
    try:
        assert type(calls_of(single)) is RedisPipe
        assert isinstance(calls_of(sentinel), SentinelPipe) and sentinel.connection_pool.connection_kwargs["db"] == 2
        assert isinstance(cluster, SharedCluster) and isinstance(calls_of(cluster), ClusterCalls)
        assert isinstance(calls_of(Redis()), RedisPipe)  # a plain client: a pipe on its address
        with pytest.raises(TypeError):
            calls_of(RedisCluster(host="127.0.0.1", port=1))  # a plain cluster client is not the stores'
    finally:
        for c in (single, sentinel):
            await c.aclose()
    assert isinstance(async_client("redis+cluster://h:1", socket_timeout=1, socket_connect_timeout=1), RedisCluster)
    plain = sync_client("redis+sentinel://h:1/m", socket_timeout=1, socket_connect_timeout=1)
    assert isinstance(plain, redis.Redis) and type(plain.connection_pool).__name__ == "SentinelConnectionPool"


def test_a_blocking_cluster_client_finds_the_cluster_when_made(tmp_path: Path) -> None:
    """redis-py's blocking cluster client connects when made: unreachable, it is a RedisError (what the model
    watcher catches), and the proxy's model pointer makes it only when it first reads."""
    url = f"redis+cluster://127.0.0.1:{free_port()}"
    with pytest.raises(redis.ConnectionError):
        sync_client(url, socket_timeout=1, socket_connect_timeout=1)
    source = RedisModelSource(lambda: sync_client(url, socket_timeout=1, socket_connect_timeout=1),
                              Registry(tmp_path))
    with pytest.raises(redis.RedisError):
        source.current()
