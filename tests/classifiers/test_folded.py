"""The folded one-text scorer gives the batch path's probabilities, for every shape of model it folds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers.features import FEATURE_NAMES, focus_text
from classifiers.logreg import EmbeddingLogRegClassifier, LogRegModel, load_classifier
from classifiers.static import StaticEmbedder

from .test_wordpiece import SHARED_DATA, shared_prompts

TEXTS = ["Hi!", "", "   ", "Write a Python function that merges two sorted lists.", "Prove that sqrt(2) is irrational.",
         "Q: 2+2?\nA: 4\n\nQ: 3+3?\nA: 6\n\nQ: 5+7?\nA:", "Résumé en français, s'il vous plaît.", "[UNK] [UNK]",
         "zzqx " * 300, "def f(x):\n    return {x: [1, 2]}\n\nExplain this code.", "日本語のテキスト"]


def batch_scores(clf: EmbeddingLogRegClassifier, texts: list[str]) -> np.ndarray:
    """The batch path's arrays: embeddings of the views, standardised text features, n-gram sums."""
    m = clf.model
    views = [focus_text(t) for t in texts] if m.view == "focus" else texts
    emb = clf.embedder.encode(views) if m.embedding_weight != 0.0 else np.zeros((len(texts), clf.embedder.dim))
    return m.predict_proba(m.inputs(emb, texts), m.text_ngram_z(texts))


@pytest.fixture(scope="module")
def shipped() -> EmbeddingLogRegClassifier:
    clf = load_classifier()
    assert isinstance(clf, EmbeddingLogRegClassifier) and isinstance(clf.embedder, StaticEmbedder)
    return clf


def test_the_shipped_model_scores_text_by_text(shipped: EmbeddingLogRegClassifier) -> None:
    assert shipped.folded is not None  # the static embedder takes the folded path
    np.testing.assert_allclose(shipped.score(TEXTS), batch_scores(shipped, TEXTS), rtol=0, atol=1e-6)
    assert [float(shipped.score([t])[0]) for t in TEXTS] == shipped.score(TEXTS).tolist()


def test_equal_to_the_batch_path_on_the_shared_prompts(shipped: EmbeddingLogRegClassifier) -> None:
    prompts = shared_prompts(1_500)
    if not prompts:
        pytest.skip(f"no routing data at {SHARED_DATA}")
    folded = shipped.score(prompts)
    np.testing.assert_allclose(folded, batch_scores(shipped, prompts), rtol=0, atol=1e-6)
    assert ((folded >= 0.5) == (batch_scores(shipped, prompts) >= 0.5)).mean() > 0.999


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_equal_to_the_batch_path_on_any_text(shipped: EmbeddingLogRegClassifier, text: str) -> None:
    assert float(shipped.score([text])[0]) == pytest.approx(float(batch_scores(shipped, [text])[0]), abs=1e-6)


def variant(shipped: EmbeddingLogRegClassifier, *, normalize: bool = True, embedding_weight: float = 1.0,
            text_features: bool = True, ngrams: bool = True, seed: int = 0) -> EmbeddingLogRegClassifier:
    """The shipped embedder and tokenizer under another config, with random coefficients."""
    e = shipped.embedder
    assert isinstance(e, StaticEmbedder)
    embedder = StaticEmbedder(e._tokenizer, e.vectors, dataclasses.replace(e.config, normalize=normalize))  # noqa: SLF001
    rng = np.random.default_rng(seed)
    m = shipped.model
    n_tf = len(FEATURE_NAMES) if text_features else 0
    features = ["embedding"] + (["text_features"] if text_features else []) + (["ngrams"] if ngrams else [])
    model = dataclasses.replace(
        m, coef=rng.normal(0, 2, e.dim + n_tf), intercept=float(rng.normal()), features=features,
        embedding_weight=embedding_weight, feature_mean=rng.normal(0, 1, n_tf) if text_features else None,
        feature_scale=rng.uniform(0.5, 2, n_tf) if text_features else None,
        ngrams=m.ngrams if ngrams else None, ngram_ids=m.ngram_ids if ngrams else None,
        ngram_coef=rng.normal(0, 1, len(m.ngram_ids)) if ngrams and m.ngram_ids is not None else None,
        _ngram_table=None, _ngram_hasher=None)
    return EmbeddingLogRegClassifier(embedder, model)


@pytest.mark.parametrize("shape", [
    {"normalize": False}, {"embedding_weight": 0.0}, {"text_features": False}, {"ngrams": False},
    {"text_features": False, "ngrams": False, "normalize": False},
])
def test_every_model_shape_folds_to_the_batch_scores(shipped: EmbeddingLogRegClassifier, shape: dict) -> None:
    clf = variant(shipped, **shape)
    # random weights of scale 2 magnify the batch path's float32 average of 1,500 token rows ("zzqx " * 300)
    np.testing.assert_allclose(clf.score(TEXTS), batch_scores(clf, TEXTS), rtol=0, atol=1e-5)


def test_an_embedder_that_is_not_static_keeps_the_batch_path() -> None:
    from classifiers.fake import HashEmbedder  # a deterministic non-static embedder

    model = LogRegModel(coef=np.ones(8), intercept=0.0, embedding={"model_id": "hash", "dim": 8})
    clf = EmbeddingLogRegClassifier(HashEmbedder(dim=8, model_id="hash"), model)
    assert clf.folded is None  # noqa: SLF001
    assert clf.score(["a", "b"]).shape == (2,)

