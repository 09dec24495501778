"""What ``tierroute eval`` reads: pair files as they are, multi-model files as a chosen pair view.

A multi-model file (``{"prompt", "split", "scores": {model: 0..1}}``, ``../shared/data/multimodel``)
becomes pair rows with ``--weak MODEL --strong MODEL`` (exact names, or the part after the last
``/`` when unique); rows where either model has no score are skipped. Its full score matrix is
kept for the ``difficulty`` target.

Targets for ``--cv`` (what each fold trains on, in [0, 1]):

- ``pair``: 1 if ``strong_score > weak_score`` else 0 (the label of docs/learning.md);
- ``difficulty``: on a multi-model file, the share of the file's models failing the prompt
  (1 - mean score, :func:`classifiers.training.targets.difficulty`); on a pair file, where only two
  models are known, 1 - the mean of the two scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from .corpus import read_multi
from .data import PairRow, load_pairs
from .targets import difficulty

CV_TARGETS = ("pair", "difficulty")


@dataclass(frozen=True)
class EvalRows:
    rows: list[PairRow]
    scores: np.ndarray | None  # (rows, models) of a multi-model file, else None
    models: tuple[str, ...] = ()


def is_multi_model(path: str | Path) -> bool:
    """True when the file's first non-blank line has a ``scores`` object and no ``weak_score``."""
    with Path(path).open("rb") as f:
        for line in f:
            if line.strip():
                obj = orjson.loads(line)
                return isinstance(obj, dict) and isinstance(obj.get("scores"), dict) and "weak_score" not in obj
    return False


def load_eval_rows(path: str | Path, *, split: str | None = None, keep_contaminated: bool = False,
                   weak: str | None = None, strong: str | None = None) -> EvalRows:
    """Pair rows of ``path`` (a pair file, or a multi-model file viewed as ``weak`` vs ``strong``)."""
    if not is_multi_model(path):
        if weak or strong:
            raise ValueError(f"{path} is a pair file: --weak/--strong apply to multi-model files only")
        return EvalRows(load_pairs(path, split=split, keep_contaminated=keep_contaminated), None)
    from .tiers_cli import resolve_models

    if not (weak and strong):
        raise ValueError(f"{path} holds many models' scores: name the pair with --weak MODEL --strong MODEL")
    multi = read_multi(path)
    w_name, s_name = resolve_models([weak, strong], multi.models)
    wi, si = multi.models.index(w_name), multi.models.index(s_name)
    keep = np.isfinite(multi.scores[:, wi]) & np.isfinite(multi.scores[:, si])
    if split is not None:
        keep &= np.array([s == split for s in multi.splits])
    idx = np.flatnonzero(keep)
    rows = [PairRow(id=multi.ids[i], prompt=multi.prompts[i], weak_score=float(multi.scores[i, wi]),
                    strong_score=float(multi.scores[i, si]), split=multi.splits[i] or None) for i in idx]
    return EvalRows(rows, multi.scores[idx], multi.models)


def cv_targets(data: EvalRows, target: str) -> np.ndarray:
    """The ``--cv`` training target of each row (module docstring)."""
    if target == "pair":
        return np.array([float(r.label) for r in data.rows])
    if target == "difficulty":
        if data.scores is not None:
            return difficulty(data.scores, "mean")
        return np.array([1.0 - (r.weak_score + r.strong_score) / 2.0 for r in data.rows]).clip(0.0, 1.0)
    raise ValueError(f"unknown target {target!r}; expected one of {CV_TARGETS}")
