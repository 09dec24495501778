"""The files that may train the shipped default, their licences, and reading multi-model rows.

:data:`TRAINABLE` is an allow-list: a file not named here (AlpacaEval: CC BY-NC 4.0, evaluation
only; the ``__pair`` views, which repeat their multi-model file) never trains shipped weights.
Only rows whose ``split`` is ``train`` are used. See ``../shared/data/README.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import number_or_nan, read_objects


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative to the data directory
    licence: str
    credit: str
    pair_view: str | None = None  # its pair view (same ids), if the data has one


TRAINABLE: tuple[SourceFile, ...] = (
    SourceFile("routerbench0shot_subset.jsonl", "no licence stated upstream; the data README allows its train split",
               "RouterBench 0-shot (withmartian/routerbench, via shuhao02/RouterDC): ARC-Challenge, Winogrande, MBPP",
               "routerbench0shot_mistral7b_vs_gpt4.jsonl"),
    SourceFile("multimodel/mmlupro.jsonl", "Apache-2.0 repository, MIT data",
               "TIGER-AI-Lab/MMLU-Pro (questions not taken from MMLU)", "multimodel/mmlupro__pair.jsonl"),
    SourceFile("multimodel/arenabench.jsonl", "Apache-2.0", "lmarena/arena-hard-auto (arena-bench-v1, GPT-4 judge)",
               "multimodel/arenabench__pair.jsonl"),
    SourceFile("multimodel/routerdc_gsm8k_train.jsonl", "no licence stated; the data README allows training",
               "shuhao02/RouterDC (GSM8K train questions)"),
    SourceFile("multimodel/routerdc_math_prealgebra.jsonl", "no licence stated; the data README allows training",
               "shuhao02/RouterDC (MATH prealgebra)"),
    SourceFile("multimodel/llmrouter.jsonl", "MIT", "ulab-uiuc/LLMRouter"),
)
EVAL_ONLY_PREFIX = "alpaca_eval"


@dataclass(frozen=True)
class MultiRows:
    """Rows of a multi-model file: ids, prompts, splits and a (rows, models) score matrix (NaN = none)."""

    ids: list[str]
    prompts: list[str]
    splits: list[str]
    models: tuple[str, ...]
    scores: np.ndarray

    def select(self, mask: np.ndarray) -> MultiRows:
        idx = np.flatnonzero(mask)
        return MultiRows([self.ids[i] for i in idx], [self.prompts[i] for i in idx], [self.splits[i] for i in idx],
                         self.models, self.scores[idx])


def read_multi(path: str | Path) -> MultiRows:
    """Read ``{"id", "prompt", "split", "scores": {model: 0..1}}`` lines (``ValueError`` names a bad line)."""
    objs = read_objects(path, lambda o: isinstance(o.get("prompt"), str) and isinstance(o.get("scores"), dict),
                        "`prompt` (string) and `scores` (object)")
    models = tuple(dict.fromkeys(m for o in objs for m in o["scores"]))
    scores = np.array([[number_or_nan(o["scores"].get(m)) for m in models] for o in objs], dtype=np.float64)
    return MultiRows([str(o.get("id", i)) for i, o in enumerate(objs)], [o["prompt"] for o in objs],
                     [o["split"] if isinstance(o.get("split"), str) else "" for o in objs], models,
                     scores.reshape(len(objs), len(models)))


def trainable_files(data_dir: str | Path, exclude: Sequence[str] = ()) -> list[tuple[SourceFile, Path]]:
    """The allow-listed files present in ``data_dir``, minus those whose name contains an ``exclude`` entry."""
    out = []
    for src in TRAINABLE:
        path = Path(data_dir) / src.path
        if path.name.startswith(EVAL_ONLY_PREFIX):  # defensive: never, whatever the list says
            continue
        if any(x and x in src.path for x in exclude) or not path.is_file():
            continue
        out.append((src, path))
    return out
