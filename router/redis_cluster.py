"""The stores' per-request calls on a Redis Cluster: redis-py's cluster client, and a pipe per node.

Same calls as :class:`router.redis_client.RedisPipe` (``call``, ``get``, ``set``, ``register``,
``script``), so the stores do not know which they use. Where a call goes is redis-py's to say:
:class:`ClusterCalls` asks its cluster client which primary serves the slot of the call's key (a
script's keys are its ``KEYS``; every store's keys of one call share one hash tag, so one slot)
and sends it down a :class:`RedisPipe` to that node, one per node (pipelined, hiredis: a fifth of
the CPU of redis-py's own command path, ``docs/scaling.md``). Anything but an answer from the
right node goes to redis-py's ``execute_command`` instead, which follows ``MOVED`` and ``ASK``
and, after a connection error, timeout or ``CLUSTERDOWN``, reads the topology again before
retrying (at most :data:`CLUSTER_RETRIES` times, no back-off): that is how a failover is followed,
and the next calls go to the new primary's pipe. No slot map, retry or redirect of its own. A
script the node does not hold (``NOSCRIPT``: a promoted replica, a restarted node) is sent whole
once with ``EVAL``, which loads it there; a node's pipe loads them all when it connects.

Three things of redis-py 8.1's asyncio cluster client are worked around, all seen under
concurrent calls: before its first topology read (and after it drops the topology) a command is
routed as if it had no key, to a random node, and answered ``MOVED``, so the topology is read
first. Every fifth ``MOVED`` it closes every connection, in-use ones included, so that is turned
off (``reinitialize_steps=0``: a ``MOVED`` moves its slot only; connection errors still re-read
the whole topology). Where it still closes them all (``CLUSTERDOWN``, a failed topology read), a
command caught on one fails inside redis-py with ``AttributeError`` (its writer is gone), or under
uvloop with ``RuntimeError`` (its transport "is closed"): that is reported as the connection error it is.
"""

from __future__ import annotations

import ssl
from typing import Any, Self

import redis.cluster
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, ResponseError, SlotNotCoveredError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .redis_breaker import RedisHealth
from .redis_client import Arg, Calls, RedisPipe

CLUSTER_RETRIES = 3  # after a connection error / CLUSTERDOWN: re-read the topology, try again
_KEY_FIRST = frozenset({"GET", "SET", "ZREM"})  # the stores' plain commands: the key comes first
_NOT_HERE = ("MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN")  # redis-py's to handle


def key_of(args: tuple[Arg, ...]) -> str | None:
    """The key whose slot routes a call: a script's first key, a plain command's key."""
    name = str(args[0]).upper()
    if name in ("EVALSHA", "EVAL"):
        return str(args[3]) if int(args[2]) > 0 else None
    return str(args[1]) if name in _KEY_FIRST else None


class ClusterCalls(Calls):
    def __init__(self, cluster: RedisCluster, timeout_s: float | None, *, tls: ssl.SSLContext | None = None) -> None:
        """``timeout_s``: the node pipes' read timeout (None: no pipes, every call through redis-py);
        ``tls``: their TLS context (``rediss+cluster://``)."""
        super().__init__()
        self._cluster = cluster
        self._timeout = timeout_s
        self._tls = tls
        self._pipes: dict[str, RedisPipe] = {}  # node name -> its pipe

    async def call(self, *args: Arg) -> Any:
        cluster = self._cluster
        if cluster._initialize:  # noqa: SLF001 - see the module docstring
            await cluster.initialize()
        key = key_of(args) if self._timeout is not None else None
        if key is not None:
            try:
                pipe = self._pipe(cluster.get_node_from_key(key))
                return await pipe.call(*args)
            except ResponseError as e:
                if not str(e).startswith(_NOT_HERE):
                    raise
            except (RedisConnectionError, RedisTimeoutError, SlotNotCoveredError):
                pass  # redis-py re-reads the topology and retries
        try:
            return await cluster.execute_command(*args)
        except AttributeError as e:  # a connection redis-py closed under the command: see the module docstring
            raise RedisConnectionError(f"connection closed under the command: {e}") from e
        except RuntimeError as e:  # the same under uvloop: its transport refuses the write ("... is closed")
            if "closed" not in str(e):
                raise
            raise RedisConnectionError(f"connection closed under the command: {e}") from e

    def _pipe(self, node: ClusterNode | None) -> RedisPipe:
        if node is None:
            raise SlotNotCoveredError("no node for the slot")
        pipe = self._pipes.get(node.name)
        if pipe is None:
            kw = node.connection_kwargs
            pipe = self._pipes[node.name] = RedisPipe(
                {"host": node.host, "port": node.port, "username": kw.get("username"),
                 "password": kw.get("password"), "socket_connect_timeout": kw.get("socket_connect_timeout")},
                float(self._timeout or 0), tls=self._tls)
            for source in self._scripts.values():
                pipe.register(source)
        return pipe

    def close(self) -> None:
        """The node pipes; redis-py's connections close with the cluster client."""
        for pipe in self._pipes.values():
            pipe.close()


def _unreachable(e: RedisClusterException) -> RedisConnectionError:
    return RedisConnectionError(f"{type(e).__name__}: {e}")


class Cluster(RedisCluster):
    """redis-py's asyncio cluster client whose failures are all ``RedisError``.

    redis-py raises :class:`RedisClusterException`, which is not one, when no node answers, when a
    slot has no node during a failover (``SlotNotCoveredError``, once its retries are spent) and for
    calls it cannot route; the stores and the learning loop, which fall back on ``RedisError``,
    would let it fail the request. Here it is a :class:`redis.exceptions.ConnectionError`, named in
    the message."""

    async def initialize(self, additional_startup_nodes_info: list[tuple[str, int]] | None = None,
                         last_failed_node_name: str | None = None) -> Self:
        try:
            await super().initialize(additional_startup_nodes_info, last_failed_node_name)
        except RedisClusterException as e:
            raise _unreachable(e) from e
        return self

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_command(*args, **kwargs)
        except RedisClusterException as e:
            raise _unreachable(e) from e

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # refused by redis-py
        return _Pipeline(self, transaction)  # type: ignore[abstract]  # as redis-py makes its own


class _Pipeline(ClusterPipeline):
    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        try:
            return await super().execute(raise_on_error, allow_redirections)
        except RedisClusterException as e:
            raise _unreachable(e) from e


class SyncCluster(redis.cluster.RedisCluster):
    """redis-py's blocking cluster client, "no node answers" reported as a ``ConnectionError`` (see
    :class:`Cluster`); it discovers the cluster when built: :func:`router.redis_connect.sync_client`."""

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().execute_command(*args, **kwargs)
        except RedisClusterException as e:
            raise _unreachable(e) from e


class SharedCluster(Cluster):
    """redis-py's cluster client with the process's :class:`ClusterCalls` and :class:`RedisHealth` on it."""

    calls: ClusterCalls  # closed by the stores (redis-py calls its own aclose() on CLUSTERDOWN)
    health: RedisHealth
