"""Experiment 9: train on "the weak model fails" instead of "the strong model is strictly better".

On the routerbench pair view the label needs both: weak wrong *and* GPT-4 right. GPT-4 is right
on most prompts, so most of the label's noise may come from the weak side; predicting weak
failure alone (``weak_score < 0.5``) is a target with more positives. On AlpacaEval
(``strong_score`` is the constant 0.5) the two targets are the same. Scored with the usual
protocol (APGR is always computed against the real outcomes).

Run: ``.venv/bin/python -m bench.classifier_experiments.exp9_weak_fails``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from classifiers.training.data import PairRow

from .common import datasets, evaluate, fmt, labels
from .exp1_views import feats, load
from .models import logreg


def weak_fails(rows: Sequence[PairRow]) -> np.ndarray:
    return np.array([r.weak_score < 0.5 for r in rows], dtype=np.int64)


def main() -> None:
    data = datasets()
    F = feats(data)
    E = load("static_static64_focus")  # gpt35 shares the mixtral prompts
    X = {n: np.hstack([E[n], F[n]]) for n in E}
    sc = slice(E["train"].shape[1], None)
    print("positives (train): label", int(labels(data["train"]).sum()), "weak fails",
          int(weak_fails(data["train"]).sum()), "of", len(data["train"]), flush=True)
    for tname, target in (("label", labels), ("weak_fails", weak_fails)):
        y = target(data["train"])
        res = evaluate(logreg(scale_cols=slice(0, None), X_choose=F["train"], y_choose=y), F, data, target=target)
        print(f"{'features only, ' + tname:40s} {fmt(res)}", flush=True)
        res = evaluate(logreg(scale_cols=sc, X_choose=X["train"], y_choose=y), X, data, target=target)
        print(f"{'static64 focus + features, ' + tname:40s} {fmt(res)}", flush=True)


if __name__ == "__main__":
    main()
