"""Hashed word n-grams with a stable hash (``zlib.crc32``), the same in every process.

Algorithm (:func:`ngram_ids`):

1. Lower-case the text and split it into tokens: runs of word characters (``\\w+``) and single
   other non-space characters (``?``, ``{``, ``$``: code and maths show up as symbols).
2. Keep the first ``max_tokens`` tokens (bounds the cost of a huge prompt).
3. For each order n in ``orders``, each run of n consecutive tokens joined with one space is
   hashed: ``crc32(utf-8 bytes) % buckets``.
4. Return the distinct bucket ids, sorted (presence, not counts).

A model weighs each present bucket by ``1 / sqrt(number of ids)`` (the row's L2-normalised
binary vector), see :func:`row_values`. Python's ``hash()`` is salted per process and would
give other ids in every proxy, so it is never used.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_TOKEN = re.compile(r"\w+|[^\w\s]")
HEAD_CHARS_PER_TOKEN = 16
DEFAULT_MAX_ENTRIES = 50_000  # per order: ~14 MB for both when full (random words, tracemalloc)


@dataclass(frozen=True)
class NgramSpec:
    """What defines the ids: recorded in feature specs and model files."""

    buckets: int = 2**18
    orders: tuple[int, ...] = (1, 2)
    max_tokens: int = 512
    hash: str = "crc32"

    def to_json(self) -> dict[str, Any]:
        return {"buckets": self.buckets, "orders": list(self.orders), "max_tokens": self.max_tokens,
                "hash": self.hash}

    @classmethod
    def from_json(cls, obj: Any) -> NgramSpec:
        if not isinstance(obj, dict) or obj.get("hash") != "crc32":
            raise ValueError("n-gram spec must use hash 'crc32'")
        buckets, orders, max_tokens = obj.get("buckets"), obj.get("orders"), obj.get("max_tokens")
        if not (isinstance(buckets, int) and buckets > 0 and isinstance(max_tokens, int) and max_tokens > 0):
            raise ValueError("n-gram spec needs positive integer buckets and max_tokens")
        if not (isinstance(orders, list) and orders and all(isinstance(n, int) and n > 0 for n in orders)):
            raise ValueError("n-gram spec needs a list of positive integer orders")
        return cls(buckets=buckets, orders=tuple(orders), max_tokens=max_tokens)


def tokens(text: str, max_tokens: int) -> list[str]:
    """Steps 1-2 of the module docstring."""
    head = text[: max_tokens * HEAD_CHARS_PER_TOKEN]
    if head.isascii():  # ASCII lower-casing is per character, so the head's tokens are the text's
        toks = _TOKEN.findall(head.lower())
        if len(head) == len(text) or len(toks) > max_tokens:  # more than needed: the cut one is not kept
            return toks[:max_tokens]
    out: list[str] = []
    for m in _TOKEN.finditer(text.lower()):
        out.append(m.group())
        if len(out) >= max_tokens:
            break
    return out


class NgramHasher:
    """:func:`ngram_ids` under one spec, remembering the bucket of each token and token pair.

    The ids are a pure function of the n-gram's text, so a remembered bucket is the one
    ``crc32`` would give; at most ``max_entries`` of each order are kept (then new ones are
    hashed and not kept). Orders above 2 are always hashed.
    """

    def __init__(self, spec: NgramSpec, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.spec = spec
        self.max_entries = max_entries
        self._unigrams: dict[str, int] = {}
        self._bigrams: dict[tuple[str, str], int] = {}

    def describe(self) -> dict[str, int]:
        """Its size against its cap (``/admin/stats`` → ``bounds.classifier``)."""
        return {"unigrams": len(self._unigrams), "bigrams": len(self._bigrams), "max_entries": self.max_entries}

    def ids(self, text: str) -> list[int]:
        """The sorted distinct bucket ids of ``text`` (module docstring)."""
        return sorted(self.bucket_set(text))

    def bucket_set(self, text: str) -> set[int]:
        """The distinct bucket ids of ``text``, unsorted."""
        spec, crc, keep = self.spec, zlib.crc32, self.max_entries
        toks, b = tokens(text, spec.max_tokens), spec.buckets
        ids: set[int] = set()
        for n in spec.orders:
            if n == 1:
                uni = self._unigrams
                for tok in toks:
                    v = uni.get(tok)
                    if v is None:
                        v = crc(tok.encode()) % b
                        if len(uni) < keep:
                            uni[tok] = v
                    ids.add(v)
            elif n == 2:
                bi = self._bigrams
                for pair in zip(toks, toks[1:], strict=False):
                    v = bi.get(pair)
                    if v is None:
                        v = crc(" ".join(pair).encode()) % b
                        if len(bi) < keep:
                            bi[pair] = v
                    ids.add(v)
            else:
                ids.update(crc(" ".join(toks[i:i + n]).encode()) % b for i in range(len(toks) - n + 1))
        return ids


def ngram_ids(text: str, spec: NgramSpec) -> list[int]:
    """The sorted distinct bucket ids of ``text`` (module docstring); nothing remembered."""
    return NgramHasher(spec, max_entries=0).ids(text)


def row_values(offsets: np.ndarray) -> np.ndarray:
    """Per id of a flat id list with row ``offsets``: ``1 / sqrt(ids in its row)``."""
    counts = np.diff(offsets)
    return np.repeat(1.0 / np.sqrt(np.maximum(counts, 1)), counts)


def row_sums(table: np.ndarray, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per row, the sum of ``table[id] * row value`` over its ids (0 for a row with none)."""
    n = len(offsets) - 1
    if len(ids) == 0:
        return np.zeros(n, dtype=np.float64)
    contrib = table[ids] * row_values(offsets)
    row = np.repeat(np.arange(n), np.diff(offsets))
    return np.bincount(row, weights=contrib, minlength=n)


def flatten(id_lists: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """``(flat ids int64, offsets int64 of length rows + 1)`` of per-row id lists."""
    offsets = np.zeros(len(id_lists) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(x) for x in id_lists])
    flat = np.fromiter((i for x in id_lists for i in x), dtype=np.int64, count=int(offsets[-1]))
    return flat, offsets
