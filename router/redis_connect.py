"""Which Redis a ``--redis-url`` names, and the redis-py clients for it.

Three forms:

* ``redis://[user:pass@]host:port/db``, ``rediss://…``, ``unix://…``: one Redis, redis-py's own URL;
* ``redis+cluster://[user:pass@]host:port[,host:port…]`` (``rediss+cluster://`` for TLS): a Redis
  Cluster, reached through redis-py's ``RedisCluster``; the nodes listed are where it starts to
  discover the cluster (one is enough, more survive one being down);
* ``redis+sentinel://[user:pass@]host:port[,host:port…]/service[/db]`` (``rediss+sentinel://``):
  the primary that the Sentinels at those addresses (default port 26379) name for ``service``,
  found again after a failover. The user and password are the data nodes'; the Sentinels' own, if
  they need one, go in the query: ``?sentinel_password=…`` (and ``sentinel_username=…``).

:func:`redis_client` builds the client a proxy's stores share (:mod:`router.redis_client`: for one
Redis and a Sentinel primary the pipelined connection, for a cluster redis-py's cluster client);
:func:`async_client` and :func:`sync_client` plain redis-py clients, for what is off the request path
(learning's labels and spend, the promoted model's pointer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import redis
import redis.cluster
import redis.sentinel
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import SSLConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException

from .redis_breaker import RedisHealth
from .redis_client import POOL_CONNECTIONS, READ_TIMEOUT_S, RedisPipe, SharedRedis, tls_context
from .redis_cluster import CLUSTER_RETRIES, Cluster, ClusterCalls, SharedCluster, SyncCluster
from .redis_sentinel import SentinelPipe

Kind = Literal["single", "cluster", "sentinel"]
_SCHEMES: dict[str, tuple[Kind, bool]] = {"redis+cluster": ("cluster", False), "rediss+cluster": ("cluster", True),
                                         "redis+sentinel": ("sentinel", False), "rediss+sentinel": ("sentinel", True)}
_DEFAULT_PORT = {"cluster": 6379, "sentinel": 26379}
_SENTINEL_QUERY = frozenset({"sentinel_username", "sentinel_password"})
_TLS_QUERY = frozenset({"ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs",
                        "ssl_check_hostname"})  # rediss+…: as in a rediss:// URL, for every data node


@dataclass(frozen=True)
class RedisTarget:
    kind: Kind
    url: str
    nodes: tuple[tuple[str, int], ...] = ()  # cluster: startup nodes; sentinel: the Sentinels
    service: str | None = None  # sentinel: the primary's name
    db: int = 0
    username: str | None = None
    password: str | None = None
    ssl: bool = False
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    tls: tuple[tuple[str, str | bool], ...] = ()  # rediss+…: the ssl_* options of the query

    def auth(self) -> dict[str, Any]:
        """The data nodes' connection options named by the URL (credentials, TLS)."""
        return {"username": self.username, "password": self.password,
                **({"ssl": True, **dict(self.tls)} if self.ssl else {})}


def parse_redis_url(url: str) -> RedisTarget:
    """The target ``url`` names; ValueError saying what is wrong with it."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a Redis URL (no scheme): {_redact(url)}")
    if scheme.lower() not in _SCHEMES:
        return RedisTarget("single", url)
    kind, ssl = _SCHEMES[scheme.lower()]
    parts = urlsplit("x://" + rest)  # the netloc holds several host:port, which urlsplit's .port would refuse
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    nodes = tuple(_host_port(h, _DEFAULT_PORT[kind], url) for h in hosts.split(","))
    path = [unquote(p) for p in parts.path.split("/") if p]
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - (_SENTINEL_QUERY if kind == "sentinel" else set()) - (_TLS_QUERY if ssl else set())
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} in {_redact(url)}")
    user, secret = unquote(username) or None, unquote(password) or None
    tls = tuple(sorted((k, v.lower() in ("1", "true", "yes") if k == "ssl_check_hostname" else v)
                       for k, v in query.items() if k in _TLS_QUERY))
    if kind == "cluster":
        if path not in ([], ["0"]):
            raise ValueError(f"a Redis Cluster has only database 0: {_redact(url)}")
        return RedisTarget("cluster", url, nodes, username=user, password=secret, ssl=ssl, tls=tls)
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError(f"expected redis+sentinel://host:port[,host:port]/service[/db]: {_redact(url)}")
    return RedisTarget("sentinel", url, nodes, path[0], int(path[1]) if len(path) == 2 else 0, user, secret, ssl,
                       query.get("sentinel_username"), query.get("sentinel_password"), tls)


def _host_port(text: str, default: int, url: str) -> tuple[str, int]:
    host, port = text, ""
    if text.startswith("["):  # [IPv6]:port
        host, _, tail = text[1:].partition("]")
        port = tail.removeprefix(":")
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not host or (port and not port.isdigit()):
        raise ValueError(f"bad host:port {text!r} in {_redact(url)}")
    return host, int(port) if port else default


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, hosts = rest.rpartition("@")
    return f"{scheme}{sep}***@{hosts}" if at and userinfo else url


def redis_client(url: str, *, timeout_s: float = 0.05, read_timeout_s: float | None = None,
                 max_connections: int = POOL_CONNECTIONS) -> SharedRedis | SharedCluster:
    """The client the stores share, its per-request calls on ``client.calls``.

    One Redis: a redis-py pool that blocks (up to ``timeout_s``) rather than fail when all of its
    ``max_connections`` are busy, and the pipe (one connection, connect timeout ``timeout_s``, read
    timeout ``read_timeout_s``: ``max(timeout_s, READ_TIMEOUT_S)`` if unset). A Sentinel primary: the
    same, the pipe and the pool asking the Sentinels where the primary is whenever they connect. A
    cluster: redis-py's cluster client (:mod:`router.redis_cluster`), connect and read timeouts both
    the read timeout (it opens a connection per concurrent call and node, not one)."""
    read = max(timeout_s, READ_TIMEOUT_S) if read_timeout_s is None else read_timeout_s
    target = parse_redis_url(url)
    if target.kind == "cluster":
        cluster = SharedCluster(startup_nodes=[ClusterNode(h, p) for h, p in target.nodes], socket_timeout=read,
                                socket_connect_timeout=read, retry=Retry(NoBackoff(), CLUSTER_RETRIES),
                                reinitialize_steps=0, max_connections=8 * max_connections, **target.auth())
        tls = tls_context(target.auth()) if target.ssl else None
        cluster.calls, cluster.health = ClusterCalls(cluster, read, tls=tls), RedisHealth()
        return cluster
    client: SharedRedis
    if target.kind == "sentinel":
        sentinel = _sentinel(target, Sentinel, timeout_s, read)
        client = sentinel.master_for(target.service, redis_class=SharedRedis, db=target.db, socket_timeout=timeout_s,
                                     socket_connect_timeout=timeout_s, max_connections=max_connections,
                                     retry=Retry(NoBackoff(), 0), health_check_interval=0, **target.auth())
        pool: Any = client.connection_pool  # a SentinelConnectionPool: asks the Sentinels on connect
        kw = {k: v for k, v in pool.connection_kwargs.items() if k != "connection_pool"}
        client.calls = SentinelPipe(kw, read, pool.get_master_address,
                                    tls=tls_context(kw) if target.ssl else None)
    else:
        blocking = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=timeout_s,
                                                   socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                                   retry=Retry(NoBackoff(), 0), health_check_interval=0)
        client = SharedRedis(connection_pool=blocking)
        kw = dict(blocking.connection_kwargs)
        client.calls = RedisPipe(kw, read, tls=tls_context(kw) if issubclass(blocking.connection_class, SSLConnection)
                                 else None)
    client.health = RedisHealth()
    return client


def _sentinel(target: RedisTarget, cls: Any, connect_s: float, read_s: float) -> Any:
    opts = {"socket_timeout": read_s, "socket_connect_timeout": connect_s, "username": target.sentinel_username,
            "password": target.sentinel_password, **({"ssl": True, **dict(target.tls)} if target.ssl else {})}
    return cls(list(target.nodes), sentinel_kwargs=opts, socket_timeout=read_s, socket_connect_timeout=connect_s)


def async_client(url: str, *, socket_timeout: float, socket_connect_timeout: float) -> Redis | RedisCluster:
    """A plain redis-py asyncio client for any of the three forms."""
    target = parse_redis_url(url)
    kw: dict[str, Any] = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_connect_timeout}
    if target.kind == "cluster":
        return Cluster(startup_nodes=[ClusterNode(h, p) for h, p in target.nodes], **kw, **target.auth())
    if target.kind == "sentinel":
        sentinel = _sentinel(target, Sentinel, socket_connect_timeout, socket_timeout)
        return sentinel.master_for(target.service, db=target.db, **kw, **target.auth())  # type: ignore[no-any-return]
    return Redis.from_url(url, **kw)


def sync_client(url: str, *, socket_timeout: float,
                socket_connect_timeout: float) -> redis.Redis | redis.cluster.RedisCluster:
    """A plain redis-py (blocking) client for any of the three forms. A cluster's is built by finding the
    cluster: a ``redis.exceptions.ConnectionError`` when no node answers."""
    target = parse_redis_url(url)
    kw: dict[str, Any] = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_connect_timeout}
    if target.kind == "cluster":
        try:
            return SyncCluster(startup_nodes=[redis.cluster.ClusterNode(h, p) for h, p in target.nodes], **kw,
                               **target.auth())
        except RedisClusterException as e:
            raise redis.ConnectionError(str(e)) from e
    if target.kind == "sentinel":
        sentinel = _sentinel(target, redis.sentinel.Sentinel, socket_connect_timeout, socket_timeout)
        return sentinel.master_for(target.service, db=target.db, **kw, **target.auth())  # type: ignore[no-any-return]
    return redis.Redis.from_url(url, **kw)
