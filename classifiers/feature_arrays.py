"""A batch of recipe features as arrays, and its JSON form (one compact dict per prompt).

One prompt's features (:meth:`FeatureArrays.to_dicts`, what the label store keeps instead of
the text)::

    {"tf": [14 floats, 4 decimals], "emb": [dim floats, 3 decimals], "ng": [sorted bucket ids]}

``tf`` are the raw :data:`classifiers.features.FEATURE_NAMES` values (not standardised), ``emb``
the static embedding of the focus view, ``ng`` the hashed n-gram ids (:mod:`classifiers.ngrams`).
A dict may lack ``emb`` (an embedding-free feature set): it reads as zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .features import FEATURE_NAMES
from .ngrams import flatten

TF_DECIMALS = 4
EMB_DECIMALS = 3


@dataclass(frozen=True)
class FeatureArrays:
    """``tf`` (n, 14) float64, ``emb`` (n, dim) float32, n-gram ids flat with row ``offsets``."""

    tf: np.ndarray
    emb: np.ndarray
    ng_ids: np.ndarray
    ng_offsets: np.ndarray

    def __post_init__(self) -> None:
        n = self.tf.shape[0]
        if self.tf.shape != (n, len(FEATURE_NAMES)) or self.emb.shape[0] != n or self.ng_offsets.shape != (n + 1,):
            raise ValueError(f"inconsistent feature arrays: tf {self.tf.shape}, emb {self.emb.shape}, "
                             f"offsets {self.ng_offsets.shape}")

    def __len__(self) -> int:
        return int(self.tf.shape[0])

    @property
    def dim(self) -> int:
        return int(self.emb.shape[1])

    def ng_lists(self) -> list[list[int]]:
        o = self.ng_offsets
        return [self.ng_ids[o[i]:o[i + 1]].tolist() for i in range(len(self))]

    def take(self, idx: Sequence[int] | np.ndarray) -> FeatureArrays:
        """The rows ``idx``, in that order."""
        rows = np.asarray(idx, dtype=np.int64)
        lists = self.ng_lists()
        ids, offsets = flatten([lists[i] for i in rows])
        return FeatureArrays(self.tf[rows], self.emb[rows], ids, offsets)

    def to_dicts(self) -> list[dict[str, Any]]:
        tf = np.round(self.tf, TF_DECIMALS).tolist()
        emb = np.round(self.emb.astype(np.float64), EMB_DECIMALS).tolist()
        return [{"tf": tf[i], "emb": emb[i], "ng": ng} for i, ng in enumerate(self.ng_lists())]

    @classmethod
    def from_dicts(cls, features: Sequence[dict[str, Any]], dim: int) -> FeatureArrays:
        """Parse feature dicts (raises ``ValueError`` naming the row of a malformed one)."""
        n = len(features)
        tf = np.zeros((n, len(FEATURE_NAMES)), dtype=np.float64)
        emb = np.zeros((n, dim), dtype=np.float32)
        lists: list[list[int]] = []
        for i, f in enumerate(features):
            try:
                tf[i] = f["tf"]
                if f.get("emb") is not None:
                    emb[i] = f["emb"]
                ng = [int(x) for x in f.get("ng") or ()]
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"features row {i}: {e!r}") from None
            lists.append(ng)
        ids, offsets = flatten(lists)
        return cls(tf, emb, ids, offsets)

    @classmethod
    def concat(cls, parts: Sequence[FeatureArrays]) -> FeatureArrays:
        if not parts:
            raise ValueError("nothing to concatenate")
        ids, offsets = flatten([lst for p in parts for lst in p.ng_lists()])
        return cls(np.vstack([p.tf for p in parts]), np.vstack([p.emb for p in parts]), ids, offsets)


def as_arrays(features: FeatureArrays | Sequence[dict[str, Any]], dim: int) -> FeatureArrays:
    """``features`` as :class:`FeatureArrays` (dicts are parsed)."""
    return features if isinstance(features, FeatureArrays) else FeatureArrays.from_dicts(features, dim)
