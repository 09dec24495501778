"""Data for the issue-9 experiments: every trainable file's rows, their pair views, AlpacaEval.

Nothing here chooses anything. ``load_all()`` returns, per trainable multi-model file, its
``train`` and ``test`` rows with recipe features (cached by content hash under
``$TIERROUTE_CACHE``), the per-model score matrix, and, for the files that have one, the pair
view's weak / strong scores aligned by id. AlpacaEval pair files (CC BY-NC 4.0) are loaded
for evaluation only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classifiers.feature_arrays import FeatureArrays
from classifiers.featurize import Featurizer
from classifiers.training.corpus import MultiRows, read_multi, trainable_files
from classifiers.training.data import load_pairs
from classifiers.training.recipe_cache import featurize_cached, file_sha256

DATA = Path(os.environ.get("TR_DATA", "/work/shared/data"))
PAIR_VIEWS = {
    "routerbench0shot_subset.jsonl": "routerbench0shot_mistral7b_vs_gpt4.jsonl",
    "multimodel/mmlupro.jsonl": "multimodel/mmlupro__pair.jsonl",
    "multimodel/arenabench.jsonl": "multimodel/arenabench__pair.jsonl",
}
ALPACA = {"alpaca_mixtral": "alpaca_eval_mixtral_vs_gpt4turbo.jsonl",
          "alpaca_gpt35": "alpaca_eval_gpt35turbo_vs_gpt4turbo.jsonl"}


@dataclass
class Part:
    """Rows of one file and split: features, outcomes, prompts, pair scores (NaN where no pair view)."""

    name: str
    rows: MultiRows
    fa: FeatureArrays
    weak: np.ndarray
    strong: np.ndarray

    @property
    def has_pair(self) -> bool:
        return bool(np.isfinite(self.weak).any())

    @property
    def pair_mask(self) -> np.ndarray:
        return np.isfinite(self.weak) & np.isfinite(self.strong)


def load_all(featurizer: Featurizer) -> tuple[dict[str, Part], dict[str, Part], dict[str, Part]]:
    """``(train parts, test parts, alpaca parts)`` keyed by file path (alpaca: short name)."""
    train, test = {}, {}
    for src, path in trainable_files(DATA):
        rows = read_multi(path)
        sha = file_sha256(path)
        weak, strong = _pair_scores(src.path, rows)
        for split, out in (("train", train), ("test", test)):
            mask = np.array([s == split for s in rows.splits]) & np.isfinite(rows.scores).any(axis=1)
            sub = rows.select(mask)
            fa = featurize_cached(featurizer, sub.prompts, content_key=f"{sha}|{split}")
            out[src.path] = Part(src.path, sub, fa, weak[mask], strong[mask])
    alpaca = {}
    for name, rel in ALPACA.items():
        pairs = load_pairs(DATA / rel)
        prompts = [r.prompt for r in pairs]
        rows = MultiRows([r.id for r in pairs], prompts, ["all"] * len(pairs), (), np.zeros((len(pairs), 0)))
        fa = featurize_cached(featurizer, prompts, content_key=f"{file_sha256(DATA / rel)}|all")
        alpaca[name] = Part(name, rows, fa, np.array([r.weak_score for r in pairs]),
                            np.array([r.strong_score for r in pairs]))
    return train, test, alpaca


def _pair_scores(src: str, rows: MultiRows) -> tuple[np.ndarray, np.ndarray]:
    weak = np.full(len(rows.ids), np.nan)
    strong = np.full(len(rows.ids), np.nan)
    if src in PAIR_VIEWS:
        by_id = {r.id: r for r in load_pairs(DATA / PAIR_VIEWS[src])}
        for i, rid in enumerate(rows.ids):
            if rid in by_id:
                weak[i], strong[i] = by_id[rid].weak_score, by_id[rid].strong_score
    return weak, strong
