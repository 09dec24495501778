"""K-fold cross-validated scores: every row scored by a model that never saw it.

Folds are stratified by label and seeded. ``fit(rows)`` trains on the other folds and must
return a ``Classifier``; each held-out row is scored once. This is how a user trains on their
own traffic and still gets an honest estimate (``tierroute eval --cv K``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..base import Classifier
from .data import PairRow


def _score(model: Classifier, prompts: list[str]) -> np.ndarray:
    return model.score(prompts)


def cross_val_scores(rows: Sequence[PairRow], fit: Callable[[Sequence[PairRow]], Classifier], *,
                     folds: int = 5, seed: int = 0,
                     score: Callable[[Classifier, list[str]], np.ndarray] = _score) -> np.ndarray:
    """Out-of-fold scores for ``rows`` (``score(model, prompts)`` scores held-out prompts)."""
    scores = np.empty(len(rows), dtype=np.float64)
    for train_idx, test_idx in fold_indices([int(r.label) for r in rows], folds=folds, seed=seed):
        model = fit([rows[i] for i in train_idx])
        scores[test_idx] = score(model, [rows[i].prompt for i in test_idx])
    return scores


def fold_indices(labels: Sequence[int] | np.ndarray, *, folds: int = 5,
                 seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train indices, held-out indices)`` of stratified, shuffled, seeded folds over ``labels`` (0/1)."""
    from sklearn.model_selection import StratifiedKFold

    if folds < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    y = np.asarray(labels, dtype=np.int64)
    if min(int(y.sum()), int(len(y) - y.sum())) < folds:
        raise ValueError(f"need at least {folds} rows of each label for {folds}-fold cross-validation")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))
