"""Experiment 6: the candidates for the shipped recipe, re-run with the final text features.

Run: ``.venv/bin/python -m bench.classifier_experiments.exp6_final``.
"""

from __future__ import annotations

import numpy as np

from .common import datasets, evaluate, fmt, labels
from .exp1_views import feats, load
from .models import logreg


def main() -> None:
    data = datasets()
    F = feats(data)
    y = labels(data["train"])
    res = evaluate(logreg(scale_cols=slice(0, None), X_choose=F["train"], y_choose=y), F, data)
    print(f"{'features only':34s} {fmt(res)}", flush=True)
    for key in ("static_static64_focus", "minilm_focus"):
        E = load(key)
        X = {n: np.hstack([E[n], F[n]]) for n in E}
        sc = slice(E["train"].shape[1], None)
        res = evaluate(logreg(scale_cols=sc, X_choose=X["train"], y_choose=y), X, data)
        print(f"{key + ' + features':34s} {fmt(res)}", flush=True)


if __name__ == "__main__":
    main()
