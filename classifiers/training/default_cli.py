"""``tierroute train-default [--data-dir DIR] [--exclude NAME ...] -o DIR``: rebuild the shipped default.

1. :func:`classifiers.training.recipe.training_set`: the ``train`` rows of every allow-listed file in
   ``--data-dir`` (:data:`classifiers.training.corpus.TRAINABLE`; AlpacaEval never), minus files whose
   path contains an ``--exclude`` entry; difficulty targets within each file; features cached
   by content hash.
2. :func:`classifiers.training.recipe.fit` with the default penalties (chosen by CV, docs/classifier.md).
3. Write ``model.json``, the static embedding files and ``MODEL_CARD.md`` (every training
   file with its licence and row count) to ``-o``.

About 30-60 s on 2 cores with a warm feature cache, a minute more on a cold one.
"""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = "../shared/data"


def add_train_default_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help=f"the data directory (default {DEFAULT_DATA_DIR})")
    parser.add_argument("--exclude", action="append", default=[], metavar="NAME",
                        help="leave out files whose path contains NAME (repeatable), e.g. mmlupro")
    parser.add_argument("-o", "--out", required=True, metavar="DIR", help="where the model files go")
    parser.add_argument("--cache-dir", default=None,
                        help="feature cache (default $TIERROUTE_CACHE or ~/.cache/tierroute)")
    parser.add_argument("--seed", type=int, default=0)


def run_train_default(ns: argparse.Namespace) -> int:
    from ..featurize import Featurizer
    from .recipe import DEFAULT_PENALTIES, fit, save_model, training_set
    from .recipe_cache import TARGET, WEIGHTING

    started = time.monotonic()
    featurizer = Featurizer.load()
    ts = training_set(ns.data_dir, tuple(ns.exclude), featurizer=featurizer, cache_dir=ns.cache_dir)
    command = command_line(ns)
    training = {"data": [p["file"] for p in ts.provenance], "files": ts.provenance, "split": "train",
                "target": f"difficulty ({TARGET}) within each file", "weighting": WEIGHTING,
                "excluded": list(ns.exclude), "command": command, "featurizer": featurizer.spec}
    model = fit(ts.arrays, ts.targets, ts.weights, seed=ns.seed, penalties=DEFAULT_PENALTIES, featurizer=featurizer,
                training=training)
    model.training["score_quantiles"] = score_quantiles(model.score_arrays(ts.arrays))
    out = Path(ns.out)
    path = save_model(model, featurizer, out)
    (out / "MODEL_CARD.md").write_text(model_card(model.name, training, len(ts), float(ts.targets.mean())),
                                       encoding="utf-8")
    print(f"trained {model.name} on {len(ts)} rows of {len(ts.provenance)} files in {time.monotonic() - started:.0f}s")
    for p in ts.provenance:
        print(f"  {p['file']}: {p['rows']} rows, {p['models']} models")
    print(f"wrote {path} and {out / 'MODEL_CARD.md'}")
    return 0


def score_quantiles(scores: Any) -> list[float]:
    """101 quantiles of the model's scores on its training rows: the reference that share cut points
    use until the proxy has seen enough traffic (router/policy/thresholds.py)."""
    import numpy as np

    return [round(float(q), 6) for q in np.quantile(np.asarray(scores, dtype=np.float64), np.linspace(0, 1, 101))]


def command_line(ns: argparse.Namespace) -> str:
    parts = ["tierroute", "train-default", "--data-dir", ns.data_dir]
    for x in ns.exclude:
        parts += ["--exclude", x]
    return shlex.join([*parts, "-o", ns.out])


def model_card(name: str, training: dict[str, Any], rows: int, mean_target: float) -> str:
    from .train import HELD_OUT_BEGIN, HELD_OUT_END

    files = "\n".join(f"| `{p['file']}` | {p['credit']} | {p['licence']} | {p['rows']} | {p['models']} |"
                      for p in training["files"])
    excluded = ", ".join(training["excluded"]) or "none"
    return f"""# Model card: {name}

The complexity classifier `tierroute` uses for `model: "auto"`. Its score rises with how hard
a prompt is for the models of the training files: trained on the share of models failing it.

## Model

- Features (`{training['featurizer']}`), of the last user message's focus view (the question
  of a few-shot prompt, else the whole text): 14 cheap text features (`classifiers/features.py`,
  z-scored), the 64-d static embedding (model2vec distillation of all-MiniLM-L6-v2, int8; files
  `static.npz`, `static.json`, `tokenizer.json`), and hashed word 1-2-grams (crc32, 2^18
  buckets, L2-normalised binary rows; the largest weights kept).
- Model: soft-label logistic regression, one L2 penalty per block (`classifiers/training/recipe.py`),
  scored with numpy + `tokenizers` only. `model.json`: format `tierroute.logreg/3`, plain JSON.

## Training data

Only the `train` split of each file; `test` splits and the AlpacaEval files (CC BY-NC 4.0,
evaluation only) were never trained on. Excluded by the command: {excluded}.

| file | source | licence | rows | models |
|---|---|---|---|---|
{files}

- Rows: {rows}; target: {training['target']} (mean {mean_target:.3f}); weights: `{training['weighting']}`.
- Command: `{training['command']}`

## Held-out results

{HELD_OUT_BEGIN}
Not measured yet: run `python -m bench.classifier_experiments.issue9_final --card`.
{HELD_OUT_END}

## Intended use and limitations

Ranking prompts by difficulty, so a policy can send the hardest share to a stronger tier.
Thresholds belong in the policy (stated as shares), tuned on your traffic. Trained on
benchmark prompts (multiple choice, maths, code, puzzles, some chat); English only; the score is
not a calibrated probability for your models. `tierroute learn` improves it from your labels.
"""
