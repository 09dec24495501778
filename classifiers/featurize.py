"""Prompt → features, the same in the proxy and in training: what the label store keeps of a prompt.

:class:`Featurizer`: ``Featurizer.load(model_dir=None)`` reads the static embedding of a model
directory (numpy + ``tokenizers``; no torch, no scikit-learn). ``features(texts)`` gives one
compact JSON-able dict per text (:mod:`classifiers.feature_arrays`): the 14 text features, the
rounded static embedding of the focus view, and hashed word n-gram ids (:mod:`classifiers.ngrams`).
Never the text. The proxy's learning service (:mod:`router.learning.service`) featurizes every
labelled prompt with it; :mod:`classifiers.training.recipe` fits models on these features, and a
loaded classifier scores them (``score_features``), so a model can be evaluated on labels whose
text was not kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .feature_arrays import FeatureArrays
from .features import feature_matrix, focus_text
from .logreg import default_model_dir
from .ngrams import NgramSpec, flatten, ngram_ids
from .static import StaticEmbedder
from .text import ChatTextMode

SPEC_VERSION = "tierroute.features/1"
CHAT_MODE: ChatTextMode = "last_user"
VIEW = "focus"


class Featurizer:
    """Prompt → features of one fixed spec (the static embedding of a model directory + n-grams)."""

    def __init__(self, embedder: StaticEmbedder, ngrams: NgramSpec | None = None) -> None:
        self.embedder = embedder
        self.ngrams = ngrams or NgramSpec()

    @classmethod
    def load(cls, model_dir: str | Path | None = None) -> Featurizer:
        """The static embedding of ``model_dir`` (None: the shipped default) and the default n-grams."""
        return cls(StaticEmbedder.load(default_model_dir() if model_dir is None else model_dir))

    @property
    def dim(self) -> int:
        return self.embedder.dim

    @property
    def spec(self) -> str:
        """Names the feature set: features of equal specs are interchangeable."""
        ng = self.ngrams
        orders = "".join(str(n) for n in ng.orders)
        return (f"{SPEC_VERSION};tf14;view={VIEW};static={self.embedder.model_id}/{self.dim};"
                f"ng={ng.hash}/{ng.buckets}/o{orders}/t{ng.max_tokens}")

    def arrays(self, texts: Sequence[str]) -> FeatureArrays:
        """The features as arrays (what :meth:`features` serialises)."""
        views = [focus_text(t) for t in texts]
        emb = self.embedder.encode(views) if texts else np.zeros((0, self.dim), dtype=np.float32)
        ids, offsets = flatten([ngram_ids(v, self.ngrams) for v in views])
        return FeatureArrays(feature_matrix(texts), emb, ids, offsets)

    def features(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """One compact JSON-able dict per text (``tf``, ``emb``, ``ng``; never the text)."""
        return self.arrays(texts).to_dicts()
