"""Fit the embedding (+ text features) logistic regression that :mod:`classifiers.logreg` serves.

:func:`fit_logreg` is the class-balanced L2 logistic regression of scikit-learn on embeddings
(and optionally standardised text features); :func:`choose_c` picks C and the embedding block's
weight by cross-validated ROC AUC. The result is a :class:`classifiers.logreg.LogRegModel`, which
loads and scores with numpy alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..logreg import FEATURE_SETS, LogRegModel

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
EMBEDDING_WEIGHTS = (1.0, 0.0)


def fit_logreg(X: np.ndarray, y: np.ndarray, *, embedding: dict[str, Any], C: float | None = None, seed: int = 0,
               text_features: np.ndarray | None = None, embedding_weight: float | None = 1.0,
               **kwargs: Any) -> LogRegModel:
    """Fit balanced L2 logistic regression on the embeddings ``X`` (+ text features).

    ``text_features`` (one row per text, :data:`classifiers.features.FEATURE_NAMES` columns), when given, are
    z-scored with their mean and sd over these rows and appended. ``embedding_weight``
    multiplies the embedding block during the fit (its L2 penalty is divided by the
    square; 0 leaves the embedding out); the saved coefficients are rescaled so scoring
    needs no factor. ``C=None`` picks C from ``C_GRID``, and ``embedding_weight=None`` the
    weight from ``EMBEDDING_WEIGHTS`` (only with text features), by :func:`choose_c`.
    """
    from sklearn.linear_model import LogisticRegression

    dim = X.shape[1]
    mean = scale = None
    T = None
    if text_features is not None:
        mean = text_features.mean(axis=0)
        scale = np.where(text_features.std(axis=0) > 1e-9, text_features.std(axis=0), 1.0)
        T = (text_features - mean) / scale
    weights = (EMBEDDING_WEIGHTS if T is not None else (1.0,)) if embedding_weight is None else (embedding_weight,)
    cs = C_GRID if C is None else (C,)
    if len(weights) * len(cs) > 1:
        weight, c = choose_c(X, y, seed=seed, text_features=T, weights=weights, grid=cs)
    else:
        weight, c = weights[0], cs[0]
    Xw = _design(X, T, weight)
    lr = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(Xw, y)
    features = list(FEATURE_SETS[1] if text_features is not None else FEATURE_SETS[0])
    coef = lr.coef_[0].astype(np.float64)
    coef[:dim] = coef[:dim] * weight if weight else 0.0
    kwargs.setdefault("training", {})
    return LogRegModel(coef=coef, intercept=float(lr.intercept_[0]), embedding=dict(embedding), C=c,
                       features=features, feature_mean=mean, feature_scale=scale, embedding_weight=weight, **kwargs)


def _design(X: np.ndarray, T: np.ndarray | None, weight: float) -> np.ndarray:
    """The fit's design matrix: the weighted embeddings, then the standardised text features."""
    Xw = X * weight
    return Xw if T is None else np.hstack([Xw, T])


def choose_c(X: np.ndarray, y: np.ndarray, *, seed: int = 0, folds: int = 5, text_features: np.ndarray | None = None,
             weights: Sequence[float] = (1.0,), grid: Sequence[float] = C_GRID) -> tuple[float, float]:
    """``(embedding weight, C)`` with the best mean ROC AUC over stratified ``folds``-fold CV.

    AUC (ranking quality of the labels) is a smooth stand-in for APGR, which on a few hundred
    rows per fold is too noisy to choose a hyper-parameter with. Ties go to the earlier pair
    (weights and C in the given order: the smaller C first).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(X, y))
    best, best_auc = (weights[0], grid[0]), -1.0
    for w in weights:
        Xw = _design(X, text_features, w)
        for c in grid:
            aucs = []
            for fit_idx, val_idx in splits:
                lr = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(Xw[fit_idx], y[fit_idx])
                aucs.append(roc_auc_score(y[val_idx], lr.decision_function(Xw[val_idx])))
            if float(np.mean(aucs)) > best_auc:
                best, best_auc = (w, c), float(np.mean(aucs))
    return best
