"""Cut points between the ``auto`` tiers: fixed by ``below``, or following traffic by ``share``.

With ``below`` the cuts are the policy's numbers. With ``share`` they follow the scores the
proxy actually sees, so each tier gets its share of *this* traffic however the classifier's
scores drift (a threshold calibrated on one data set routes a different share elsewhere):

1. keep the last ``routing.score_window`` scores (a bounded ring);
2. with at least ``routing.min_samples`` of them, the cut after tier k is the empirical
   quantile of the window at the cumulative share of tiers 0..k;
3. before that, the classifier's reference quantiles (its scores on its own training data,
   when the model ships them) stand in; failing that, the cumulative share itself (as if
   scores were uniform on [0, 1]);
4. cuts are made strictly increasing and are recomputed every ``REFRESH`` new scores, not on
   every request.

:func:`share_cuts` is the pure part; :class:`Thresholds` holds the window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from .model import Routing

REFRESH = 32
MIN_GAP = 1e-6


def share_cuts(shares: Sequence[float], sample: Sequence[float] | np.ndarray) -> tuple[float, ...]:
    """Cut points that split ``sample`` into ``shares`` (cumulative quantiles, strictly rising)."""
    cumulative = np.cumsum(shares)[:-1]
    if len(sample) == 0:
        raw = [float(c) for c in cumulative]
    else:
        raw = [float(q) for q in np.quantile(np.asarray(sample, dtype=np.float64), cumulative)]
    cuts: list[float] = []
    for c in raw:
        cuts.append(max(c, cuts[-1] + MIN_GAP) if cuts else c)
    return tuple(cuts)


class Thresholds:
    def __init__(self, *, window: int = 4096, reference: Sequence[float] | None = None) -> None:
        self._scores: deque[float] = deque(maxlen=window)
        self._reference = np.asarray(reference, dtype=np.float64) if reference is not None else None
        self._seen = 0
        self._cache: tuple[object, int, tuple[float, ...]] | None = None

    def observe(self, score: float) -> None:
        self._scores.append(score)
        self._seen += 1

    def recent(self) -> list[float]:
        return list(self._scores)

    def set_reference(self, reference: Sequence[float] | None) -> None:
        self._reference = np.asarray(reference, dtype=np.float64) if reference is not None else None
        self._cache = None

    def restart(self, reference: Sequence[float] | None) -> None:
        """A new model scores from now on: forget the old model's scores (they are on another
        scale), and let its reference quantiles stand in until enough new scores arrived."""
        self._scores.clear()
        self._seen = 0
        self.set_reference(reference)

    def cuts(self, routing: Routing) -> tuple[float, ...]:
        """The current cut points for ``routing`` (one fewer than its tiers)."""
        if not routing.by_share:
            return tuple(float(r.below) for r in routing.auto[:-1] if r.below is not None)
        if self._scores.maxlen != routing.score_window:
            self._scores = deque(self._scores, maxlen=routing.score_window)
        epoch = self._seen // REFRESH if len(self._scores) >= routing.min_samples else -1
        if self._cache is not None and self._cache[0] is routing and self._cache[1] == epoch:
            return self._cache[2]
        shares = [r.share or 0.0 for r in routing.auto]
        if epoch >= 0:
            cuts = share_cuts(shares, list(self._scores))
        else:
            cuts = share_cuts(shares, self._reference if self._reference is not None else [])
        self._cache = (routing, epoch, cuts)
        return cuts

    def source(self, routing: Routing) -> str:
        """Where the cuts come from now: policy, traffic, reference or uniform."""
        if not routing.by_share:
            return "policy"
        if len(self._scores) >= routing.min_samples:
            return "traffic"
        return "reference" if self._reference is not None else "uniform"
