"""The recipe API of issue 9 (docs/learning.md): fit on soft targets, the training set.

- Features come from :class:`classifiers.featurize.Featurizer` (serving code: the proxy makes them
  for its label store): 14 text features, the static embedding of the focus view, n-gram ids.
- :func:`fit`: soft-label logistic regression (:mod:`classifiers.training.softfit`) on those features.
  Each block (text features z-scored, embedding, n-grams with L2-normalised binary rows) has
  its own L2 penalty (:class:`Penalties`, chosen by cross-validation, docs/classifier.md issue 9
  section); a block whose penalty is None is left out. Returns a
  :class:`classifiers.logreg.LogRegModel` (format ``tierroute.logreg/3`` with n-grams).
- :func:`training_set`: features, difficulty targets, weights and provenance of the ``train``
  rows of every allow-listed file (:mod:`classifiers.training.corpus`), cached on disk by content hash
  (:mod:`classifiers.training.recipe_cache`).

A loaded classifier (:func:`classifiers.logreg.load_classifier`) scores features with
``score_features(features)``, so a model can be evaluated on labels whose text was not kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..feature_arrays import FeatureArrays, as_arrays
from ..features import FEATURE_NAMES
from ..featurize import CHAT_MODE, VIEW, Featurizer
from ..logreg import LogRegModel
from ..ngrams import row_values


@dataclass(frozen=True)
class Penalties:
    """L2 penalty per block (None: block unused); see :mod:`classifiers.training.softfit` for the scale."""

    tf: float | None = 1e-3
    emb: float | None = 3e-3
    ng: float | None = 3e-4


DEFAULT_PENALTIES = Penalties()
LENGTH_PRIOR = -0.25  # chosen by CV (docs/classifier.md, issue 9)
MAX_NGRAMS = 40_000  # n-gram weights kept (largest |weight|): keeps model.json near 1 MB


def design(fa: FeatureArrays, mean: np.ndarray, scale: np.ndarray, buckets: int) -> Any:
    """The fit's design matrix: [embedding | z-scored text features | n-gram buckets] (sparse), or
    without the n-gram block when ``buckets`` is 0 (dense)."""
    from scipy import sparse

    dense = np.hstack([fa.emb.astype(np.float64), (fa.tf - mean) / scale])
    if buckets == 0:
        return dense
    ng = sparse.csr_matrix((row_values(fa.ng_offsets), fa.ng_ids, fa.ng_offsets), shape=(len(fa), buckets))
    return sparse.hstack([sparse.csr_matrix(dense), ng], format="csr")


def fit(features: FeatureArrays | Sequence[dict[str, Any]], targets: Sequence[float] | np.ndarray,
        weights: Sequence[float] | np.ndarray | None = None, *, seed: int = 0, penalties: Penalties | None = None,
        featurizer: Featurizer | None = None, training: dict[str, Any] | None = None,
        length_prior: float | None = None, offset: np.ndarray | None = None, idf: bool = False) -> LogRegModel:
    """Soft-label logistic regression on ``features`` (module docstring); ``targets`` in [0, 1].

    ``length_prior`` (default :data:`LENGTH_PRIOR`) blends a prompt-length prior into the
    fitted model: the logit gains ``length_prior * z``, z the prompt's log length
    (``log_chars_full``) standardised over the training rows (negative: shorter = route up).

    ``offset`` (one logit per row) is added to the model's logit during the fit: the fit learns a
    correction to another model (:func:`fit_correction`). ``idf`` divides each n-gram bucket's
    penalty by its squared inverse document frequency over these rows (relative to the median),
    which is what weighting the column by idf would do.

    ``featurizer`` (default: :meth:`Featurizer.load`) names the embedding and n-gram spec the
    features were made with. ``seed`` is recorded; the fit is convex and deterministic.
    """
    from .softfit import fit_soft_logreg

    feat = featurizer or Featurizer.load()
    pen = penalties or DEFAULT_PENALTIES
    raw = as_arrays(features, feat.dim)
    fa = _mask_blocks(raw, pen)
    t = np.asarray(targets, dtype=np.float64)
    w = np.ones(len(fa)) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(fa) < 2 or t.shape != (len(fa),) or w.shape != (len(fa),):
        raise ValueError(f"need at least 2 rows and one target and weight per row; got {len(fa)} rows, "
                         f"{t.shape} targets, {w.shape} weights")
    mean = fa.tf.mean(axis=0)
    sd = fa.tf.std(axis=0)
    scale = np.where(sd > 1e-9, sd, 1.0)
    dim, n_tf, buckets = feat.dim, fa.tf.shape[1], feat.ngrams.buckets if pen.ng is not None else 0
    # Only the buckets some row uses get a column: an unused bucket's weight is 0 at the optimum
    # anyway (no gradient, L2 penalty), and L-BFGS's cost per step grows with the column count.
    present = np.unique(fa.ng_ids) if buckets else np.zeros(0, dtype=np.int64)
    compact = FeatureArrays(fa.tf, fa.emb, np.searchsorted(present, fa.ng_ids), fa.ng_offsets)
    X = design(compact, mean, scale, len(present))
    lam = np.concatenate([np.full(dim, pen.emb or 1.0), np.full(n_tf, pen.tf or 1.0),
                          np.full(len(present), pen.ng or 1.0)])
    if idf and len(present):
        df = np.bincount(compact.ng_ids, minlength=len(present)).astype(np.float64)
        inv = np.log((1.0 + len(fa)) / (1.0 + df)) + 1.0
        lam[dim + n_tf:] *= (np.median(inv) / inv) ** 2
    fitted, intercept = fit_soft_logreg(X, t, w, lam, offset=offset)
    coef = np.zeros(dim + n_tf + buckets)
    coef[:dim + n_tf] = fitted[:dim + n_tf]
    coef[dim + n_tf + present] = fitted[dim + n_tf:]
    prior = LENGTH_PRIOR if length_prior is None else length_prior
    if prior:
        i = FEATURE_NAMES.index("log_chars_full")
        if pen.tf is None:  # the block is unused: standardise this column with the real statistics
            mean[i], scale[i] = raw.tf[:, i].mean(), max(float(raw.tf[:, i].std()), 1e-9)
        coef[dim + i] += prior
    ng_coef = coef[dim + n_tf:] if buckets else np.zeros(0)
    used = _kept_ngrams(ng_coef) if pen.ng is not None else np.zeros(0, dtype=np.int64)
    info = {"rows": len(fa), "seed": seed, "penalties": vars(pen), "target": "soft (0..1)", "length_prior": prior,
            "weight_sum": float(w.sum()), **(training or {})}
    return LogRegModel(coef=coef[:dim + n_tf], intercept=intercept, embedding=feat.embedder.describe(),
                       text={"chat": CHAT_MODE, "view": VIEW}, C=0.0, name=_name(pen), training=info,
                       features=["embedding", "text_features"] + (["ngrams"] if pen.ng is not None else []),
                       feature_mean=mean, feature_scale=scale, embedding_weight=1.0 if pen.emb is not None else 0.0,
                       ngrams=feat.ngrams if pen.ng is not None else None,
                       ngram_ids=used if pen.ng is not None else None,
                       ngram_coef=ng_coef[used] if pen.ng is not None else None)


def scaled(pen: Penalties, factor: float) -> Penalties:
    """Every used block's penalty times ``factor``."""
    return Penalties(*(None if v is None else v * factor for v in (pen.tf, pen.emb, pen.ng)))


def _kept_ngrams(coef: np.ndarray, keep: int = MAX_NGRAMS) -> np.ndarray:
    """Sorted bucket ids of the ``keep`` largest non-zero |weights| (the rest are dropped from the file)."""
    nonzero = np.flatnonzero(np.abs(coef) > 1e-7)
    if len(nonzero) > keep:
        nonzero = np.sort(nonzero[np.argsort(-np.abs(coef[nonzero]), kind="stable")[:keep]])
    return nonzero


def _mask_blocks(fa: FeatureArrays, pen: Penalties) -> FeatureArrays:
    """Zero the blocks the penalties leave out: constant-0 columns, so their coefficients stay 0."""
    tf = fa.tf if pen.tf is not None else np.zeros_like(fa.tf)
    emb = fa.emb if pen.emb is not None else np.zeros_like(fa.emb)
    if pen.ng is None:
        return FeatureArrays(tf, emb, np.zeros(0, dtype=np.int64), np.zeros(len(fa) + 1, dtype=np.int64))
    return FeatureArrays(tf, emb, fa.ng_ids, fa.ng_offsets)


def _name(pen: Penalties) -> str:
    parts = [p for p, v in (("features", pen.tf), ("static", pen.emb), ("ngrams", pen.ng)) if v is not None]
    return f"recipe-{'-'.join(parts)}-softlogreg"


def save_model(model: LogRegModel, featurizer: Featurizer, out_dir: str | Path) -> Path:
    """Write ``model.json`` and the static embedding files it loads with; returns the model path."""
    path = model.save(out_dir)
    featurizer.embedder.save(out_dir)
    return path


def training_set(data_dir: str | Path, exclude: Sequence[str] = (), *, featurizer: Featurizer | None = None,
                 cache_dir: str | Path | None = None, target: str | None = None,
                 weighting: str | None = None) -> Any:
    """The shipped default's training rows (:func:`classifiers.training.recipe_cache.build_training_set`)."""
    from .recipe_cache import build_training_set

    return build_training_set(data_dir, exclude, featurizer=featurizer or Featurizer.load(), cache_dir=cache_dir,
                              target=target, weighting=weighting)


def logits(model: LogRegModel, fa: FeatureArrays) -> np.ndarray:
    """The model's logit per row (its score before the sigmoid)."""
    p = np.clip(model.score_arrays(fa), 1e-12, 1.0 - 1e-12)
    return np.log(p) - np.log1p(-p)


def fit_correction(prior: LogRegModel, features: FeatureArrays | Sequence[dict[str, Any]],
                   targets: Sequence[float] | np.ndarray, weights: Sequence[float] | np.ndarray | None = None, *,
                   penalties: Penalties, featurizer: Featurizer | None = None,
                   training: dict[str, Any] | None = None, seed: int = 0, idf: bool = True) -> LogRegModel:
    """``prior`` corrected by labels: one model whose logit is the prior's plus a fitted correction.

    The correction is :func:`fit` with the prior's logit as a fixed offset per row (no length
    prior of its own), so its L2 penalties pull it towards the prior rather than towards an
    even score: with few labels the result stays near the prior, with many it follows them.
    Both are linear in the same features, so the sum is saved as one ordinary model
    (:func:`add_models`). With ``idf`` the n-gram block's penalties are scaled by each bucket's
    inverse document frequency over these rows (as tf-idf weighting would: rare n-grams move more)."""
    feat = featurizer or Featurizer.load()
    fa = as_arrays(features, feat.dim)
    correction = fit(fa, targets, weights, seed=seed, penalties=penalties, featurizer=feat,
                     length_prior=0.0, offset=logits(prior, fa), idf=idf)
    merged = add_models(prior, correction)
    merged.name = f"{prior.name}+correction"
    prior_info = {k: v for k, v in prior.training.items() if k != "score_quantiles"}  # the start model's card
    merged.training = {**(training or {}), "prior": {"name": prior.name, **prior_info},
                       "correction": correction.training}
    return merged


def add_models(a: LogRegModel, b: LogRegModel, *, keep: int = 2 * MAX_NGRAMS) -> LogRegModel:
    """The model whose logit is ``a``'s plus ``b``'s (same embedding; text features re-based on ``a``'s
    standardisation; n-gram weights summed per bucket, the ``keep`` largest kept: exact while the
    two models use at most ``keep`` buckets together, as a shipped model and a correction do)."""
    if a.embedding.get("dim") != b.embedding.get("dim") or a.dim != b.dim:
        raise ValueError("models over different features cannot be added")
    if b.ngrams is not None and a.ngrams is not None and b.ngrams != a.ngrams:
        raise ValueError("models with different n-gram specs cannot be added")
    dim = int(a.embedding["dim"])
    coef = a.coef + b.coef
    intercept = a.intercept + b.intercept
    mean, scale = a.feature_mean, a.feature_scale
    if b.uses_text_features:
        assert b.feature_mean is not None and b.feature_scale is not None
        if mean is None or scale is None:
            mean, scale = b.feature_mean, b.feature_scale
        else:  # b's (tf - m_b) / s_b · c  ==  (tf - m_a) / s_a · (c s_a / s_b)  +  (m_a - m_b) / s_b · c
            c = b.coef[dim:]
            coef[dim:] = a.coef[dim:] + c * scale / b.feature_scale
            intercept += float(((mean - b.feature_mean) / b.feature_scale) @ c)
    spec = a.ngrams or b.ngrams
    ids = ng = None
    if spec is not None:
        table = np.zeros(spec.buckets)
        for m in (a, b):
            if m.ngrams is not None:
                assert m.ngram_ids is not None and m.ngram_coef is not None
                table[m.ngram_ids] += m.ngram_coef
        ids = _kept_ngrams(table, keep)
        ng = table[ids]
    features = ["embedding", "text_features"] + (["ngrams"] if spec is not None else [])
    return LogRegModel(coef=coef, intercept=intercept, embedding=dict(a.embedding), text=dict(a.text), C=0.0,
                       name=a.name, training=dict(a.training), features=features, feature_mean=mean,
                       feature_scale=scale, embedding_weight=1.0, ngrams=spec, ngram_ids=ids, ngram_coef=ng)
