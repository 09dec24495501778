"""RouteLLM's routing-quality protocol (../shared/data/README.md), in plain numpy.

Given one router score per prompt and the weak and strong models' per-prompt scores:

1. Thresholds: the 11 decile edges of the router scores with linear interpolation, as
   ``pandas.qcut(scores, 10, retbins=True)`` in RouteLLM (= ``np.quantile``), but with the
   positions ``k (n - 1) / 10`` computed exactly in integers, so an edge that falls on a
   score equals that score instead of exceeding it by a rounding error.
2. For each threshold ``t`` a prompt goes to the strong model when ``score >= t``; at the
   last edge (the maximum) RouteLLM uses ``score > t`` so that the curve ends at zero strong
   calls. We do the same, which makes the curve span strong-call fractions 0 to 1.
3. Each threshold gives a point (fraction of strong calls, quality), quality being the mean of
   ``strong_score`` over prompts routed strong and ``weak_score`` over the rest.
4. PGR = (quality − weak mean) / (strong mean − weak mean), weak/strong mean being the
   quality of routing everything weak/strong.
5. APGR = trapezoid area under PGR against the strong-call fraction, points sorted by that
   fraction (RouteLLM divides by the fraction's span, which step 2 makes 1). A random router's
   expected APGR is 0.5; so is a constant router's (its curve is the straight line).
6. CPT(x) = the smallest strong-call fraction at which the curve reaches PGR = x, linearly
   interpolated inside the first segment that crosses x (RouteLLM's ``np.interp`` on a
   monotone curve gives the same value).

Fractions are in [0, 1] throughout (CPT(0.5) = 0.3 means 30 % strong calls).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NUM_BINS = 10


@dataclass(frozen=True)
class RoutingCurve:
    """The curve points sorted by ``strong_fraction`` (ascending), and its summary numbers."""

    thresholds: np.ndarray
    strong_fraction: np.ndarray
    quality: np.ndarray
    pgr: np.ndarray
    weak_mean: float
    strong_mean: float
    apgr: float

    def cpt(self, pgr_target: float) -> float:
        """Smallest strong-call fraction reaching ``pgr_target`` (interpolated); NaN if never."""
        x, y = self.strong_fraction, self.pgr
        if y[0] >= pgr_target:
            return float(x[0])
        for i in range(1, len(x)):
            if y[i] >= pgr_target:
                x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
                return float(x0 + (pgr_target - y0) / (y1 - y0) * (x1 - x0))
        return float("nan")

    def summary(self) -> dict[str, float]:
        """APGR, CPT(50 %) and CPT(80 %), as plain floats."""
        return {"apgr": self.apgr, "cpt50": self.cpt(0.5), "cpt80": self.cpt(0.8)}


def routing_curve(scores: Sequence[float] | np.ndarray, weak: Sequence[float] | np.ndarray,
                  strong: Sequence[float] | np.ndarray, *, num_bins: int = NUM_BINS) -> RoutingCurve:
    """Sweep the ``num_bins + 1`` quantile edges of ``scores`` (see the module docstring).

    Raises ``ValueError`` on mismatched lengths, no rows, or equal weak and strong means
    (PGR is undefined then).
    """
    s, w, g = (np.asarray(a, dtype=np.float64) for a in (scores, weak, strong))
    if not (s.ndim == w.ndim == g.ndim == 1) or not (len(s) == len(w) == len(g)):
        raise ValueError("scores, weak and strong must be 1-D arrays of the same length")
    if len(s) == 0:
        raise ValueError("no rows to evaluate")
    weak_mean, strong_mean = float(w.mean()), float(g.mean())
    if strong_mean == weak_mean:
        raise ValueError("weak and strong means are equal: PGR is undefined")
    thresholds = quantile_edges(s, num_bins)
    fractions, qualities = [], []
    for i, t in enumerate(thresholds):
        strong_mask = s > t if i == len(thresholds) - 1 else s >= t
        fractions.append(float(strong_mask.mean()))
        qualities.append(float(np.where(strong_mask, g, w).mean()))
    order = np.argsort(np.asarray(fractions), kind="stable")
    x = np.asarray(fractions)[order]
    q = np.asarray(qualities)[order]
    pgr = (q - weak_mean) / (strong_mean - weak_mean)
    area = float(np.sum((x[1:] - x[:-1]) * (pgr[1:] + pgr[:-1]) / 2.0))  # trapezoids
    return RoutingCurve(thresholds=thresholds[order], strong_fraction=x, quality=q, pgr=pgr,
                        weak_mean=weak_mean, strong_mean=strong_mean, apgr=area)


def quantile_edges(scores: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """The ``num_bins + 1`` linear-interpolation quantiles at k / num_bins, k = 0..num_bins.

    Position ``k (n - 1) / num_bins`` in the sorted scores, split exactly into an integer
    index and a fraction (``np.quantile`` rounds 0.7 * 10 to 7.000000000000001).
    """
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    n = len(ordered)
    edges = []
    for k in range(num_bins + 1):
        lo, rem = divmod(k * (n - 1), num_bins)
        hi = min(lo + 1, n - 1)
        edges.append(ordered[lo] + (ordered[hi] - ordered[lo]) * rem / num_bins if rem else ordered[lo])
    return np.asarray(edges)


def apgr(scores: Sequence[float] | np.ndarray, weak: Sequence[float] | np.ndarray,
         strong: Sequence[float] | np.ndarray) -> float:
    """Shorthand for ``routing_curve(...).apgr``."""
    return routing_curve(scores, weak, strong).apgr


def random_router(n: int, seed: int = 0) -> np.ndarray:
    """Baseline: i.i.d. uniform scores in [0, 1) from a seeded generator."""
    return np.random.default_rng(seed).random(n)


def prompt_length_router(prompts: Sequence[str]) -> np.ndarray:
    """Baseline: the prompt's length in characters (longer = route strong). Only ranks matter."""
    return np.array([len(p) for p in prompts], dtype=np.float64)


def oracle_router(weak: Sequence[float] | np.ndarray, strong: Sequence[float] | np.ndarray) -> np.ndarray:
    """Upper reference: the true gain ``strong - weak`` (needs the outcomes, so never deployable)."""
    return np.asarray(strong, dtype=np.float64) - np.asarray(weak, dtype=np.float64)


def mean_random_summary(weak: Sequence[float] | np.ndarray, strong: Sequence[float] | np.ndarray,
                        *, seeds: int = 100) -> dict[str, float]:
    """The random baseline's APGR / CPT50 / CPT80 averaged over ``seeds`` seeds (0..seeds-1).

    One random draw on a few hundred rows is noisy (±0.03 APGR); the mean is its expectation.
    """
    n = len(weak)
    rows = [routing_curve(random_router(n, seed), weak, strong).summary() for seed in range(seeds)]
    return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}
