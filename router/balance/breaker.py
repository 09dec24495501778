"""A circuit breaker per replica (SGLang replica or litellm endpoint alike).

States, driven by what requests see (``policy.breaker``):

- **closed**: requests flow. Each upstream fault (no connection, 5xx, 429, a timeout before the
  first byte, a stream broken mid-way) is noted with its time; ``failures`` faults within
  ``window_s`` open the breaker. A success does not erase the window: faults spread thinner than
  that never open it.
- **open**: the replica gets no requests for ``open_s``.
- **half-open**: after ``open_s`` one request (the probe) may go; while it is out, no other
  request is sent there. Its success closes the breaker, its fault opens it again for ``open_s``;
  a probe that ends without a verdict (a client error, the client hanging up) leaves the breaker
  half-open for the next request to probe.

The breaker is one of the two halves of :attr:`router.domain.ReplicaState.healthy`; the
other is the active health check (SGLang only). It reads time from the injected clock, lazily:
no timers, and a closed breaker costs one attribute read per pick.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Literal

from ..clock import Clock, SystemClock

State = Literal["closed", "open", "half_open"]
log = logging.getLogger("tierroute.health")


class Breaker:
    __slots__ = ("closed", "state", "opens", "last_fault", "_clock", "_faults", "_until", "_probe")

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self.closed = True  # state == "closed", read on every pick
        self.state: State = "closed"
        self.opens = 0  # times opened since start
        self.last_fault: str | None = None
        self._faults: deque[float] = deque()
        self._until = 0.0  # open until then
        self._probe: str | None = None  # the key of the request probing a half-open breaker

    def admits(self) -> bool:
        """May a request be sent now? (Moves an open breaker whose time is up to half-open.)"""
        if self.closed:
            return True
        if self.state == "open":
            if self._clock.now() < self._until:
                return False
            self.state = "half_open"
        return self._probe is None

    def picked(self, key: str) -> None:
        """A request was sent here; on a half-open breaker it is the probe."""
        if self.state == "half_open" and self._probe is None:
            self._probe = key

    def released(self, key: str) -> None:
        """A request ended; a probe that ended without a verdict lets the next request probe."""
        if self._probe == key:
            self._probe = None

    def success(self, name: str = "") -> None:
        """A request was served; closes a half-open breaker (an open one ignores late news)."""
        if self.state == "half_open":
            self._close(name)

    def fault(self, reason: str, *, failures: int, window_s: float, open_s: float, name: str = "") -> None:
        """An upstream fault; opens the breaker at the threshold (or at once when half-open)."""
        now = self._clock.now()
        self.last_fault = reason
        if self.state == "half_open" or (self.state == "open" and now >= self._until):
            self._open(now, open_s, name, reason)
            return
        if self.state == "open":
            return
        faults = self._faults
        faults.append(now)
        while faults and faults[0] <= now - window_s:
            faults.popleft()
        if len(faults) >= failures:
            self._open(now, open_s, name, reason)

    def view(self) -> dict[str, object]:
        """For /admin/stats."""
        left = self._until - self._clock.now() if self.state == "open" else None
        return {"state": self.state, "opens": self.opens, "recent_faults": len(self._faults),
                "open_for_s": round(max(left, 0.0), 3) if left is not None else None, "last_fault": self.last_fault}

    def _open(self, now: float, open_s: float, name: str, reason: str) -> None:
        self.closed, self.state = False, "open"
        self._until = now + open_s
        self._probe = None
        self._faults.clear()
        self.opens += 1
        log.warning("breaker open", extra={"replica": name, "reason": reason, "open_s": open_s})

    def _close(self, name: str) -> None:
        self.closed, self.state = True, "closed"
        self._probe = None
        self._faults.clear()
        log.info("breaker closed", extra={"replica": name})
