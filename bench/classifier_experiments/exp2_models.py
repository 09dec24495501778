"""Experiment 2: training target, class weighting, model type, on static-64 focus + features.

Run: ``.venv/bin/python -m bench.classifier_experiments.exp2_models [filter]``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from .common import datasets, evaluate, fmt, labels
from .exp1_views import bow, feats, load
from .models import Fit, logreg, soft_logreg


def soft_target(rows) -> np.ndarray:  # noqa: ANN001
    return np.array([(1.0 + r.strong_score - r.weak_score) / 2.0 for r in rows])


def hgb() -> Callable[[], Fit]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    def make() -> Fit:
        def fit(X: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
            m = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05, max_leaf_nodes=8,
                                               min_samples_leaf=40, l2_regularization=1.0,
                                               class_weight="balanced", random_state=0).fit(X, y)
            return lambda Xn: m.predict_proba(Xn)[:, 1]
        return fit
    return make


def knn(k: int = 25) -> Callable[[], Fit]:
    def make() -> Fit:
        def fit(X: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
            def predict(Xn: np.ndarray) -> np.ndarray:
                sims = Xn @ X.T
                idx = np.argpartition(-sims, k, axis=1)[:, :k]
                return y[idx].mean(1)
            return predict
        return fit
    return make


def main(argv: list[str]) -> None:
    only = argv[0] if argv else ""
    data = datasets()
    F = feats(data)
    E = load("static_static64_focus")
    X = {n: np.hstack([E[n], F[n]]) for n in E}
    sc = slice(64, None)
    y = labels(data["train"])
    runs = {
        "LR balanced, C by CV (baseline of exp2)": (
            lambda: evaluate(logreg(scale_cols=sc, X_choose=X["train"], y_choose=y), X, data)),
        "LR unbalanced, C by CV": (
            lambda: evaluate(logreg(scale_cols=sc, balanced=False, X_choose=X["train"], y_choose=y), X, data)),
        "LR soft target (1+gain)/2, C=0.3": (lambda: evaluate(soft_logreg(C=0.3, scale_cols=sc), X, data,
                                                               target=soft_target)),
        "LR soft target, C=0.03": (lambda: evaluate(soft_logreg(C=0.03, scale_cols=sc), X, data,
                                                     target=soft_target)),
        "features only LR": (
            lambda: evaluate(logreg(scale_cols=slice(0, None), X_choose=F["train"], y_choose=y), F, data)),
        "features only HGB": (lambda: evaluate(hgb(), F, data)),
        "emb+features HGB": (lambda: evaluate(hgb(), X, data)),
        "kNN-25 static64 focus": (lambda: evaluate(knn(25), E, data)),
        "hashed BoW + LR": (lambda: evaluate(logreg(C=1.0), bow(data), data)),
    }
    for name, run in runs.items():
        if only and only not in name:
            continue
        print(f"{name:42s} {fmt(run())}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
