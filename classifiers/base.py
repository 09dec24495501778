"""The classifier contract: one synchronous method that scores a batch of texts.

A score is the probability that a prompt needs a stronger tier than the cheapest one: a float
in [0, 1], higher meaning "route up". The policy maps score ranges to tiers. Scoring is
CPU-bound and synchronous; :class:`classifiers.batching.MicroBatcher` is the async front the
proxy uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Classifier(Protocol):
    """Scores prompts; ``name`` and ``describe()`` say what the scores mean."""

    name: str

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """One float in [0, 1] per text, shape ``(len(texts),)``; blocks the calling thread."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-able metadata: embedding model id, what it was trained on, text selection."""
        ...


def check_scores(scores: np.ndarray, n: int) -> np.ndarray:
    """Return ``scores`` as a float64 vector of length ``n`` in [0, 1], or raise ``ValueError``.

    Callers that fan a batch out to many waiters use this so a faulty classifier fails loudly
    instead of handing out misaligned or out-of-range scores.
    """
    out = np.asarray(scores, dtype=np.float64)
    if out.shape != (n,):
        raise ValueError(f"classifier returned shape {out.shape} for {n} texts; expected ({n},)")
    if not np.all(np.isfinite(out)) or np.any(out < 0.0) or np.any(out > 1.0):
        raise ValueError("classifier returned scores outside [0, 1] or non-finite")
    return out
