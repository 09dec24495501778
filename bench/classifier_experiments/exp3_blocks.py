"""Experiment 3: how strongly to regularise the embedding block against the text features.

The text features are z-scored (variance 1 each); a 64-dim unit-norm embedding has variance
~1/64 per dimension, so one L2 penalty shrinks the two blocks very differently. Multiplying
the embedding by ``alpha`` before the fit is the same as dividing its penalty by ``alpha**2``.
Run: ``.venv/bin/python -m bench.classifier_experiments.exp3_blocks``.
"""

from __future__ import annotations

import sys

import numpy as np

from .common import datasets, evaluate, fmt, labels
from .exp1_views import feats, load
from .models import logreg


def main(argv: list[str]) -> None:
    data = datasets()
    F = feats(data)
    key = argv[0] if argv else "static_static64_focus"
    E = load(key)
    for alpha in (0.25, 0.5, 2.0, 4.0):
        X = {n: np.hstack([alpha * E[n], F[n]]) for n in E}
        sc = slice(E["train"].shape[1], None)
        res = evaluate(logreg(scale_cols=sc, X_choose=X["train"], y_choose=labels(data["train"])), X, data)
        print(f"{key} x{alpha:<5} + features   {fmt(res)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
