"""Model factories for the experiments: ``make() -> fit(X, y) -> predict(X) -> scores``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
Fit = Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]


def choose_c(X: np.ndarray, y: np.ndarray, *, balanced: bool, grid: tuple[float, ...] = C_GRID,
             metric: str = "auc") -> float:
    """C with the best mean inner 5-fold CV ROC AUC (ties: smaller C)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    best, best_s = grid[0], -1.0
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    for c in grid:
        s = []
        for fi, vi in folds:
            lr = LogisticRegression(C=c, class_weight="balanced" if balanced else None, max_iter=3000).fit(X[fi], y[fi])
            s.append(roc_auc_score(y[vi], lr.decision_function(X[vi])))
        if np.mean(s) > best_s:
            best, best_s = c, float(np.mean(s))
    return best


def logreg(*, C: float | None = None, balanced: bool = True, scale_cols: slice | None = None,
           X_choose: np.ndarray | None = None, y_choose: np.ndarray | None = None) -> Callable[[], Fit]:
    """Balanced L2 logistic regression; ``scale_cols`` are z-scored with the fit rows' mean/sd.

    ``C=None`` with ``X_choose``/``y_choose``: C is chosen once by :func:`choose_c` on those rows
    (the routerbench train split) and then fixed for every fold and file (cheaper than nested CV;
    the shipped recipe does choose C inside each fit).
    """
    from sklearn.linear_model import LogisticRegression

    if C is None and X_choose is not None and y_choose is not None:
        Z = X_choose
        if scale_cols is not None:
            Z = X_choose.copy()
            Z[:, scale_cols] = (Z[:, scale_cols] - Z[:, scale_cols].mean(0)) / (Z[:, scale_cols].std(0) + 1e-9)
        C = choose_c(Z, y_choose, balanced=balanced)
        print(f"  (C={C})", end=" ", flush=True)

    def make() -> Fit:
        def fit(X: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
            if scale_cols is None:
                c = choose_c(X, y, balanced=balanced) if C is None else C
                lr0 = LogisticRegression(C=c, class_weight="balanced" if balanced else None,
                                         max_iter=3000).fit(X, y)
                return lr0.decision_function
            mu = np.zeros(X.shape[1])
            sd = np.ones(X.shape[1])
            mu[scale_cols] = X[:, scale_cols].mean(0)
            sd[scale_cols] = X[:, scale_cols].std(0) + 1e-9
            Z = (X - mu) / sd
            c = choose_c(Z, y, balanced=balanced) if C is None else C
            lr = LogisticRegression(C=c, class_weight="balanced" if balanced else None, max_iter=3000).fit(Z, y)
            return lambda Xn: lr.decision_function((Xn - mu) / sd)
        return fit
    return make


def soft_logreg(*, C: float = 0.3, scale_cols: slice | None = None) -> Callable[[], Fit]:
    """Logistic regression on the soft target ``p = (1 + strong - weak) / 2``: each row appears as
    a positive with weight ``p`` and a negative with weight ``1 - p`` (cross-entropy on soft labels)."""
    from sklearn.linear_model import LogisticRegression

    def make() -> Fit:
        def fit(X: np.ndarray, p: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
            mu = np.zeros(X.shape[1])
            sd = np.ones(X.shape[1])
            if scale_cols is not None:
                mu[scale_cols] = X[:, scale_cols].mean(0)
                sd[scale_cols] = X[:, scale_cols].std(0) + 1e-9
            Z = (X - mu) / sd
            XX = np.vstack([Z, Z])
            yy = np.r_[np.ones(len(Z)), np.zeros(len(Z))]
            ww = np.r_[p, 1 - p]
            keep = ww > 0
            lr = LogisticRegression(C=C, max_iter=3000).fit(XX[keep], yy[keep], sample_weight=ww[keep])
            return lambda Xn: lr.decision_function((Xn - mu) / sd)
        return fit
    return make
