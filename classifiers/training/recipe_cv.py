"""Out-of-fold scores of the recipe (:mod:`classifiers.training.recipe`): what ``tierroute eval --cv K`` reports.

Each prompt is featurized once (as the proxy would read it sent as a one-message chat); for
each of K stratified folds (:func:`classifiers.training.crossval.fold_indices`, stratified by the pair
label) a model made from the other folds' targets scores the held-out rows, so every row is
scored by a model that never saw it. Which model:

- without a prior, :func:`classifiers.training.recipe.fit` on the labels alone;
- with a prior (a model of the recipe's features), what ``tierroute learn`` would make of those
  labels starting from it (:mod:`classifiers.training.adapt`): the recipe is chosen by inner
  cross-validation over the fold's training rows, as the learner chooses over its training labels
  (below ``classifiers.training.learn.MIN_FOR_CHOICE`` rows the learner's default), then made from all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..featurize import CHAT_MODE, Featurizer
from ..text import text_for_chat
from .crossval import fold_indices
from .progress import progress
from .recipe import Penalties, fit


def recipe_cv_scores(prompts: Sequence[str], targets: np.ndarray, strata: Sequence[int] | np.ndarray, *,
                     folds: int = 5, seed: int = 0, featurizer: Featurizer | None = None,
                     penalties: Penalties | None = None, prior: Any = None,
                     chosen: list[str] | None = None) -> np.ndarray:
    """One out-of-fold score per prompt (module docstring); ``chosen`` collects each fold's recipe."""
    feat = featurizer or Featurizer.load()
    fa = feat.arrays([text_for_chat([{"role": "user", "content": p}], CHAT_MODE) for p in prompts])
    t = np.asarray(targets, dtype=np.float64)
    scores = np.empty(len(t), dtype=np.float64)
    for train_idx, test_idx in progress(fold_indices(strata, folds=folds, seed=seed), desc="cv folds", total=folds):
        if prior is None:
            model = fit(fa.take(train_idx), t[train_idx], seed=seed, penalties=penalties, featurizer=feat)
        else:
            model = _learned(prior, feat, fa, t, train_idx, seed, chosen)
        scores[test_idx] = model.score_arrays(fa.take(test_idx))
    return scores


def _learned(prior: Any, feat: Featurizer, fa: Any, t: np.ndarray, train_idx: np.ndarray, seed: int,
             chosen: list[str] | None) -> Any:
    from .adapt import Trainer
    from .learn import MIN_FOR_CHOICE

    trainer = Trainer(feat, prior=prior, seed=seed)
    recipe = trainer.default()
    if len(train_idx) >= MIN_FOR_CHOICE:
        recipe, _ = trainer.choose(fa, t, train_idx)
    if chosen is not None:
        chosen.append(str(recipe))
    return trainer.make(recipe, fa.take(train_idx), t[train_idx])
