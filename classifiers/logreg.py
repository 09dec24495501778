"""Embedding + logistic regression: the shipped complexity classifier, saved as plain JSON.

``model.json`` (no pickle; a few KB) holds::

    {"format": "tierroute.logreg/1", "name": ..., "features": ["embedding"],
     "embedding": {"model_id", "dim", "truncation", ...}, "text": {"chat": "last_user"},
     "coef": [dim floats], "intercept": float, "C": float, "training": {...}}

The score of a text is ``sigmoid(coef · embed(text) + intercept)``: the fitted probability
that the strong model does strictly better than the weak one (with ``class_weight=
"balanced"``, so 0.5 is the point where both kinds of error are weighted equally, not the
base rate). Loading refuses a file whose embedding model or dimension does not match the
embedder it is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from .base import Classifier
from .embed import MINILM_ID, TRUNCATIONS, Embedder, MiniLMEmbedder

FORMAT = "tierroute.logreg/1"
FEATURES = ["embedding"]
MODEL_FILE = "model.json"
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


@dataclass
class LogRegModel:
    """A linear model over an embedding space, plus what is needed to reproduce its inputs."""

    coef: np.ndarray
    intercept: float
    embedding: dict[str, Any]
    text: dict[str, Any] = field(default_factory=lambda: {"chat": "last_user"})
    C: float = 1.0
    name: str = "minilm-logreg"
    training: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, *, embedding: dict[str, Any], C: float | None = None,
            seed: int = 0, **kwargs: Any) -> LogRegModel:
        """Fit balanced L2 logistic regression; ``C=None`` picks C from ``C_GRID`` by :func:`choose_c`."""
        from sklearn.linear_model import LogisticRegression

        c = choose_c(X, y, seed=seed) if C is None else C
        lr = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(X, y)
        return cls(coef=lr.coef_[0].astype(np.float64), intercept=float(lr.intercept_[0]),
                   embedding=dict(embedding), C=c, **kwargs)

    @property
    def dim(self) -> int:
        return int(self.coef.shape[0])

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``sigmoid(X @ coef + intercept)``, computed stably; shape ``(n,)``."""
        z = np.asarray(X, dtype=np.float64) @ self.coef + self.intercept
        return np.exp(-np.logaddexp(0.0, -z))

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "name": self.name, "features": FEATURES, "embedding": self.embedding,
                "text": self.text, "C": self.C, "intercept": self.intercept,
                "coef": [float(v) for v in self.coef], "training": self.training}

    @classmethod
    def from_json(cls, obj: Any) -> LogRegModel:
        """Validate and build; raises ``ValueError`` naming what is wrong."""
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} model file")
        if obj.get("features") != FEATURES:
            raise ValueError(f"unsupported feature set {obj.get('features')!r}; this version reads {FEATURES}")
        emb = obj.get("embedding")
        if not isinstance(emb, dict) or not isinstance(emb.get("model_id"), str) or not isinstance(emb.get("dim"), int):
            raise ValueError("`embedding` must name model_id (string) and dim (integer)")
        coef = np.asarray(obj.get("coef"), dtype=np.float64)
        intercept = obj.get("intercept")
        if coef.shape != (emb["dim"],) or not np.all(np.isfinite(coef)):
            raise ValueError(f"`coef` must be {emb['dim']} finite numbers")
        if not isinstance(intercept, (int, float)) or not math.isfinite(intercept):
            raise ValueError("`intercept` must be a finite number")
        return cls(coef=coef, intercept=float(intercept), embedding=emb, text=dict(obj.get("text") or {}),
                   C=float(obj.get("C", 0.0)), name=str(obj.get("name", "minilm-logreg")),
                   training=dict(obj.get("training") or {}))

    def save(self, directory: str | Path) -> Path:
        """Write ``directory/model.json`` (creating the directory); returns its path."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        path = d / MODEL_FILE
        path.write_bytes(orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> LogRegModel:
        path = Path(directory) / MODEL_FILE
        try:
            obj = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON: {e}") from None
        try:
            return cls.from_json(obj)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None


def choose_c(X: np.ndarray, y: np.ndarray, *, seed: int = 0, folds: int = 5) -> float:
    """The C in ``C_GRID`` with the best mean ROC AUC over stratified ``folds``-fold CV.

    AUC (ranking quality of the labels) is a smooth stand-in for APGR, which on a few hundred
    rows per fold is too noisy to choose a hyper-parameter with. Ties go to the smaller C.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    best_c, best_auc = C_GRID[0], -1.0
    for c in C_GRID:
        aucs = []
        for fit_idx, val_idx in cv.split(X, y):
            lr = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(X[fit_idx], y[fit_idx])
            aucs.append(roc_auc_score(y[val_idx], lr.decision_function(X[val_idx])))
        if float(np.mean(aucs)) > best_auc:
            best_c, best_auc = c, float(np.mean(aucs))
    return best_c


class EmbeddingLogRegClassifier:
    """``Classifier``: embed the texts, apply the linear model. Checks the embedder matches."""

    def __init__(self, embedder: Embedder, model: LogRegModel) -> None:
        want_id, want_dim = model.embedding.get("model_id"), model.embedding.get("dim")
        if embedder.model_id != want_id or embedder.dim != want_dim:
            raise ValueError(f"model was trained on {want_id} (dim {want_dim}); "
                             f"the embedder is {embedder.model_id} (dim {embedder.dim})")
        self.embedder = embedder
        self.model = model
        self.name = model.name

    def score(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float64)
        return self.model.predict_proba(self.embedder.encode(texts))

    def describe(self) -> dict[str, Any]:
        t = self.model.training
        return {"kind": "embedding-logreg", "embedding": self.model.embedding, "text": self.model.text,
                "features": FEATURES, "C": self.model.C, "trained_on": t.get("data"), "split": t.get("split"),
                "rows": t.get("rows"), "dev": t.get("dev")}


def default_model_dir() -> Path:
    """``classifiers/default``: the model shipped with the package."""
    return Path(__file__).resolve().parent / "default"


def load_classifier(model_dir: str | Path | None = None, *, embedder: Embedder | None = None) -> Classifier:
    """Load ``model_dir/model.json`` (None: the shipped default) with a matching embedder.

    Without ``embedder``, MiniLM is loaded with the truncation recorded in the file; a file
    trained on any other embedding model needs its embedder passed in.
    """
    model = LogRegModel.load(default_model_dir() if model_dir is None else model_dir)
    if embedder is None:
        if model.embedding.get("model_id") != MINILM_ID:
            raise ValueError(f"model needs embedding {model.embedding.get('model_id')!r}; "
                             f"only {MINILM_ID} can be loaded by name")
        truncation = model.embedding.get("truncation", "head")
        if truncation not in TRUNCATIONS:
            raise ValueError(f"unknown truncation {truncation!r} in model.json")
        embedder = MiniLMEmbedder.load(truncation=truncation)
    return EmbeddingLogRegClassifier(embedder, model)
