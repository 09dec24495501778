"""Routing over N tiers, evaluated on per-prompt outcomes of several models (plain numpy).

Setting: k tier models ordered cheapest → strongest; per prompt i a router score ``s_i`` and,
for each tier model j, its quality ``q[i, j]`` (0/1 correctness on RouterBench; any number
works) and its real cost ``c[i, j]`` in USD.

1. **Assignment.** Cut points ``t_1 <= … <= t_{k-1}`` send prompt i to tier
   ``j = #{t : t <= s_i}``: tier j gets ``t_j <= s < t_{j+1}``, exactly the proxy's
   ``routing.auto`` ``below`` bounds (:func:`assign_tiers`).
2. **Evaluation.** quality = mean of ``q[i, a_i]``; per-prompt cost ``c[i, a_i]``; total cost
   their sum; cost per 1k prompts = 1000 × mean; share_j = fraction of prompts in tier j.
3. **Cuts for target shares** (:func:`cuts_for_shares`), calibrated on one split's scores and
   applied unchanged to another (never tuned on the evaluated rows). Cut j should leave
   ``P_j = p_1 + … + p_j`` of the calibration scores below it. Candidates are the minimum
   score (nothing below it), the midpoints between consecutive distinct sorted scores (scores
   closer than ``TIE_TOL`` = 1e-6 count as tied) and +inf; going left to right, each cut takes
   the unused candidate whose fraction-below is closest to ``P_j`` while leaving enough
   candidates for the cuts after it. Finite cuts are therefore strictly increasing even with
   tied scores; a block of tied scores cannot be split and goes wholly to one side.
   ``P_j = 0`` gives -inf and ``P_j = 1`` gives +inf (empty tiers).
4. **References** on the same rows: every single model (always that model); the per-prompt
   oracle (the cheapest model among those with the prompt's best quality, i.e. the cheapest
   correct model, else the cheapest), over the tier models or over all models; the random
   router with the router's realised shares, as its exact expectation
   ``sum_j p_j · mean(q[:, j])`` (and likewise for cost).
5. **Cost-quality curves**, cuts always calibrated on the calibration split:
   - aggressiveness β (:func:`tilted_shares`): ``p_j(β) ∝ p_j · exp(β j)``. β = 0 is the
     configured shares, β → -inf everything cheapest, β → +inf everything strongest. The
     tilt makes every cumulative share ``P_j`` fall as β rises, so one knob moves all cuts down.
   - grid frontier (:func:`share_grid`, :func:`pareto_mask`): every share vector on a grid,
     kept when Pareto-optimal (no other is both cheaper and better) on the calibration split,
     then reported on the evaluation split.
6. **Frontier summary** (:func:`cost_to_reach`): for a target of X % of the best single
   model's quality, the lowest cost per 1k prompts at which a curve reaches it, read off the
   evaluation curve as RouteLLM reads CPT. Any random mixture of a curve's policies is itself
   a policy, so the curve is read through its lower convex envelope (cheapest mixture of two
   points). The same reading of the tier models alone (a random router with the best shares
   for that target) is the baseline the router must beat; the cheapest single model that
   reaches the target and the oracle are shown next to it.

Rows where the score or any used quality or cost is null (NaN) are skipped.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ArrayLike = Sequence[float] | np.ndarray
TIE_TOL = 1e-6


@dataclass(frozen=True)
class Point:
    """One routing policy's result on a set of prompts."""

    label: str
    quality: float
    mean_cost: float
    total_cost: float
    n: int
    shares: tuple[float, ...] = ()

    @property
    def cost_per_1k(self) -> float:
        return 1000.0 * self.mean_cost

    def to_json(self) -> dict[str, object]:
        return {"label": self.label, "quality": self.quality, "cost_per_1k": self.cost_per_1k,
                "total_cost": self.total_cost, "n": self.n, "shares": list(self.shares)}


@dataclass(frozen=True)
class Routed:
    """A :class:`Point` with its per-prompt detail over the kept rows (``kept`` masks the input)."""

    point: Point
    assignment: np.ndarray
    cost: np.ndarray
    kept: np.ndarray


@dataclass(frozen=True)
class CurvePoint:
    """One share vector of a sweep: its cuts (from the calibration split) and its results."""

    target_shares: tuple[float, ...]
    cuts: np.ndarray
    result: Point
    random: Point

    def to_json(self) -> dict[str, object]:
        return {"target_shares": list(self.target_shares), "cuts": [json_number(c) for c in self.cuts],
                "router": self.result.to_json(), "random": self.random.to_json()}


def json_number(v: float) -> float | str:
    """``v`` as a float, or "inf" / "-inf" (JSON has no infinities; an infinite cut = an empty tier)."""
    return float(v) if np.isfinite(v) else ("inf" if v > 0 else "-inf")


def finite_rows(*arrays: ArrayLike) -> np.ndarray:
    """Mask of the rows (first axis) where every value of every array is finite."""
    masks = [np.isfinite(np.asarray(a, dtype=np.float64)) for a in arrays]
    return np.logical_and.reduce([m if m.ndim == 1 else m.all(axis=1) for m in masks])


def _table(quality: ArrayLike, cost: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    q, c = np.asarray(quality, dtype=np.float64), np.asarray(cost, dtype=np.float64)
    if q.ndim != 2 or q.shape != c.shape:
        raise ValueError(f"quality and cost must be (rows, models) of one shape, got {q.shape} and {c.shape}")
    return q, c


def assign_tiers(scores: ArrayLike, cuts: ArrayLike) -> np.ndarray:
    """Tier index per score: the number of cuts ``<=`` the score (cuts must not decrease)."""
    t = np.asarray(cuts, dtype=np.float64)
    if np.any(t[1:] < t[:-1]):
        raise ValueError(f"cut points must not decrease, got {t.tolist()}")
    return np.searchsorted(t, np.asarray(scores, dtype=np.float64), side="right")


def evaluate_assignment(assignment: ArrayLike, quality: ArrayLike, cost: ArrayLike,
                        label: str = "router") -> Routed:
    """Quality, costs and shares of sending row i to column ``assignment[i]``; NaN rows skipped."""
    q, c = _table(quality, cost)
    a = np.asarray(assignment)
    if a.shape != (q.shape[0],):
        raise ValueError(f"assignment has shape {a.shape}; expected ({q.shape[0]},)")
    kept = finite_rows(q, c)
    a, q, c = a[kept].astype(np.intp), q[kept], c[kept]
    if len(a) == 0:
        raise ValueError("no rows left to evaluate (every row has a null)")
    rows = np.arange(len(a))
    per_cost = c[rows, a]
    shares = np.bincount(a, minlength=q.shape[1]) / len(a)
    point = Point(label, float(q[rows, a].mean()), float(per_cost.mean()), float(per_cost.sum()), len(a),
                  tuple(float(s) for s in shares))
    return Routed(point, a, per_cost, kept)


def route(scores: ArrayLike, quality: ArrayLike, cost: ArrayLike, cuts: ArrayLike,
          label: str = "router") -> Routed:
    """Assign by ``cuts`` and evaluate; rows with a null score, quality or cost are skipped."""
    s = np.asarray(scores, dtype=np.float64)
    keep = np.isfinite(s)
    a = np.where(keep, assign_tiers(np.where(keep, s, 0.0), cuts), 0)
    q, c = _table(quality, cost)
    return evaluate_assignment(a, np.where(keep[:, None], q, np.nan), c, label)


def check_shares(shares: ArrayLike, k: int) -> np.ndarray:
    """``k`` non-negative shares adding up to 1 (within 1e-6), renormalised exactly."""
    p = np.asarray(shares, dtype=np.float64)
    if p.shape != (k,) or not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"need {k} non-negative shares, got {list(np.atleast_1d(p))}")
    if abs(p.sum() - 1.0) > 1e-6:
        raise ValueError(f"shares must add up to 1, got {p.sum():g}")
    return p / p.sum()


def cuts_for_shares(scores: ArrayLike, shares: ArrayLike, *, tie_tol: float = TIE_TOL) -> np.ndarray:
    """The k-1 cut points giving ``shares`` of ``scores`` to the k tiers (module docstring, 3).

    Sorted scores less than ``tie_tol`` apart count as tied, so that float noise (the same
    prompt embedded in two different batches) cannot split a block of identical prompts.
    """
    raw = np.asarray(scores, dtype=np.float64)
    s = np.sort(raw[np.isfinite(raw)])
    p = check_shares(shares, len(np.atleast_1d(shares)))
    if len(s) == 0:
        raise ValueError("no finite scores to calibrate cut points on")
    starts = np.flatnonzero(np.diff(s) > tie_tol) + 1  # first index of each tied block but the first
    cand = np.concatenate([s[:1], (s[starts - 1] + s[starts]) / 2.0, [np.inf]])
    below = np.concatenate([[0.0], starts / len(s), [1.0]])
    cum = np.cumsum(p)[:-1]
    interior = [i for i, c in enumerate(cum) if 1e-12 < c < 1.0 - 1e-12]
    cuts = np.where(cum <= 1e-12, -np.inf, np.inf)
    lo = 0
    for n_done, i in enumerate(interior):
        room = len(interior) - n_done - 1
        hi = max(lo, len(cand) - 1 - room)
        j = min(lo + int(np.argmin(np.abs(below[lo:hi + 1] - cum[i]))), len(cand) - 1)
        cuts[i] = cand[j]
        lo = min(j + 1, len(cand) - 1)
    return cuts


def single_model_points(quality: ArrayLike, cost: ArrayLike, names: Sequence[str]) -> list[Point]:
    """Always-that-model, for every column (rows with any null skipped)."""
    q, c = _table(quality, cost)
    return [evaluate_assignment(np.full(len(q), j), q, c, name).point for j, name in enumerate(names)]


def oracle_assignment(quality: ArrayLike, cost: ArrayLike) -> np.ndarray:
    """Per row, the cheapest column among those with the row's best quality (NaN rows: 0)."""
    q, c = _table(quality, cost)
    ok = finite_rows(q, c)
    q, c = np.where(ok[:, None], q, 0.0), np.where(ok[:, None], c, 0.0)
    best = q >= q.max(axis=1, keepdims=True)
    return np.argmin(np.where(best, c, np.inf), axis=1)


def oracle(quality: ArrayLike, cost: ArrayLike, label: str = "oracle") -> Routed:
    """The per-prompt oracle (:func:`oracle_assignment`), evaluated."""
    return evaluate_assignment(oracle_assignment(quality, cost), quality, cost, label)


def random_point(quality: ArrayLike, cost: ArrayLike, shares: ArrayLike, label: str = "random") -> Point:
    """Expected result of sending each prompt to column j with probability ``shares[j]``."""
    q, c = _table(quality, cost)
    kept = finite_rows(q, c)
    q, c = q[kept], c[kept]
    p = check_shares(shares, q.shape[1])
    mean_cost = float(c.mean(axis=0) @ p)
    return Point(label, float(q.mean(axis=0) @ p), mean_cost, mean_cost * len(q), len(q), tuple(map(float, p)))


def tilted_shares(base: ArrayLike, beta: float) -> np.ndarray:
    """``base_j · exp(beta j)`` normalised; beta = ±inf puts everything on the top/bottom tier."""
    p = np.asarray(base, dtype=np.float64)
    k = len(p)
    if np.isinf(beta):
        out = np.zeros(k)
        out[k - 1 if beta > 0 else 0] = 1.0
        return out
    with np.errstate(divide="ignore"):
        logw = np.log(p) + beta * np.arange(k)
    w = np.exp(logw - logw.max())
    return w / w.sum()


def share_grid(k: int, step: float) -> np.ndarray:
    """Every k-vector of multiples of ``step`` adding up to 1, shape ``(m, k)``."""
    units = round(1.0 / step)
    if units < 1 or abs(units * step - 1.0) > 1e-9:
        raise ValueError(f"step must divide 1, got {step}")
    rows = [c for c in itertools.product(range(units + 1), repeat=k - 1) if sum(c) <= units]
    return np.array([[*c, units - sum(c)] for c in rows], dtype=np.float64) / units


def pareto_mask(cost: ArrayLike, quality: ArrayLike) -> np.ndarray:
    """True where no other point is at most as costly and at least as good, one strictly.

    Of exact duplicates the first is kept.
    """
    c, q = np.asarray(cost, dtype=np.float64), np.asarray(quality, dtype=np.float64)
    keep = np.ones(len(c), dtype=bool)
    for i in range(len(c)):
        dominated = (c <= c[i]) & (q >= q[i]) & ((c < c[i]) | (q > q[i]))
        duplicate = (c[:i] == c[i]) & (q[:i] == q[i])
        keep[i] = not dominated.any() and not duplicate.any()
    return keep


def sweep(calib_scores: ArrayLike, eval_scores: ArrayLike, eval_quality: ArrayLike, eval_cost: ArrayLike,
          share_vectors: ArrayLike, label: str = "router") -> list[CurvePoint]:
    """For each share vector: cuts from the calibration scores, results on the evaluation rows.

    The random reference uses the shares the router actually realised on the evaluation rows.
    """
    out = []
    for p in np.atleast_2d(np.asarray(share_vectors, dtype=np.float64)):
        cuts = cuts_for_shares(calib_scores, p)
        r = route(eval_scores, eval_quality, eval_cost, cuts, label).point
        q, c = _table(eval_quality, eval_cost)
        rnd = random_point(q, c, r.shares)
        out.append(CurvePoint(tuple(map(float, p)), cuts, r, rnd))
    return out


def frontier_shares(calib_scores: ArrayLike, calib_quality: ArrayLike, calib_cost: ArrayLike,
                    step: float) -> np.ndarray:
    """Grid share vectors that are Pareto-optimal on the calibration split, cheapest first."""
    q, c = _table(calib_quality, calib_cost)
    grid = share_grid(q.shape[1], step)
    pts = [route(calib_scores, q, c, cuts_for_shares(calib_scores, p)).point for p in grid]
    cost, quality = np.array([p.mean_cost for p in pts]), np.array([p.quality for p in pts])
    keep = np.flatnonzero(pareto_mask(cost, quality))
    return grid[keep[np.argsort(cost[keep], kind="stable")]]


def cost_to_reach(cost: ArrayLike, quality: ArrayLike, target: float) -> float:
    """Cheapest expected cost of a random mixture of the given policies reaching ``target``.

    A mixture sends each prompt to policy i with probability w_i, so its quality and cost are
    the w-weighted means. The cheapest one uses at most two policies (a linear programme with
    two constraints): a single policy at or above ``target``, or a pair straddling it, mixed
    so that quality equals ``target``. NaN when no policy reaches it.
    """
    c, q = np.asarray(cost, dtype=np.float64), np.asarray(quality, dtype=np.float64)
    hi, lo = q >= target, q < target
    if not hi.any():
        return float("nan")
    best = float(c[hi].min())
    if lo.any():
        w = (target - q[lo][:, None]) / (q[hi][None, :] - q[lo][:, None])
        best = min(best, float((c[lo][:, None] + w * (c[hi][None, :] - c[lo][:, None])).min()))
    return best


def cheapest_reaching(points: Sequence[Point], target: float) -> Point | None:
    """The cheapest of ``points`` with quality >= ``target``, or None."""
    ok = [p for p in points if p.quality >= target]
    return min(ok, key=lambda p: p.mean_cost) if ok else None
