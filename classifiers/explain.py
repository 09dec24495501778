"""Why a prompt got its score: the linear model's logit split into its parts, largest first.

The shipped classifier is a logistic regression, so its logit is a sum: the intercept, the
embedding block (``embedding · coef``; one part: its dimensions mean nothing one by one), each
named text feature (``coef × z-scored value``) and each hashed word n-gram present in the text
(``coef / sqrt(number of n-gram ids)``, the model's L2-normalised presence vector; n-grams that
share a bucket share its weight and are shown together). ``sigmoid(sum of parts)`` is the score
the proxy computes (:meth:`Explanation.score`); a positive part pushes toward a stronger tier.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from .features import FEATURE_NAMES, feature_matrix, focus_text
from .ngrams import tokens


@dataclass(frozen=True)
class Part:
    what: str
    logit: float


@dataclass(frozen=True)
class Explanation:
    parts: tuple[Part, ...]  # largest |logit| first, the intercept last

    @property
    def logit(self) -> float:
        return sum(p.logit for p in self.parts)

    @property
    def score(self) -> float:
        return 1.0 / (1.0 + math.exp(-self.logit))

    def top(self, n: int) -> list[Part]:
        return [p for p in self.parts if p.what != "intercept"][:n]


def explain(classifier: Any, text: str) -> Explanation:
    """The parts of ``classifier``'s logit for ``text`` (an ``EmbeddingLogRegClassifier``)."""
    model = classifier.model
    view = focus_text(text) if model.view == "focus" else text
    dim = int(model.embedding.get("dim", 0))
    parts: list[Part] = []
    if model.embedding_weight != 0.0:
        folded = getattr(classifier, "folded", None)  # the served arithmetic, where the classifier has it
        if folded is not None:
            parts.append(Part("meaning (embedding block)", folded.embedding_term(view)))
        else:
            emb = classifier.embedder.encode([view])[0].astype(np.float64)
            parts.append(Part("meaning (embedding block)", float(emb @ model.coef[:dim])))
    if model.uses_text_features:
        raw = feature_matrix([text])[0]
        z = (raw - model.feature_mean) / model.feature_scale
        parts += [Part(f"feature {name} = {value:g}", float(c * zi))
                  for name, value, zi, c in zip(FEATURE_NAMES, raw, z, model.coef[dim:], strict=True)]
    if model.ngrams is not None:
        parts += _ngram_parts(model, view)
    parts.sort(key=lambda p: -abs(p.logit))
    return Explanation((*parts, Part("intercept", float(model.intercept))))


def _ngram_parts(model: Any, view: str) -> list[Part]:
    spec = model.ngrams
    toks = tokens(view, spec.max_tokens)
    by_id: dict[int, list[str]] = {}
    for n in spec.orders:
        for i in range(len(toks) - n + 1):
            gram = " ".join(toks[i:i + n])
            names = by_id.setdefault(zlib.crc32(gram.encode()) % spec.buckets, [])
            if gram not in names:
                names.append(gram)
    weights = dict(zip(model.ngram_ids.tolist(), model.ngram_coef.tolist(), strict=True))
    norm = 1.0 / math.sqrt(len(by_id)) if by_id else 0.0
    return [Part("n-gram " + " | ".join(repr(g) for g in grams), weights[i] * norm)
            for i, grams in by_id.items() if i in weights]
