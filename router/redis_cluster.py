"""The stores' per-request calls on a Redis Cluster, through redis-py's own cluster client.

Same calls as :class:`router.redis_client.RedisPipe` (``call``, ``get``, ``set``, ``register``,
``script``), so the stores do not know which they use. redis-py routes each command by the slot
of its keys (a script's are its ``KEYS``: every store's keys of one call share one hash tag, so one
slot), follows ``MOVED`` and ``ASK``, and after a connection error or ``CLUSTERDOWN`` reads the
cluster's topology again before retrying (at most :data:`CLUSTER_RETRIES` times, no back-off):
that is how a failover is followed. A script the node does not hold (``NOSCRIPT``: a promoted
replica, a restarted node, a new client) is sent whole once with ``EVAL``, which loads it there.

No pipelining across calls and a connection per concurrent call and node (redis-py's model): it
costs more CPU per call than the pipe (``docs/scaling.md``, "Redis Cluster and Sentinel").
"""

from __future__ import annotations

from typing import Any, Self

import redis.cluster
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException

from .redis_client import Arg, Calls, RedisHealth

CLUSTER_RETRIES = 3  # after a connection error / CLUSTERDOWN: re-read the topology, try again


class ClusterCalls(Calls):
    def __init__(self, cluster: RedisCluster) -> None:
        super().__init__()
        self._cluster = cluster

    async def call(self, *args: Arg) -> Any:
        return await self._cluster.execute_command(*args)

    def close(self) -> None:
        """Nothing of its own: the cluster client's connections close with it."""


class Cluster(RedisCluster):
    """redis-py's asyncio cluster client, reporting "no node answers" as a :class:`redis.exceptions.ConnectionError`.

    redis-py raises :class:`RedisClusterException` there (not a ``RedisError``: the stores' fallbacks,
    which catch ``RedisError``, would let it fail the request); every command and pipeline finds the
    topology through :meth:`initialize` first."""

    async def initialize(self, additional_startup_nodes_info: list[tuple[str, int]] | None = None,
                         last_failed_node_name: str | None = None) -> Self:
        try:
            await super().initialize(additional_startup_nodes_info, last_failed_node_name)
        except RedisClusterException as e:
            raise RedisConnectionError(str(e)) from e
        return self


class SyncCluster(redis.cluster.RedisCluster):
    """redis-py's blocking cluster client, "no node answers" reported as a ``ConnectionError`` (see
    :class:`Cluster`); it discovers the cluster when built: :func:`router.redis_connect.sync_client`."""

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().execute_command(*args, **kwargs)
        except RedisClusterException as e:
            raise RedisConnectionError(str(e)) from e


class SharedCluster(Cluster):
    """redis-py's cluster client with the process's :class:`ClusterCalls` and :class:`RedisHealth` on it."""

    calls: ClusterCalls
    health: RedisHealth
