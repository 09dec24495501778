"""How a model is made from labels: the recipes :mod:`classifiers.training.learn` chooses between.

A :class:`Recipe` is written ``kind:strength``:

- ``correct:S`` — the start model (the *prior*) corrected by the labels
  (:func:`classifiers.training.recipe.fit_correction`): a fit of the hashed word n-grams with the prior's
  logit as a fixed offset and L2 penalties ``S`` times :data:`CORRECT_NGRAMS`, so the model
  stays at the prior until labels move it. Needs no training data, only the prior.
- ``correct-all:S`` — the same over every block (text features, embedding, n-grams;
  :data:`CORRECT_ALL`). Measured: n-grams alone suit topic-driven labels, the text features
  help where length and format matter (docs/classifier.md, issue 9, "Learning from labels").
- ``refit:W`` — the shipped recipe (:func:`classifiers.training.recipe.fit`) on the base set (the shipped
  default's training rows, from a data directory) plus the labels, each weighted ``W``.
- ``labels`` — the recipe on the labels alone.

:meth:`Trainer.choose` picks the candidate whose models rank the labels best out of fold (APGR
on labels, :func:`label_apgr`, inner cross-validation): the learner over its training labels,
``tierroute eval --cv`` over each fold's training rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..feature_arrays import FeatureArrays
from ..featurize import Featurizer
from .evaluate import routing_curve
from .recipe import Penalties

KINDS = ("correct", "correct-all", "refit", "labels")
CORRECT_NGRAMS = Penalties(tf=None, emb=None, ng=3e-4)
CORRECT_ALL = Penalties()
CORRECTION_SCALES = (0.3, 1.0, 3.0)  # correct
CORRECTION_ALL_SCALES = (1.0,)  # correct-all
CHOICE_FOLDS = 3
LABEL_WEIGHTS = (3.0, 10.0)  # refit (each candidate refits the whole shipped set)
DEFAULT_CORRECTION = 3.0
DEFAULT_LABEL_WEIGHT = 3.0


@dataclass(frozen=True)
class Recipe:
    kind: str
    strength: float = 1.0

    def __str__(self) -> str:
        return self.kind if self.kind == "labels" else f"{self.kind}:{self.strength:g}"

    @classmethod
    def parse(cls, text: str) -> Recipe:
        """``correct:3``, ``correct-all:1``, ``refit:3`` or ``labels``; ``ValueError`` names what is wrong."""
        kind, _, strength = text.partition(":")
        if kind not in KINDS:
            raise ValueError(f"unknown recipe {text!r}: expected correct:SCALE, correct-all:SCALE, refit:WEIGHT "
                             f"or labels")
        if kind == "labels":
            return cls(kind)
        try:
            value = float(strength)
        except ValueError:
            value = float("nan")
        if not value > 0:
            raise ValueError(f"recipe {text!r}: {kind} needs a positive number after ':'")
        return cls(kind, value)


def label_apgr(scores: np.ndarray, targets: np.ndarray) -> float:
    """APGR of ``scores`` on labels: quality 1 - target on the cheap side, 1 on the strong side."""
    weak = 1.0 - targets
    if float(weak.mean()) >= 1.0 - 1e-12:
        return float("nan")  # no label needed a stronger tier: nothing to rank
    return float(routing_curve(scores, weak, np.ones_like(targets)).apgr)


def compatible(model: Any, featurizer: Featurizer) -> bool:
    """True when ``model`` (a LogRegModel) reads exactly this featurizer's features (it can be corrected)."""
    return bool(model is not None and model.uses_text_features and model.ngrams == featurizer.ngrams
                and model.embedding.get("model_id") == featurizer.embedder.model_id
                and model.embedding.get("dim") == featurizer.dim)


@dataclass
class Trainer:
    """Makes models from labels by a recipe; ``prior``: the model ``correct`` recipes start from;
    ``base``: the shipped training rows (:func:`classifiers.training.recipe.training_set`) for ``refit``."""

    featurizer: Featurizer
    prior: Any = None
    base: Any = None
    seed: int = 0

    def candidates(self) -> list[Recipe]:
        out: list[Recipe] = []
        if self.prior is not None:
            out += [Recipe("correct", s) for s in CORRECTION_SCALES]
            out += [Recipe("correct-all", s) for s in CORRECTION_ALL_SCALES]
        if self.base is not None:
            out += [Recipe("refit", w) for w in LABEL_WEIGHTS]
        return out or [Recipe("labels")]

    def default(self) -> Recipe:
        """Before there are labels enough to choose: correct the prior, else refit, else labels."""
        if self.prior is not None:
            return Recipe("correct", DEFAULT_CORRECTION)
        return Recipe("refit", DEFAULT_LABEL_WEIGHT) if self.base is not None else Recipe("labels")

    def make(self, recipe: Recipe, feats: FeatureArrays, targets: np.ndarray,
             training: dict[str, Any] | None = None) -> Any:
        """The model ``recipe`` makes from these labels (a ``LogRegModel``)."""
        from .recipe import fit, fit_correction, scaled

        info = {"labels": len(targets), "recipe": str(recipe), **(training or {})}
        if recipe.kind in ("correct", "correct-all"):
            if self.prior is None:
                raise ValueError(f"recipe {recipe}: no start model of this featurizer's features to correct")
            pen = scaled(CORRECT_NGRAMS if recipe.kind == "correct" else CORRECT_ALL, recipe.strength)
            return fit_correction(self.prior, feats, targets, penalties=pen, featurizer=self.featurizer,
                                  training=info, seed=self.seed, idf=recipe.kind == "correct")
        weights = np.full(len(targets), recipe.strength if recipe.kind == "refit" else 1.0)
        if recipe.kind == "refit":
            if self.base is None:
                raise ValueError(f"recipe {recipe}: needs the shipped training data (a data directory)")
            feats = FeatureArrays.concat([self.base.arrays, feats])
            targets = np.concatenate([self.base.targets, targets])
            weights = np.concatenate([self.base.weights, weights])
            info["base"] = getattr(self.base, "provenance", None)
        return fit(feats, targets, weights, seed=self.seed, featurizer=self.featurizer, training=info)

    def choose(self, feats: FeatureArrays, targets: np.ndarray, idx: np.ndarray, *, folds: int = CHOICE_FOLDS,
               candidates: Sequence[Recipe] | None = None) -> tuple[Recipe, dict[str, float]]:
        """The candidate whose models rank the ``idx`` labels best out of fold (``folds`` seeded folds,
        the out-of-fold scores pooled into one APGR; ties: the earlier candidate), and every
        candidate's APGR. One held-out slice of a few hundred labels was too noisy to choose on."""
        order = np.random.default_rng(self.seed).permutation(np.asarray(idx))
        parts = np.array_split(order, folds)
        t = targets[order]
        scores: dict[str, float] = {}
        best, best_apgr = self.default(), -np.inf
        for recipe in candidates or self.candidates():
            a = label_apgr(self._out_of_fold(recipe, feats, targets, parts), t)
            scores[str(recipe)] = round(a, 4)
            if np.isfinite(a) and a > best_apgr:
                best, best_apgr = recipe, a
        return best, scores

    def _out_of_fold(self, recipe: Recipe, feats: FeatureArrays, targets: np.ndarray,
                     parts: list[np.ndarray]) -> np.ndarray:
        """Each part scored by ``recipe``'s model made from the other parts, concatenated in order."""
        out = []
        for k, held in enumerate(parts):
            rest = np.concatenate(parts[:k] + parts[k + 1:])
            out.append(self.make(recipe, feats.take(rest), targets[rest]).score_arrays(feats.take(held)))
        return np.concatenate(out)
