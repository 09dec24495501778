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

from typing import Any

from redis.asyncio.cluster import RedisCluster

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


class SharedCluster(RedisCluster):
    """redis-py's cluster client with the process's :class:`ClusterCalls` and :class:`RedisHealth` on it."""

    calls: ClusterCalls
    health: RedisHealth
