"""Train the complexity classifier on pair-schema data and measure it: the shipped recipe.

The recipe (:func:`fit_classifier`, also used per fold by ``tierroute eval --cv K``):

- text: the prompt's focus view (:func:`classifiers.features.focus_text`: the question of a
  few-shot prompt, else the whole prompt);
- embedding: the static (model2vec-distilled MiniLM, 64-dim, int8) embedding shipped in
  ``classifiers/default`` (:mod:`classifiers.static`; no torch);
- features: the embedding plus the z-scored cheap text features of
  :mod:`classifiers.features`;
- model: class-balanced L2 logistic regression; C from ``C_GRID`` and the embedding block's
  weight from ``EMBEDDING_WEIGHTS`` (1: use it, 0: text features only) chosen together by
  stratified 5-fold CV ROC AUC on the training rows; label = strong model strictly better.

Algorithm (``train``):

1. Load the rows of ``split`` (nulls skipped, contaminated rows dropped).
2. Hold out ``dev_fraction`` of them, stratified by label, seeded.
3. Fit the recipe on the remaining rows; score the dev rows.
4. On the same dev rows score the baselines: prompt length, a hashed bag-of-words logistic
   regression fitted on the same rows, the random router averaged over 100 seeds (its
   expectation), and the oracle (the ceiling).
5. Refit on all rows of the split with the chosen C and embedding weight. Choice: the shipped model should use all
   the labelled data it may; the dev numbers therefore describe a model fitted on
   ``1 - dev_fraction`` of it, a slightly pessimistic estimate, never an optimistic one.
6. Write ``model.json``, the static embedding files (when the embedder is static) and
   ``MODEL_CARD.md`` to ``out_dir``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..base import Classifier
from ..embed import Embedder
from ..features import feature_matrix, focus_text
from ..logreg import MODEL_FILE, EmbeddingLogRegClassifier, LogRegModel, default_model_dir
from .data import PairRow, load_pairs
from .evaluate import mean_random_summary, oracle_router, prompt_length_router, routing_curve
from .logreg_fit import fit_logreg
from .progress import in_chunks

CARD_FILE = "MODEL_CARD.md"
RANDOM_SEEDS = 100
ROUTERS = ("model", "prompt_length", "bag_of_words", "random", "oracle")
VIEW = "focus"
TEXT_FEATURES = True
CHAT_MODE = "last_user"


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


def default_embedder() -> Embedder:
    """The shipped static embedding (from ``classifiers/default``)."""
    from ..static import StaticEmbedder

    return StaticEmbedder.load(default_model_dir())


def recipe_inputs(embedder: Embedder, prompts: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """The recipe's inputs for ``prompts``: embeddings of the view, and the text features (or None)."""
    views = [focus_text(p) for p in prompts] if VIEW == "focus" else list(prompts)
    emb = in_chunks(embedder.encode, views, desc="embedding")
    return emb, in_chunks(feature_matrix, list(prompts), desc="text features") if TEXT_FEATURES else None


def fit_model(X: np.ndarray, F: np.ndarray | None, y: np.ndarray, embedder: Embedder, *, seed: int = 0,
              C: float | None = None, embedding_weight: float | None = None, **kwargs: Any) -> LogRegModel:
    """The recipe's logistic regression on precomputed inputs (C and embedding weight by CV when None)."""
    return fit_logreg(X, y, embedding=embedder.describe(), C=C, seed=seed, text_features=F,
                      embedding_weight=embedding_weight, text={"chat": CHAT_MODE, "view": VIEW}, name=_name(embedder),
                      **kwargs)


def fit_classifier(rows: Sequence[PairRow], *, seed: int = 0, embedder: Embedder | None = None) -> Classifier:
    """The exact shipped training recipe on ``rows``, returned in memory (nothing written)."""
    y = np.array([r.label for r in rows], dtype=np.int64)
    if len(rows) < 10 or y.min() == y.max():
        raise ValueError(f"need at least 10 rows with both labels, got {len(rows)} rows, {int(y.sum())} positive")
    embedder = embedder or default_embedder()
    X, F = recipe_inputs(embedder, [r.prompt for r in rows])
    return EmbeddingLogRegClassifier(embedder, fit_model(X, F, y, embedder, seed=seed))


def compare_routers(scores: np.ndarray, rows: Sequence[PairRow],
                    bow_scores: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """APGR / CPT50 / CPT80 of ``scores`` and of the baselines on the same ``rows``."""
    weak = np.array([r.weak_score for r in rows])
    strong = np.array([r.strong_score for r in rows])
    out = {"model": routing_curve(scores, weak, strong).summary(),
           "prompt_length": routing_curve(prompt_length_router([r.prompt for r in rows]), weak, strong).summary()}
    if bow_scores is not None:
        out["bag_of_words"] = routing_curve(bow_scores, weak, strong).summary()
    out["random"] = mean_random_summary(weak, strong, seeds=RANDOM_SEEDS)
    out["oracle"] = routing_curve(oracle_router(weak, strong), weak, strong).summary()
    return out


def train(data_path: str | Path, out_dir: str | Path, *, split: str | None = "train", dev_fraction: float = 0.2,
          seed: int = 0, embedder: Embedder | None = None, command: str | None = None,
          embedding_weight: float | None = None) -> TrainReport:
    """Train, measure on the dev hold-out, refit on everything, write the model and its card.

    ``embedding_weight`` fixes the embedding block's weight instead of choosing it by CV
    (benchmarks use 1.0 to compare embeddings).
    """
    from sklearn.model_selection import train_test_split

    from .baselines import fit_bag_of_words

    if not 0.0 < dev_fraction < 1.0:
        raise ValueError("dev_fraction must be strictly between 0 and 1")
    rows = load_pairs(data_path, split=split)
    y = np.array([r.label for r in rows], dtype=np.int64)
    if len(rows) < 20 or y.min() == y.max():
        raise ValueError(f"{data_path} (split {split!r}): need at least 20 rows with both labels, "
                         f"got {len(rows)} rows, {int(y.sum())} positive")
    fit_idx, dev_idx = train_test_split(np.arange(len(rows)), test_size=dev_fraction, stratify=y,
                                        random_state=seed)
    embedder = embedder or default_embedder()
    X, F = recipe_inputs(embedder, [r.prompt for r in rows])
    held_out = fit_model(X[fit_idx], None if F is None else F[fit_idx], y[fit_idx], embedder, seed=seed,
                         embedding_weight=embedding_weight)
    dev_rows = [rows[i] for i in dev_idx]
    bow = fit_bag_of_words([rows[i] for i in fit_idx], seed=seed)
    dev = compare_routers(held_out.predict_proba(held_out.inputs(X[dev_idx], [r.prompt for r in dev_rows])),
                          dev_rows, bow.score([r.prompt for r in dev_rows]))
    command = command or f"tierroute train {data_path} -o {out_dir}"
    training: dict[str, Any] = {
        "data": Path(data_path).name, "split": split, "rows": len(rows), "positive_rate": float(y.mean()),
        "label": "strong_score > weak_score", "dev_fraction": dev_fraction, "dev_rows": len(dev_idx),
        "seed": seed, "refit_on_all_rows": True,
        "C_selection": "C and embedding weight (1 or 0) by stratified 5-fold CV ROC AUC on the non-dev rows",
        "dev": dev, "command": command, "sklearn": _version("sklearn"),
    }
    final = fit_model(X, F, y, embedder, C=held_out.C, embedding_weight=held_out.embedding_weight, training=training)
    out = Path(out_dir)
    model_path = final.save(out)
    save = getattr(embedder, "save", None)
    if callable(save) and final.embedding.get("kind") == "static":
        save(out)
    report = TrainReport(data_path=str(data_path), split=split, rows=len(rows), fit_rows=len(fit_idx),
                         dev_rows=len(dev_idx), positive_rate=float(y.mean()), C=final.C, dev=dev,
                         model_path=model_path, card_path=out / CARD_FILE, command=command)
    report.card_path.write_text(model_card(report, final), encoding="utf-8")
    return report


def _name(embedder: Embedder) -> str:
    kind = "static" if embedder.describe().get("kind") == "static" else embedder.model_id.rsplit("/", 1)[-1].lower()
    return f"{kind}-{VIEW}{'-features' if TEXT_FEATURES else ''}-logreg"


def metrics_table(metrics: dict[str, dict[str, float]]) -> str:
    """A Markdown table: one row per router, APGR and CPT(50 %), CPT(80 %) as % strong calls."""
    lines = ["| router | APGR | CPT(50%) | CPT(80%) |", "|---|---|---|---|"]
    for name in ROUTERS:
        if name in metrics:
            m = metrics[name]
            lines.append(f"| {name} | {m['apgr']:.3f} | {100 * m['cpt50']:.1f}% | {100 * m['cpt80']:.1f}% |")
    return "\n".join(lines)


HELD_OUT_BEGIN = "<!-- held-out results: bench/classifier_experiments/final_eval.py -->"
HELD_OUT_END = "<!-- end held-out results -->"


def model_card(report: TrainReport, model: LogRegModel) -> str:
    """The model card text (Markdown)."""
    return f"""# Model card: {model.name}

The complexity classifier `tierroute` uses for `model: "auto"`. Its score is the fitted
probability that the strong model answers a prompt better than the weak one.

## Model

{_embedding_note(model)}
- Text scored: the last user message of a chat (`{model.text.get('chat')}`), the prompt of a
  completion; of that text, the `{model.view}` view{_view_note(model)}.
- Features: {', '.join(model.features)}{_features_note(model)}.
- Classifier: L2 logistic regression, `class_weight="balanced"`, C = {model.C:g}, embedding weight
  {model.embedding_weight:g} (chosen from C in {{0.01 … 10}} × weight in {{1, 0}} by stratified 5-fold CV
  ROC AUC on the non-dev rows; weight 0 = the embedding is not used), refitted on all training rows.
  All of this is recorded in `{MODEL_FILE}` (plain JSON, no pickle).

## Training data

- File: `{Path(report.data_path).name}`, split `{report.split}`.{_data_note(report)}
- Rows: {report.rows} ({report.fit_rows} fit + {report.dev_rows} dev hold-out, stratified by label, seeded);
  label positive rate {report.positive_rate:.3f} (strong strictly better).
- Command: `{report.command}`

## Dev-split results (RouteLLM protocol, {report.dev_rows} held-out training rows)

{metrics_table(report.dev)}

CPT(x) is the share of strong calls needed to recover x of the weak→strong quality gap.
`bag_of_words` is a hashed word/bigram tf-idf logistic regression fitted on the same rows;
`random` is the mean over {RANDOM_SEEDS} seeds; `oracle` knows the outcomes (the ceiling).

## Held-out results

{HELD_OUT_BEGIN}
Not measured yet: run `bench/classifier_experiments/final_eval.py`.
{HELD_OUT_END}

## Intended use

Ranking prompts by how likely a cheap model is to fall short, so a policy can send the
likeliest ones to a stronger tier. Thresholds belong in the policy, tuned on your traffic.

## Limitations

{_verdict(report.dev)}
- Trained on benchmark prompts (for RouterBench: few-shot multiple choice and short coding
  tasks); open-ended chat traffic is out of domain.
- English only; the score is not calibrated to your models.
"""


def _embedding_note(model: LogRegModel) -> str:
    emb = model.embedding
    if emb.get("kind") == "static":
        return (f"- Embedding: `{emb.get('model_id')}` (dim {emb.get('dim')}, mean of int8 token vectors,\n"
                f"  L2-normalised, reads at most {emb.get('max_tokens')} tokens): {emb.get('source')}.\n"
                "  Served with numpy + `tokenizers` (no torch); files `static.npz`, `static.json`,\n"
                "  `tokenizer.json` here; reproduce with `python -m classifiers.training.distill -o DIR`.")
    return (f"- Embedding: `{emb.get('model_id')}` (dim {emb.get('dim')}, truncation "
            f"`{emb.get('truncation', 'head')}`, at most {emb.get('max_tokens', 256)} tokens).")


def _view_note(model: LogRegModel) -> str:
    if model.view == "focus":
        return " (the question of a few-shot prompt, its last blank-line block; else the whole text)"
    return " (the whole text)"


def _features_note(model: LogRegModel) -> str:
    if not model.uses_text_features:
        return ""
    return " (the cheap text features of `classifiers/features.py`, z-scored with the training rows' mean/sd)"


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
