"""Progress bars for the long offline commands (train, eval, calibrate, the benchmarks).

:func:`progress` wraps an iterable in a tqdm bar on stderr when stderr is a terminal (tqdm's
``disable=None``), so logs, pipes and tests see nothing; without tqdm installed it is the iterable
itself. :func:`in_chunks` runs a batch function over chunks of a list with a bar, so one call over
thousands of prompts shows its progress. Never used on the serving path.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def progress(items: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    if importlib.util.find_spec("tqdm") is None:
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, desc=desc, total=total, unit=unit, disable=None, leave=False, dynamic_ncols=True)


def in_chunks(fn: Callable[[Sequence[Any]], np.ndarray], items: Sequence[Any], *, desc: str,
              size: int = 512) -> np.ndarray:
    """``fn(items)``, computed ``size`` items at a time behind a progress bar (rows concatenated)."""
    if len(items) <= size:
        return fn(items)
    starts = range(0, len(items), size)
    parts = [fn(items[i:i + size]) for i in progress(starts, desc=desc, total=len(starts), unit="batch")]
    return np.concatenate(parts, axis=0)
