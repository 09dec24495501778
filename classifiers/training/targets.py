"""Prompt difficulty from many models' outcomes on it, within one file (numpy only).

``scores`` is a (prompts, models) matrix of outcomes in [0, 1], NaN where a model has none.
Scores of different files are not on one scale (0/1 accuracy, share of samples correct, judge
scores), so each target is computed inside one file:

- ``mean``: 1 - the prompt's mean score over the models that answered it (the share failing,
  for 0/1 outcomes).
- ``rank``: the ``mean`` difficulty's rank within the file, mapped to (0, 1) (ties share the
  mean rank): every file spreads its prompts evenly from easy to hard.
- ``irt``: a one-parameter (Rasch) fit ``P(model m solves prompt i) = sigmoid(a_m - b_i)``
  by Newton steps on the soft cross-entropy with a small L2 penalty on ``b``; target
  ``sigmoid(b_i - mean(a))``: how likely a typical model of the file fails the prompt. With
  every model answering every prompt the order equals ``mean``'s; the scale stretches the
  extremes (logit-like).
"""

from __future__ import annotations

import numpy as np

TARGETS = ("mean", "rank", "irt")


def difficulty(scores: np.ndarray, kind: str = "mean") -> np.ndarray:
    """One difficulty in [0, 1] per row (rows with no score at all get 0.5)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"scores must be (prompts, models), got shape {s.shape}")
    if kind == "mean":
        return mean_difficulty(s)
    if kind == "rank":
        return rank01(mean_difficulty(s))
    if kind == "irt":
        return rasch_difficulty(s)
    raise ValueError(f"unknown target {kind!r}; expected one of {TARGETS}")


def mean_difficulty(s: np.ndarray) -> np.ndarray:
    seen = np.isfinite(s)
    n = seen.sum(axis=1)
    total = np.where(seen, s, 0.0).sum(axis=1)
    return np.where(n > 0, 1.0 - total / np.maximum(n, 1), 0.5)


def rank01(x: np.ndarray) -> np.ndarray:
    """Average ranks of ``x`` scaled to ``(rank - 0.5) / n``."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(len(x), dtype=np.float64)
    sorted_x = x[order]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + b - 1) / 2.0
    return (ranks + 0.5) / max(len(x), 1)


def rasch_difficulty(s: np.ndarray, *, l2: float = 0.1, iters: int = 50) -> np.ndarray:
    """The ``irt`` target of the module docstring (alternating one-dimensional Newton steps)."""
    seen = np.isfinite(s)
    y = np.where(seen, s, 0.0)
    m = seen.astype(np.float64)
    a = np.zeros(s.shape[1])
    b = np.zeros(s.shape[0])
    for _ in range(iters):
        p = _sigmoid(a[None, :] - b[:, None])
        # prompts: d loss / d b_i = sum_m (y - p) + l2 b, curvature sum_m p (1 - p) + l2
        gb = ((y - p) * m).sum(axis=1) + l2 * b
        hb = (p * (1 - p) * m).sum(axis=1) + l2
        b -= gb / hb
        p = _sigmoid(a[None, :] - b[:, None])
        ga = ((p - y) * m).sum(axis=0)
        ha = (p * (1 - p) * m).sum(axis=0) + 1e-6
        a -= ga / ha
    out = _sigmoid(b - a.mean())
    return np.where(seen.any(axis=1), out, 0.5)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))
