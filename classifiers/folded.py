"""One text's score under a static-embedding logistic regression, its linear steps folded into tables.

The model (:class:`classifiers.logreg.LogRegModel` over :class:`classifiers.static.StaticEmbedder`)
gives a text the logit::

    z = b + c_e · e(view) + c_f · (f(text) - mu) / sigma + sum(w[g] for g in G(view)) / sqrt(|G|)

with ``e`` the static embedding (the mean of the kept token vectors, L2-normalised), ``f`` the
text features, ``G`` the distinct n-gram buckets and ``p = sigmoid(z)``. The batch path builds
arrays for every term; for one text most of that is numpy's per-call overhead on arrays of a few
dozen numbers. Algorithm (:meth:`FoldedLogReg.score`):

1. Embedding term. With ``s`` the sum of the kept token rows (``n`` of them), the mean is
   ``s / n`` and its normalised form ``s / |s|``, so ``c_e · e = (c_e · s) / |s|`` (``/ n``
   without normalisation; 0 for a text with no known token): one gather-and-sum of the rows,
   accumulated in float64, and two dot products of ``dim`` numbers.
2. Text features. ``c_f · (f - mu) / sigma = sum(f_i * k_i) - sum(mu_i * k_i)`` with
   ``k = c_f / sigma``, both computed once; ``f`` stays a tuple of Python floats.
3. n-grams. The weights sit in a Python list indexed by bucket; the sum runs over the set of
   buckets (no sorting, no array).
4. ``p = sigmoid(z)`` with ``math.exp``, written so neither branch overflows.

Equal to the batch path within float rounding: the batch path averages the token rows in
float32, this sums them in float64 (``tests/classifiers/test_folded.py``: |Δp| < 1e-6 on the
shared prompts and generated text).
"""

from __future__ import annotations

import math
import operator
from typing import TYPE_CHECKING

import numpy as np

from .features import focus_text, text_feature_values
from .static import StaticEmbedder

if TYPE_CHECKING:  # logreg builds this class for its classifier
    from .logreg import LogRegModel


class FoldedLogReg:
    """``score(text) -> float``: the model's probability for one text (module docstring)."""

    def __init__(self, embedder: StaticEmbedder, model: LogRegModel) -> None:
        d = embedder.dim
        self._embedder = embedder
        self._model = model
        self._focus = model.view == "focus"
        self._rows = embedder.vectors
        self._normalize = embedder.config.normalize
        self._use_embedding = model.embedding_weight != 0.0  # the fit left it out: the batch path embeds zeros
        self._c_e = np.ascontiguousarray(model.coef[:d], dtype=np.float64)
        self._b = float(model.intercept)
        self._k: tuple[float, ...] = ()
        if model.uses_text_features:
            assert model.feature_mean is not None and model.feature_scale is not None
            k = model.coef[d:] / model.feature_scale
            self._k = tuple(float(v) for v in k)
            self._b -= float(model.feature_mean @ k)
        self._ngram_weights: list[float] | None = None
        if model.ngrams is not None:
            assert model.ngram_ids is not None and model.ngram_coef is not None
            weights = [0.0] * model.ngrams.buckets
            for i, w in zip(model.ngram_ids.tolist(), model.ngram_coef.tolist(), strict=True):
                weights[i] = w
            self._ngram_weights = weights

    def score(self, text: str) -> float:
        view = focus_text(text) if self._focus else text
        z = self._b
        if self._use_embedding:
            z += self.embedding_term(view)
        if self._k:
            z += sum(map(operator.mul, text_feature_values(text, view if self._focus else None), self._k))
        if self._ngram_weights is not None:
            buckets = self._model.ngram_buckets(view)
            if buckets:
                z += sum(map(self._ngram_weights.__getitem__, buckets)) / math.sqrt(len(buckets))
        if z >= 0.0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    def embedding_term(self, view: str) -> float:
        """Step 1 of the module docstring: ``c_e · e(view)``."""
        ids = self._embedder.token_id_list(view)
        if not ids:
            return 0.0
        s = np.add.reduce(self._rows.take(ids, 0), 0, np.float64)  # the ufunc itself: no Python wrapper
        dot = float(s.dot(self._c_e))
        if not self._normalize:
            return dot / len(ids)
        norm = math.sqrt(float(s.dot(s)))
        return dot / norm if norm > 0.0 else 0.0
