"""Small stand-ins for tests: classifiers from a function or a constant, and a cheap embedder.

None of these load a model. ``FunctionClassifier`` can record every batch it was given (sizes
and texts) and sleep in its thread, so batching and event-loop tests can observe behaviour.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class FunctionClassifier:
    """Scores each text with ``fn``; records batches; optionally sleeps ``delay_s`` per batch.

    ``fn`` may raise: the exception propagates out of :meth:`score`, as a real model's would.
    """

    def __init__(self, fn: Callable[[str], float], *, delay_s: float = 0.0, name: str = "function") -> None:
        self.name = name
        self._fn = fn
        self._delay_s = delay_s
        self._lock = threading.Lock()
        self.batches: list[list[str]] = []
        self.threads: list[str] = []

    @property
    def batch_sizes(self) -> list[int]:
        with self._lock:
            return [len(b) for b in self.batches]

    def score(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            self.batches.append(list(texts))
            self.threads.append(threading.current_thread().name)
        if self._delay_s:
            time.sleep(self._delay_s)
        return np.array([float(self._fn(t)) for t in texts], dtype=np.float64)

    def describe(self) -> dict[str, Any]:
        return {"kind": "fake", "fn": getattr(self._fn, "__name__", repr(self._fn))}


class ConstantClassifier(FunctionClassifier):
    """Every text scores ``value``."""

    def __init__(self, value: float, *, delay_s: float = 0.0) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"a score must be in [0, 1], got {value}")
        super().__init__(lambda _text: value, delay_s=delay_s, name="constant")
        self.value = value

    def describe(self) -> dict[str, Any]:
        return {"kind": "fake", "constant": self.value}


class HashEmbedder:
    """A deterministic hashed bag-of-words embedder (L2-normalised), for tests without MiniLM.

    Each lower-cased word token adds +1 or -1 (from its hash) to one of ``dim`` buckets.
    """

    def __init__(self, dim: int = 64, *, model_id: str = "fake/hash-bow") -> None:
        self.model_id = model_id
        self.dim = dim
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0.0, 1.0, norms)

    def describe(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "dim": self.dim}
