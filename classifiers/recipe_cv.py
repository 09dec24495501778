"""Out-of-fold scores of the recipe (:mod:`classifiers.recipe`): what ``tierroute eval --cv K`` reports.

Each prompt is featurized once (as the proxy would read it sent as a one-message chat); for
each of K stratified folds (:func:`classifiers.crossval.fold_indices`, stratified by the pair
label) :func:`classifiers.recipe.fit` trains on the other folds' targets and scores the
held-out rows. Every row is scored by a model that never saw it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .crossval import fold_indices
from .recipe import CHAT_MODE, Featurizer, Penalties, fit
from .text import text_for_chat


def recipe_cv_scores(prompts: Sequence[str], targets: np.ndarray, strata: Sequence[int] | np.ndarray, *,
                     folds: int = 5, seed: int = 0, featurizer: Featurizer | None = None,
                     penalties: Penalties | None = None) -> np.ndarray:
    """One out-of-fold score per prompt (module docstring)."""
    feat = featurizer or Featurizer.load()
    fa = feat.arrays([text_for_chat([{"role": "user", "content": p}], CHAT_MODE) for p in prompts])
    t = np.asarray(targets, dtype=np.float64)
    scores = np.empty(len(t), dtype=np.float64)
    for train_idx, test_idx in fold_indices(strata, folds=folds, seed=seed):
        model = fit(fa.take(train_idx), t[train_idx], seed=seed, penalties=penalties, featurizer=feat)
        scores[test_idx] = model.score_arrays(fa.take(test_idx))
    return scores
