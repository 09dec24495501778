"""Time as a seam: the real clock and a fake one for tests."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds, for durations."""
        ...

    def wall(self) -> float:
        """Unix time, for timestamps shown to people."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.perf_counter()

    def wall(self) -> float:
        return time.time()


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return 1_700_000_000.0 + self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds
