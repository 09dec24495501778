"""Baselines a router must beat, besides random and prompt length (:mod:`classifiers.training.evaluate`).

``BagOfWords``: hashed word and word-bigram counts (2^18 buckets, sublinear tf-idf) and a
class-balanced logistic regression, the "hashed bag-of-words + logistic regression" reference
of ``../shared/data/README.md``. It is a ``Classifier`` once fitted. sklearn is imported when
one is built, never at import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .data import PairRow


class BagOfWords:
    name = "bag-of-words"

    def __init__(self, *, C: float = 1.0, seed: int = 0) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
        from sklearn.linear_model import LogisticRegression

        self._vec = HashingVectorizer(n_features=2**18, ngram_range=(1, 2), alternate_sign=False, norm=None)
        self._tfidf = TfidfTransformer(sublinear_tf=True)
        self._lr = LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=seed)

    def fit(self, texts: Sequence[str], labels: Sequence[int]) -> BagOfWords:
        self._lr.fit(self._tfidf.fit_transform(self._vec.transform(texts)), np.asarray(labels))
        return self

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return self._lr.predict_proba(self._tfidf.transform(self._vec.transform(texts)))[:, 1]

    def describe(self) -> dict[str, Any]:
        return {"kind": "bag-of-words", "buckets": 2**18, "ngrams": [1, 2]}


def fit_bag_of_words(rows: Sequence[PairRow], *, seed: int = 0) -> BagOfWords:
    return BagOfWords(seed=seed).fit([r.prompt for r in rows], [int(r.label) for r in rows])
