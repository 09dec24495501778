"""The shipped default's training set, with features cached on disk by content hash.

:func:`build_training_set`: for every allow-listed file (:mod:`classifiers.training.corpus`) present in
the data directory and not excluded, its ``train`` rows with at least one score; their
features (:class:`classifiers.featurize.Featurizer`), their target (``TARGET``: a difficulty
within the file, :mod:`classifiers.training.targets`; ``pair``: the pair view's label ``strong_score >
weak_score``, only files with a pair view; ``mixed``: the pair label where a pair view has the
row, else the difficulty) and a weight (``WEIGHTING``: ``rows`` = 1 each,
``file`` = every file the same total, ``sqrt`` = a file's total ∝ sqrt(its rows); scaled to
mean 1). Features are the slow part (about a minute for all files on 2 cores); they are cached
under ``cache_dir`` (default ``$TIERROUTE_CACHE`` or ``~/.cache/tierroute``), in
``recipe/<sha256>.npz``, the hash covering the file's bytes, the split and the featurizer's
spec, so a changed file or feature set never reads stale features.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..feature_arrays import FeatureArrays
from .corpus import MultiRows, SourceFile, read_multi, trainable_files
from .data import load_pairs
from .targets import TARGETS, difficulty

if TYPE_CHECKING:
    from ..featurize import Featurizer

TARGET = "pair"
WEIGHTING = "rows"
WEIGHTINGS = ("rows", "file", "sqrt")
ALL_TARGETS = (*TARGETS, "pair", "mixed")
SPLIT = "train"


@dataclass(frozen=True)
class TrainingSet:
    """Rows of every training file: features, targets in [0, 1], weights, and where each row came from."""

    arrays: FeatureArrays
    targets: np.ndarray
    weights: np.ndarray
    source: np.ndarray  # index into provenance, per row
    ids: list[str]
    provenance: list[dict[str, Any]]

    @property
    def features(self) -> list[dict[str, Any]]:
        """The rows' features as :meth:`classifiers.featurize.Featurizer.features` dicts."""
        return self.arrays.to_dicts()

    def __len__(self) -> int:
        return len(self.targets)


def cache_root(cache_dir: str | Path | None = None) -> Path:
    base = cache_dir or os.environ.get("TIERROUTE_CACHE") or Path.home() / ".cache" / "tierroute"
    return Path(base) / "recipe"


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cached_arrays(key: str, compute: Callable[[], FeatureArrays], cache_dir: str | Path | None = None) -> FeatureArrays:
    """``compute()`` once per ``key`` (hashed), stored as ``.npz`` (written atomically)."""
    root = cache_root(cache_dir)
    path = root / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return FeatureArrays(z["tf"], z["emb"], z["ng_ids"], z["ng_offsets"])
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is recomputed below
    fa = compute()
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=root, suffix=".npz.tmp")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, tf=fa.tf, emb=fa.emb, ng_ids=fa.ng_ids, ng_offsets=fa.ng_offsets)
    os.replace(tmp, path)
    return fa


def featurize_cached(featurizer: Featurizer, texts: Sequence[str], *, content_key: str,
                     cache_dir: str | Path | None = None) -> FeatureArrays:
    """Features of ``texts``, cached under ``content_key`` (e.g. a file hash and split) + the spec."""
    return cached_arrays(f"{content_key}|{featurizer.spec}", lambda: featurizer.arrays(list(texts)), cache_dir)


def file_weights(sizes: Sequence[int], weighting: str) -> np.ndarray:
    """One weight per row for files of ``sizes`` rows (module docstring), mean 1."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; expected one of {WEIGHTINGS}")
    per_file = {"rows": lambda n: 1.0, "file": lambda n: 1.0 / n, "sqrt": lambda n: 1.0 / np.sqrt(n)}[weighting]
    w = np.concatenate([np.full(n, per_file(n)) for n in sizes]) if sizes else np.zeros(0)
    return w / w.mean() if len(w) else w


def row_targets(src: SourceFile, rows: MultiRows, data_dir: Path, target: str) -> tuple[np.ndarray, np.ndarray]:
    """``(target per row, rows to keep)`` for one file (module docstring)."""
    if target not in ALL_TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of {ALL_TARGETS}")
    if target in TARGETS:
        return difficulty(rows.scores, target), np.ones(len(rows.ids), dtype=bool)
    pair = np.full(len(rows.ids), np.nan)
    if src.pair_view and (data_dir / src.pair_view).is_file():
        labels = {r.id: float(r.label) for r in load_pairs(data_dir / src.pair_view)}
        pair = np.array([labels.get(i, np.nan) for i in rows.ids])
    has = np.isfinite(pair)
    if target == "pair":
        return np.where(has, pair, 0.0), has
    return np.where(has, pair, difficulty(rows.scores, "mean")), np.ones(len(rows.ids), dtype=bool)


def build_training_set(data_dir: str | Path, exclude: Sequence[str] = (), *, featurizer: Featurizer,
                       cache_dir: str | Path | None = None, target: str | None = None,
                       weighting: str | None = None) -> TrainingSet:
    """Read, featurize (cached), and label the ``train`` rows of every allowed file (module docstring)."""
    target, weighting = target or TARGET, weighting or WEIGHTING
    parts: list[FeatureArrays] = []
    targets: list[np.ndarray] = []
    ids: list[str] = []
    provenance: list[dict[str, Any]] = []
    for src, path in trainable_files(data_dir, exclude):
        rows = read_multi(path)
        rows = rows.select(np.array([s == SPLIT for s in rows.splits]) & np.isfinite(rows.scores).any(axis=1))
        t, keep = row_targets(src, rows, Path(data_dir), target)
        if not keep.any():
            continue
        sha = file_sha256(path)  # the cache holds every train row's features; the target picks its rows
        fa = featurize_cached(featurizer, rows.prompts, content_key=f"{sha}|{SPLIT}", cache_dir=cache_dir)
        rows = rows.select(keep)
        parts.append(fa if keep.all() else fa.take(np.flatnonzero(keep)))
        targets.append(t[keep])
        ids += rows.ids
        provenance.append({"file": src.path, "licence": src.licence, "credit": src.credit, "split": SPLIT,
                           "rows": len(rows.ids), "models": len(rows.models), "sha256": sha, "target": target})
    if not parts:
        raise ValueError(f"no training file found in {data_dir} (excluded: {list(exclude)})")
    sizes = [p["rows"] for p in provenance]
    return TrainingSet(FeatureArrays.concat(parts), np.concatenate(targets), file_weights(sizes, weighting),
                       np.repeat(np.arange(len(sizes)), sizes), ids, provenance)
