"""The one Redis client a proxy shares among its Redis-backed stores (affinity, conversations).

Commands time out after ``timeout_s`` and are never retried by the client: the stores fall back
to local decisions instead of making a request wait for Redis.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def redis_client(url: str, *, timeout_s: float = 0.05) -> Redis:
    return Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                          retry=Retry(NoBackoff(), 0), health_check_interval=0)
