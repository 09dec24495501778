"""Static (distilled) sentence embeddings served with numpy and the ``tokenizers`` package only.

A static embedding model is one vector per vocabulary token. model2vec's ``distill`` makes
one from all-MiniLM-L6-v2 by running every token of its vocabulary through the transformer,
reducing the outputs with PCA and weighting each token by its Zipf-rank (SIF) weight; see
``classifiers/training/distill.py``. Encoding a text (model2vec's own algorithm):

1. Cut the text to ``max_tokens * CHARS_PER_TOKEN`` characters (bounds tokenizer time on huge
   inputs), tokenize it with MiniLM's word-piece tokenizer without special tokens, keep at most
   ``max_tokens`` ids and drop the unknown-token id.
2. Mean of the token vectors (a text with no known token gets the zero vector).
3. L2-normalise (when ``normalize``).

Storage (``static.npz``, loaded with ``allow_pickle=False``): ``vectors`` as int8 with one
float32 ``scales`` entry per token row (row = int8 * scale), plus the tokenizer as
``tokenizer.json``. Nothing here imports torch, transformers or sentence-transformers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from .wordpiece import WordPieceCache

VECTORS_FILE = "static.npz"
TOKENIZER_FILE = "tokenizer.json"
STATIC_CONFIG_FILE = "static.json"
CHARS_PER_TOKEN = 8
DEFAULT_MAX_TOKENS = 512
LOOP_CHARS = 2_000  # batches this short are scored on the event loop (classifiers/batching.py)


@dataclass(frozen=True)
class StaticConfig:
    """What identifies a static embedding: recorded in ``static.json`` and the model file."""

    model_id: str
    dim: int
    normalize: bool = True
    max_tokens: int = DEFAULT_MAX_TOKENS
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "dim": self.dim, "normalize": self.normalize,
                "max_tokens": self.max_tokens, "source": self.source}


def quantize_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row int8 quantisation: ``(q, scales)`` with ``vectors ≈ q * scales[:, None]``."""
    v = np.asarray(vectors, dtype=np.float32)
    scales = np.abs(v).max(axis=1) / 127.0
    scales = np.where(scales == 0.0, 1.0, scales).astype(np.float32)
    q = np.clip(np.rint(v / scales[:, None]), -127, 127).astype(np.int8)
    return q, scales


class StaticEmbedder:
    """``Embedder`` over a token-vector table; see the module docstring for the algorithm."""

    def __init__(self, tokenizer: Any, vectors: np.ndarray, config: StaticConfig) -> None:
        """``tokenizer`` is a ``tokenizers.Tokenizer``; ``vectors`` float32, one row per token id."""
        if vectors.ndim != 2 or vectors.shape[1] != config.dim:
            raise ValueError(f"vectors have shape {vectors.shape}; config says dim {config.dim}")
        if tokenizer.get_vocab_size() > vectors.shape[0]:
            raise ValueError(f"tokenizer has {tokenizer.get_vocab_size()} tokens, table only {vectors.shape[0]} rows")
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._tokenizer = tokenizer
        self._words = WordPieceCache.of(tokenizer)  # ASCII text skips encode() (classifiers/wordpiece.py)
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.config = config
        self.model_id = config.model_id
        self.dim = config.dim
        self.loop_chars = LOOP_CHARS
        unk = tokenizer.token_to_id("[UNK]")
        self._unk = -1 if unk is None else int(unk)

    @classmethod
    def load(cls, directory: str | Path) -> StaticEmbedder:
        """Read ``static.json``, ``static.npz`` and ``tokenizer.json`` from ``directory``."""
        from tokenizers import Tokenizer

        d = Path(directory)
        config = StaticConfig(**orjson.loads((d / STATIC_CONFIG_FILE).read_bytes()))
        with np.load(d / VECTORS_FILE, allow_pickle=False) as npz:
            q, scales = npz["vectors"], npz["scales"]
        if q.dtype != np.int8 or scales.shape != (q.shape[0],):
            raise ValueError(f"{d / VECTORS_FILE}: expected int8 vectors and one scale per row")
        vectors = q.astype(np.float32) * scales[:, None]
        return cls(Tokenizer.from_file(str(d / TOKENIZER_FILE)), vectors, config)

    def save(self, directory: str | Path) -> list[Path]:
        """Write the three files (vectors int8-quantised); returns their paths."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        q, scales = quantize_rows(self._vectors)
        paths = [d / VECTORS_FILE, d / TOKENIZER_FILE, d / STATIC_CONFIG_FILE]
        np.savez_compressed(paths[0], vectors=q, scales=scales)
        self._tokenizer.save(str(paths[1]))
        paths[2].write_bytes(orjson.dumps(self.config.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
        return paths

    @property
    def vectors(self) -> np.ndarray:
        """The token-vector table, float32, one row per token id (read-only by convention)."""
        return self._vectors

    def token_id_list(self, text: str) -> list[int]:
        """Step 1 of the algorithm for one text, as a list (what :mod:`classifiers.folded` sums)."""
        limit = self.config.max_tokens
        cut = text[: limit * CHARS_PER_TOKEN]
        ids = self._words.ids(cut) if self._words is not None else None
        if ids is None:
            ids = self._tokenizer.encode(cut, add_special_tokens=False).ids
        ids = ids[:limit]
        return [i for i in ids if i != self._unk] if self._unk in ids else ids

    def token_ids(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Step 1 of the algorithm: the kept token ids of each text."""
        limit = self.config.max_tokens
        cut = [t[: limit * CHARS_PER_TOKEN] for t in texts]
        lists: list[list[int] | None] = [self._words.ids(t) for t in cut] if self._words is not None \
            else [None] * len(cut)
        rest = [i for i, ids in enumerate(lists) if ids is None]
        if rest:
            encodings = self._tokenizer.encode_batch([cut[i] for i in rest], add_special_tokens=False)
            for i, enc in zip(rest, encodings, strict=True):
                lists[i] = enc.ids
        out = []
        for ids_list in lists:
            assert ids_list is not None
            ids = np.asarray(ids_list[:limit], dtype=np.int64)
            out.append(ids[ids != self._unk])
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        for i, ids in enumerate(self.token_ids(texts)):
            if len(ids):
                out[i] = self._vectors[ids].mean(axis=0)
        if self.config.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.where(norms == 0.0, 1.0, norms)
        return out

    def describe(self) -> dict[str, Any]:
        return {"kind": "static", **self.config.to_json()}

    def bounds(self) -> dict[str, Any]:
        """What it remembers across texts, against its cap (the word → ids cache)."""
        return {"word_pieces": self._words.describe()} if self._words is not None else {}
