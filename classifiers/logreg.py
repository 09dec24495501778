"""Embedding (+ cheap text features) + logistic regression, saved as plain JSON.

``model.json`` (no pickle; a few KB) holds::

    {"format": "tierroute.logreg/2", "name": ..., "features": ["embedding"] or
     ["embedding", "text_features"], "embedding": {"kind", "model_id", "dim", ...},
     "text": {"chat": "last_user", "view": "full" | "focus"},
     "text_features": {"names": [...], "mean": [...], "scale": [...]}   (only with text_features)
     "coef": [dim (+ features) floats], "intercept": float, "C": float, "training": {...}}

Scoring a text: take its view (``focus``: :func:`classifiers.features.focus_text`, the question
of a few-shot prompt; ``full``: the text), embed it, append the standardised
:func:`classifiers.features.text_features` of the text when the model uses them, and return
``sigmoid(coef · x + intercept)``: the fitted probability that the strong model does strictly
better than the weak one (``class_weight="balanced"``, so 0.5 weighs both errors equally; it
is not the base rate). Format ``tierroute.logreg/3`` (written by :func:`classifiers.training.recipe.fit`
when it uses hashed n-grams) adds ``"features": [..., "ngrams"]`` and ``"ngrams": {"buckets",
"orders", "max_tokens", "hash": "crc32", "ids": [bucket ids], "coef": [weights]}``: the logit
gains ``sum(coef[id]) / sqrt(#ids)`` over the distinct ids of the view
(:mod:`classifiers.ngrams`). Format ``tierroute.logreg/1`` files (MiniLM, embedding only, full
view) still load. Loading refuses a file whose embedding model or dimension does not match the
embedder it is given.

Embedders: ``embedding.kind == "static"`` loads :class:`classifiers.static.StaticEmbedder`
from the model directory itself (numpy + tokenizers: no torch); MiniLM models load
:class:`classifiers.embed.MiniLMEmbedder` (torch); any other embedder must be passed in.
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
from .feature_arrays import FeatureArrays, as_arrays
from .features import FEATURE_NAMES, feature_matrix, focus_text
from .folded import FoldedLogReg
from .ngrams import NgramHasher, NgramSpec, flatten, row_sums
from .static import StaticEmbedder

FORMAT = "tierroute.logreg/2"
FORMAT_NGRAMS = "tierroute.logreg/3"
FORMATS = ("tierroute.logreg/1", FORMAT, FORMAT_NGRAMS)
FEATURES = ["embedding"]
FEATURE_SETS = (["embedding"], ["embedding", "text_features"], ["embedding", "text_features", "ngrams"])
VIEWS = ("full", "focus")
MODEL_FILE = "model.json"


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
    features: list[str] = field(default_factory=lambda: list(FEATURES))
    feature_mean: np.ndarray | None = None
    feature_scale: np.ndarray | None = None
    embedding_weight: float = 1.0
    ngrams: NgramSpec | None = None
    ngram_ids: np.ndarray | None = None
    ngram_coef: np.ndarray | None = None
    _ngram_table: np.ndarray | None = field(default=None, repr=False, compare=False)
    _ngram_hasher: NgramHasher | None = field(default=None, repr=False, compare=False)

    @property
    def dim(self) -> int:
        return int(self.coef.shape[0])

    @property
    def uses_text_features(self) -> bool:
        return "text_features" in self.features

    @property
    def view(self) -> str:
        return str(self.text.get("view", "full"))

    def inputs(self, embeddings: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """The model's input rows: the embeddings, plus standardised text features if used."""
        if not self.uses_text_features:
            return embeddings
        assert self.feature_mean is not None and self.feature_scale is not None
        return np.hstack([embeddings, (feature_matrix(texts) - self.feature_mean) / self.feature_scale])

    def predict_proba(self, X: np.ndarray, ngram_z: np.ndarray | None = None) -> np.ndarray:
        """``sigmoid(X @ coef + intercept (+ ngram_z))``, computed stably; shape ``(n,)``."""
        z = np.asarray(X, dtype=np.float64) @ self.coef + self.intercept
        if ngram_z is not None:
            z = z + ngram_z
        return np.exp(-np.logaddexp(0.0, -z))

    def ngram_z(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray | None:
        """The n-gram block's share of the logit per row (None when the model has no n-grams)."""
        if self.ngrams is None:
            return None
        return row_sums(self._table(), ids, offsets)

    def _table(self) -> np.ndarray:
        if self._ngram_table is None:
            assert self.ngrams is not None and self.ngram_ids is not None and self.ngram_coef is not None
            table = np.zeros(self.ngrams.buckets, dtype=np.float64)
            table[self.ngram_ids] = self.ngram_coef
            self._ngram_table = table
        return self._ngram_table

    def _hasher(self) -> NgramHasher:
        assert self.ngrams is not None
        if self._ngram_hasher is None or self._ngram_hasher.spec != self.ngrams:
            self._ngram_hasher = NgramHasher(self.ngrams)  # remembers token buckets across calls (bounded)
        return self._ngram_hasher

    def bounds(self) -> dict[str, Any]:
        """The n-gram cache's size against its cap, once scoring has made one."""
        return {"ngrams": self._ngram_hasher.describe()} if self._ngram_hasher is not None else {}

    def ngram_buckets(self, view: str) -> set[int]:
        """The distinct n-gram bucket ids of a text's view (empty when the model has no n-grams)."""
        return self._hasher().bucket_set(view) if self.ngrams is not None else set()

    def text_ngram_z(self, texts: Sequence[str]) -> np.ndarray | None:
        """:meth:`ngram_z` of texts (their view, as at training time)."""
        if self.ngrams is None:
            return None
        views = [focus_text(t) for t in texts] if self.view == "focus" else texts
        hasher = self._hasher()
        return self.ngram_z(*flatten([hasher.ids(v) for v in views]))

    def score_arrays(self, fa: FeatureArrays) -> np.ndarray:
        """Scores from precomputed features (raw text features, embeddings, n-gram ids)."""
        if fa.dim != self.embedding.get("dim"):
            raise ValueError(f"features have embedding dim {fa.dim}; the model needs {self.embedding.get('dim')}")
        X = fa.emb.astype(np.float64)
        if self.uses_text_features:
            assert self.feature_mean is not None and self.feature_scale is not None
            X = np.hstack([X, (fa.tf - self.feature_mean) / self.feature_scale])
        return self.predict_proba(X, self.ngram_z(fa.ng_ids, fa.ng_offsets))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT if self.ngrams is None else FORMAT_NGRAMS, "name": self.name,
                               "features": self.features, "embedding": self.embedding, "text": self.text}
        if self.uses_text_features:
            assert self.feature_mean is not None and self.feature_scale is not None
            out["text_features"] = {"names": list(FEATURE_NAMES), "mean": [float(v) for v in self.feature_mean],
                                    "scale": [float(v) for v in self.feature_scale]}
        if self.ngrams is not None:
            assert self.ngram_ids is not None and self.ngram_coef is not None
            out["ngrams"] = {**self.ngrams.to_json(), "ids": [int(i) for i in self.ngram_ids],
                             "coef": [float(f"{v:.6g}") for v in self.ngram_coef]}
        return {**out, "C": self.C, "embedding_weight": self.embedding_weight, "intercept": self.intercept,
                "coef": [float(v) for v in self.coef],
                "training": self.training}

    @classmethod
    def from_json(cls, obj: Any) -> LogRegModel:
        """Validate and build; raises ``ValueError`` naming what is wrong."""
        if not isinstance(obj, dict) or obj.get("format") not in FORMATS:
            raise ValueError(f"not a {FORMAT} model file")
        features = obj.get("features")
        if features not in FEATURE_SETS:
            raise ValueError(f"unsupported feature set {features!r}; this version reads {list(FEATURE_SETS)}")
        emb = obj.get("embedding")
        if not isinstance(emb, dict) or not isinstance(emb.get("model_id"), str) or not isinstance(emb.get("dim"), int):
            raise ValueError("`embedding` must name model_id (string) and dim (integer)")
        text = dict(obj.get("text") or {})
        if text.get("view", "full") not in VIEWS:
            raise ValueError(f"unknown text view {text.get('view')!r}; expected one of {VIEWS}")
        n_in, mean, scale = emb["dim"], None, None
        if "text_features" in features:
            tf = obj.get("text_features")
            if not isinstance(tf, dict) or tf.get("names") != list(FEATURE_NAMES):
                raise ValueError(f"`text_features.names` must be {list(FEATURE_NAMES)}")
            mean, scale = (np.asarray(tf.get(k), dtype=np.float64) for k in ("mean", "scale"))
            n_feat = (len(FEATURE_NAMES),)
            if mean.shape != n_feat or scale.shape != n_feat or not (np.all(np.isfinite(mean)) and np.all(scale > 0)):
                raise ValueError("`text_features` mean/scale must be one finite number per feature, scale > 0")
            n_in += len(FEATURE_NAMES)
        coef = np.asarray(obj.get("coef"), dtype=np.float64)
        intercept = obj.get("intercept")
        if coef.shape != (n_in,) or not np.all(np.isfinite(coef)):
            raise ValueError(f"`coef` must be {n_in} finite numbers")
        if not isinstance(intercept, (int, float)) or not math.isfinite(intercept):
            raise ValueError("`intercept` must be a finite number")
        spec, ng_ids, ng_coef = _parse_ngrams(obj) if "ngrams" in features else (None, None, None)
        return cls(coef=coef, intercept=float(intercept), embedding=emb, text=text,
                   C=float(obj.get("C", 0.0)), embedding_weight=float(obj.get("embedding_weight", 1.0)),
                   name=str(obj.get("name", "minilm-logreg")),
                   training=dict(obj.get("training") or {}), features=list(features), feature_mean=mean,
                   feature_scale=scale, ngrams=spec, ngram_ids=ng_ids, ngram_coef=ng_coef)

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


def _parse_ngrams(obj: dict[str, Any]) -> tuple[NgramSpec, np.ndarray, np.ndarray]:
    """The n-gram block of a /3 file: spec, bucket ids (distinct, in range) and their weights."""
    if obj.get("format") != FORMAT_NGRAMS:
        raise ValueError(f"an n-gram model must have format {FORMAT_NGRAMS}")
    block = obj.get("ngrams")
    if not isinstance(block, dict):
        raise ValueError("`ngrams` block missing")
    spec = NgramSpec.from_json(block)
    ids = np.asarray(block.get("ids", []), dtype=np.int64)
    coef = np.asarray(block.get("coef", []), dtype=np.float64)
    if ids.ndim != 1 or coef.shape != ids.shape or not np.all(np.isfinite(coef)):
        raise ValueError("`ngrams.ids` and `ngrams.coef` must be equally long lists of numbers")
    if len(ids) and (ids.min() < 0 or ids.max() >= spec.buckets or len(np.unique(ids)) != len(ids)):
        raise ValueError("`ngrams.ids` must be distinct bucket ids below `buckets`")
    return spec, ids, coef


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
        self.loop_chars = int(getattr(embedder, "loop_chars", 0) or 0)  # cheap enough for the loop: batching.py
        # a static embedder: one text at a time with the linear steps folded (classifiers/folded.py)
        self.folded = FoldedLogReg(embedder, model) if isinstance(embedder, StaticEmbedder) else None

    def score(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float64)
        if self.folded is not None:  # a static embedder: no batch arrays (cheaper per text at any batch size)
            return np.fromiter(map(self.folded.score, texts), dtype=np.float64, count=len(texts))
        if self.model.embedding_weight == 0.0:  # the fit left the embedding out: skip computing it
            embeddings = np.zeros((len(texts), self.embedder.dim), dtype=np.float32)
        else:
            views = [focus_text(t) for t in texts] if self.model.view == "focus" else texts
            embeddings = self.embedder.encode(views)
        return self.model.predict_proba(self.model.inputs(embeddings, texts), self.model.text_ngram_z(texts))

    def bounds(self) -> dict[str, Any]:
        """What scoring remembers across texts (the embedder's and the n-grams' caches), against its caps."""
        embedder_bounds = getattr(self.embedder, "bounds", None)
        out: dict[str, Any] = embedder_bounds() if embedder_bounds is not None else {}
        return {**out, **self.model.bounds()}

    def score_features(self, features: FeatureArrays | Sequence[dict[str, Any]]) -> np.ndarray:
        """Scores from :class:`classifiers.featurize.Featurizer` features (no text needed)."""
        if not len(features):
            return np.zeros(0, dtype=np.float64)
        return self.model.score_arrays(as_arrays(features, self.embedder.dim))

    def describe(self) -> dict[str, Any]:
        t = self.model.training
        return {"kind": "embedding-logreg", "embedding": self.model.embedding, "text": self.model.text,
                "features": self.model.features, "C": self.model.C, "embedding_weight": self.model.embedding_weight,
                "trained_on": t.get("data"),
                "split": t.get("split"), "rows": t.get("rows"), "dev": t.get("dev"),
                "score_quantiles": t.get("score_quantiles")}


def default_model_dir() -> Path:
    """``classifiers/default``: the model shipped with the package."""
    return Path(__file__).resolve().parent / "default"


def load_classifier(model_dir: str | Path | None = None, *, embedder: Embedder | None = None) -> Classifier:
    """Load ``model_dir/model.json`` (None: the shipped default) with a matching embedder.

    Without ``embedder``: a static model loads its vectors from ``model_dir`` (no torch);
    MiniLM is loaded with the truncation recorded in the file; a file trained on any other
    embedding model needs its embedder passed in.
    """
    directory = default_model_dir() if model_dir is None else Path(model_dir)
    model = LogRegModel.load(directory)
    if embedder is None and model.embedding.get("kind") == "static":
        embedder = StaticEmbedder.load(directory)
    if embedder is None:
        if model.embedding.get("model_id") != MINILM_ID:
            raise ValueError(f"model needs embedding {model.embedding.get('model_id')!r}; "
                             f"only {MINILM_ID} can be loaded by name")
        truncation = model.embedding.get("truncation", "head")
        if truncation not in TRUNCATIONS:
            raise ValueError(f"unknown truncation {truncation!r} in model.json")
        embedder = MiniLMEmbedder.load(truncation=truncation)
    return EmbeddingLogRegClassifier(embedder, model)
