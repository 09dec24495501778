"""The one Redis client a proxy shares among its Redis-backed stores (affinity, conversations,
limits), and the breaker those stores put in front of it.

Commands time out after ``timeout_s`` and are never retried by the client: the stores fall back
to local decisions instead of making a request wait for Redis. :class:`RedisBreaker`: after
``failures`` failures in a row it opens for ``cooldown_s`` (the store decides locally without
trying Redis); then one call is let through (half open) and its success closes it. Every such
event is counted in its :class:`RedisStatus`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .clock import Clock

log = logging.getLogger("tierroute.redis")


def redis_client(url: str, *, timeout_s: float = 0.05) -> Redis:
    return Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                          retry=Retry(NoBackoff(), 0), health_check_interval=0)


@dataclass
class RedisStatus:
    state: str = "closed"  # closed | open | half_open
    errors: int = 0
    breaker_opened: int = 0
    recovered: int = 0
    local_decisions: int = 0
    last_error: str | None = None


class RedisBreaker:
    """Whether a store should try Redis now; fed with each call's outcome (see the module docstring)."""

    def __init__(self, clock: Clock, what: str, *, failures: int = 3, cooldown_s: float = 5.0) -> None:
        self._clock = clock
        self._what = what  # for the log: "affinity", "limits"
        self._failures = failures
        self._cooldown = cooldown_s
        self._in_row = 0
        self._open_until = 0.0
        self.status = RedisStatus()

    def usable(self) -> bool:
        if self.status.state != "open":
            return True
        if self._clock.now() >= self._open_until:
            self.status.state = "half_open"  # let one call through
            return True
        return False

    def failed(self, e: BaseException) -> None:
        self.status.errors += 1
        self.status.last_error = f"{type(e).__name__}: {e}"[:200]
        self._in_row += 1
        if self.status.state == "half_open" or self._in_row >= self._failures:
            if self.status.state != "open":
                self.status.breaker_opened += 1
                log.warning("redis unavailable: deciding locally", extra={
                    "store": self._what, "error": self.status.last_error, "cooldown_s": self._cooldown})
            self.status.state = "open"
            self._open_until = self._clock.now() + self._cooldown

    def succeeded(self) -> None:
        self._in_row = 0
        if self.status.state != "closed":
            self.status.recovered += 1
            log.info("redis is back: state shared again", extra={"store": self._what})
        self.status.state = "closed"
