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
    out: list[str] = []
    for m in _TOKEN.finditer(text.lower()):
        out.append(m.group())
        if len(out) >= max_tokens:
            break
    return out


def ngram_ids(text: str, spec: NgramSpec) -> list[int]:
    """The sorted distinct bucket ids of ``text`` (module docstring)."""
    toks = tokens(text, spec.max_tokens)
    ids: set[int] = set()
    crc, b = zlib.crc32, spec.buckets
    for n in spec.orders:
        for i in range(len(toks) - n + 1):
            ids.add(crc(" ".join(toks[i:i + n]).encode()) % b)
    return sorted(ids)


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
