"""Issue 9: does choosing the recipe's penalties / length prior per fold lift ``tierroute eval --cv 5``?

    .venv/bin/python bench/classifier_experiments/issue9_cv_select.py PAIRS.jsonl [...]

For each of 5 stratified folds, each configuration below is scored by an inner 3-fold CV on the
training part (APGR), the best one is refitted there and scores the held-out fold. Prints, per
file, the out-of-fold APGR of every fixed configuration and of the per-fold choice. Result
(docs/classifier.md, issue 9, "What did not help"): it does not reach the baselines.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from classifiers.featurize import CHAT_MODE, Featurizer
from classifiers.text import text_for_chat
from classifiers.training.crossval import fold_indices
from classifiers.training.data import load_pairs
from classifiers.training.evaluate import routing_curve
from classifiers.training.recipe import Penalties, fit

CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "pen0.3": {"penalties": Penalties(tf=3e-4, emb=1e-3, ng=1e-4)},
    "pen10": {"penalties": Penalties(tf=1e-2, emb=3e-2, ng=3e-3)},
    "pen100": {"penalties": Penalties(tf=1e-1, emb=3e-1, ng=3e-2)},
    "noprior": {"length_prior": 0.0},
}


def main(paths: list[str]) -> None:
    featurizer = Featurizer.load()
    for path in paths:
        rows = load_pairs(path)
        weak = np.array([r.weak_score for r in rows])
        strong = np.array([r.strong_score for r in rows])
        y = np.array([float(r.label) for r in rows])
        fa = featurizer.arrays([text_for_chat([{"role": "user", "content": r.prompt}], CHAT_MODE) for r in rows])
        out = {k: np.empty(len(rows)) for k in CONFIGS}
        chosen_scores = np.empty(len(rows))
        chosen: list[str] = []
        for tr, te in fold_indices(y.astype(int), folds=5, seed=0):
            inner = {k: np.empty(len(tr)) for k in CONFIGS}
            for itr, ite in fold_indices(y[tr].astype(int), folds=3, seed=1):
                for k, kw in CONFIGS.items():
                    model = fit(fa.take(tr[itr]), y[tr[itr]], featurizer=featurizer, **kw)
                    inner[k][ite] = model.score_arrays(fa.take(tr[ite]))
            best = max(CONFIGS, key=lambda k: routing_curve(inner[k], weak[tr], strong[tr]).apgr)
            chosen.append(best)
            for k, kw in CONFIGS.items():
                out[k][te] = fit(fa.take(tr), y[tr], featurizer=featurizer, **kw).score_arrays(fa.take(te))
            chosen_scores[te] = out[best][te]
        fixed = {k: round(routing_curve(v, weak, strong).apgr, 4) for k, v in out.items()}
        print(path.rsplit("/", 1)[-1], fixed, "per-fold choice",
              round(routing_curve(chosen_scores, weak, strong).apgr, 4), chosen, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
