"""A bounded window of recent samples with percentiles (memory stays flat however long it runs)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable


class SampleWindow:
    def __init__(self, maxlen: int = 2048, samples: Iterable[float] = ()) -> None:
        self._d: deque[float] = deque(samples, maxlen=maxlen)

    def add(self, value: float) -> None:
        self._d.append(value)

    def values(self) -> list[float]:
        return list(self._d)

    def __len__(self) -> int:
        return len(self._d)


def percentiles(values: list[float], qs: Iterable[float] = (50, 95, 99)) -> dict[str, float | None]:
    """Nearest-rank percentiles of ``values`` ({"p50": …}); None when there are no samples."""
    if not values:
        return {f"p{q:g}": None for q in qs}
    s = sorted(values)
    n = len(s)
    out: dict[str, float | None] = {}
    for q in qs:
        rank = max(1, math.ceil(q * n / 100))
        out[f"p{q:g}"] = s[min(rank, n) - 1]
    return out
