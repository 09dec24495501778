"""What the Redis-backed stores put in front of Redis: a breaker per store, and one count of errors and
local decisions per client.

:class:`RedisBreaker`: after ``failures`` failed calls in a row it opens for ``cooldown_s`` (the store
decides locally without trying Redis); then one call is let through (half open) and its success
closes it. Each such event is counted in its :class:`RedisStatus`; every error and local decision of
every store sharing one client, in that client's :class:`RedisHealth` (``/admin/stats`` →
``affinity.store.redis``). The client itself: :mod:`router.redis_client`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock

log = logging.getLogger("tierroute.redis")


@dataclass
class RedisHealth:
    """Redis errors and local decisions (fallbacks) of every store sharing one client."""

    errors: dict[str, int] = field(default_factory=dict)
    fallbacks: dict[str, int] = field(default_factory=dict)

    def error(self, store: str) -> None:
        self.errors[store] = self.errors.get(store, 0) + 1

    def fallback(self, store: str) -> None:
        self.fallbacks[store] = self.fallbacks.get(store, 0) + 1

    def describe(self) -> dict[str, Any]:
        return {"errors": sum(self.errors.values()), "fallbacks": sum(self.fallbacks.values()),
                "errors_by_store": dict(self.errors), "fallbacks_by_store": dict(self.fallbacks)}


@dataclass
class RedisStatus:
    state: str = "closed"  # closed | open | half_open
    errors: int = 0
    breaker_opened: int = 0
    recovered: int = 0
    local_decisions: int = 0  # fallbacks: decided here because Redis failed, timed out or the breaker was open
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
