"""Read pair-schema JSONL (see ../shared/data/README.md): one prompt, a weak and a strong score.

Each line is a JSON object with at least ``id``, ``prompt``, ``weak_score`` and
``strong_score``; ``split``, ``task`` and ``contaminated`` are optional. Rows with a null (or
non-numeric) score are skipped, as the README asks; rows marked ``contaminated: true`` are
dropped unless ``keep_contaminated`` is set. The training label is ``strong_score >
weak_score``: the strong model did strictly better on this prompt.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class PairRow:
    id: str
    prompt: str
    weak_score: float
    strong_score: float
    split: str | None = None
    task: str | None = None
    contaminated: bool = False

    @property
    def label(self) -> bool:
        """True when the strong model did strictly better than the weak one."""
        return self.strong_score > self.weak_score


def load_pairs(path: str | Path, split: str | None = None, keep_contaminated: bool = False) -> list[PairRow]:
    """Rows of ``path`` in file order, filtered to ``split`` when given (None: every row).

    Raises ``ValueError`` naming the line for a line that is not a JSON object or lacks a
    string ``prompt``.
    """
    rows: list[PairRow] = []
    with Path(path).open("rb") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            row = _parse(line, path, lineno)
            if row is None:
                continue
            if split is not None and row.split != split:
                continue
            if row.contaminated and not keep_contaminated:
                continue
            rows.append(row)
    return rows


def read_objects(path: str | Path, ok: Callable[[dict[str, Any]], bool], need: str) -> list[dict[str, Any]]:
    """Every JSON object line of ``path`` (blank lines skipped); ``ValueError`` names a line that is not
    valid JSON or fails ``ok`` (``need`` says what was expected)."""
    objs: list[dict[str, Any]] = []
    with Path(path).open("rb") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not valid JSON: {e}") from None
            if not (isinstance(obj, dict) and ok(obj)):
                raise ValueError(f"{path}:{lineno}: need {need}")
            objs.append(obj)
    return objs


def number_or_nan(value: Any) -> float:
    """A finite number as float; NaN for null, missing, non-numeric or non-finite."""
    out = _score(value)
    return math.nan if out is None else out


def _parse(line: bytes, path: str | Path, lineno: int) -> PairRow | None:
    try:
        obj: Any = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise ValueError(f"{path}:{lineno}: not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}:{lineno}: expected a JSON object")
    prompt = obj.get("prompt")
    if not isinstance(prompt, str):
        raise ValueError(f"{path}:{lineno}: `prompt` must be a string")
    weak, strong = _score(obj.get("weak_score")), _score(obj.get("strong_score"))
    if weak is None or strong is None:
        return None
    split, task = obj.get("split"), obj.get("task")
    return PairRow(id=str(obj.get("id", lineno)), prompt=prompt, weak_score=weak, strong_score=strong,
                   split=split if isinstance(split, str) else None,
                   task=task if isinstance(task, str) else None,
                   contaminated=obj.get("contaminated") is True)


def _score(value: Any) -> float | None:
    """A finite float (booleans count as 0/1), or None for null / missing / non-numeric / NaN."""
    if not isinstance(value, (int, float)):
        return None
    out = float(value)
    return out if math.isfinite(out) else None
