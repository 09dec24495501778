"""The recipe API (classifiers/training/recipe.py): features, soft fit, /3 model files, training set, cache."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import orjson
import pytest

from classifiers.feature_arrays import FeatureArrays
from classifiers.featurize import Featurizer
from classifiers.logreg import LogRegModel, load_classifier
from classifiers.ngrams import NgramSpec, ngram_ids, tokens
from classifiers.training.recipe import Penalties, fit, save_model, training_set
from classifiers.training.softfit import fit_soft_logreg
from classifiers.training.targets import difficulty

HARD = ["Prove the theorem about primes {i} using modular arithmetic and induction." for i in range(30)]
EASY = ["hi there friend number {i}, how are you" for i in range(30)]


@pytest.fixture(scope="module")
def featurizer() -> Featurizer:
    return Featurizer.load()


def test_ngram_ids_use_a_stable_hash() -> None:
    spec = NgramSpec(buckets=1000, orders=(1, 2))
    assert tokens("Hello, World!", 10) == ["hello", ",", "world", "!"]
    want = sorted({zlib.crc32(s.encode()) % 1000 for s in ["hello", "world", "hello world"]})
    assert ngram_ids("Hello world", spec) == want
    assert ngram_ids("a b c d", NgramSpec(orders=(1,), max_tokens=2)) == sorted(
        {zlib.crc32(b"a") % 2**18, zlib.crc32(b"b") % 2**18})


def test_features_are_compact_json_without_the_text(featurizer: Featurizer) -> None:
    text = "Explain the secret word zanzibarquux in detail?"
    feats = featurizer.features([text, ""])
    blob = json.dumps(feats)
    assert "zanzibarquux" not in blob and len(feats) == 2
    assert len(feats[0]["tf"]) == 14 and len(feats[0]["emb"]) == featurizer.dim and feats[1]["ng"] == []
    assert feats[0]["ng"] == sorted(set(feats[0]["ng"]))
    back = FeatureArrays.from_dicts(json.loads(blob), featurizer.dim)
    direct = featurizer.arrays([text, ""])
    assert np.allclose(back.tf, direct.tf, atol=1e-4) and np.allclose(back.emb, direct.emb, atol=1e-3)
    assert back.ng_lists() == direct.ng_lists()
    assert "static=" in featurizer.spec and "crc32" in featurizer.spec


def test_soft_fit_matches_weighted_duplicated_rows() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    t = 1 / (1 + np.exp(-(X @ [1.5, -1.0, 0.0])))
    w = rng.uniform(0.5, 2.0, size=200)
    lam = 0.01
    coef, b = fit_soft_logreg(X, t, w, np.full(3, lam))
    Xd, yd, wd = np.vstack([X, X]), np.r_[np.ones(200), np.zeros(200)], np.r_[w * t, w * (1 - t)]
    ref = LogisticRegression(C=1.0 / (lam * w.sum()), tol=1e-10, max_iter=10000).fit(Xd, yd, sample_weight=wd)
    assert np.allclose(coef, ref.coef_[0], atol=1e-3) and abs(b - ref.intercept_[0]) < 1e-3


def test_fit_learns_and_round_trips_through_a_v3_file(featurizer: Featurizer, tmp_path: Path) -> None:
    texts = HARD + EASY
    targets = np.r_[np.full(30, 0.9), np.full(30, 0.1)]
    model = fit(featurizer.features(texts), targets, featurizer=featurizer)
    assert model.ngrams is not None and model.to_json()["format"] == "tierroute.logreg/3"
    save_model(model, featurizer, tmp_path)
    clf = load_classifier(tmp_path)
    held_out = ["Prove the lemma about primes using induction.", "hi there, how are you doing"]
    by_text = clf.score(held_out)
    by_features = clf.score_features(featurizer.features(held_out))
    assert by_text[0] > by_text[1] + 0.1
    assert np.allclose(by_text, by_features, atol=1e-3)


def test_blocks_left_out_get_zero_weight(featurizer: Featurizer) -> None:
    texts = HARD + EASY
    targets = np.r_[np.full(30, 0.8), np.full(30, 0.2)]
    model = fit(featurizer.arrays(texts), targets, penalties=Penalties(tf=1e-3, emb=None, ng=None),
                featurizer=featurizer)
    assert model.ngrams is None and model.to_json()["format"] == "tierroute.logreg/2"
    assert np.all(model.coef[:featurizer.dim] == 0) and np.any(model.coef[featurizer.dim:] != 0)
    assert LogRegModel.from_json(model.to_json()).embedding_weight == 0.0


def test_v3_file_with_a_bad_ngram_block_is_refused(featurizer: Featurizer) -> None:
    model = fit(featurizer.arrays(HARD + EASY), np.r_[np.ones(30), np.zeros(30)], featurizer=featurizer)
    obj = model.to_json()
    obj["ngrams"]["ids"] = [2**18 + 5] + obj["ngrams"]["ids"][1:]
    with pytest.raises(ValueError, match="bucket ids"):
        LogRegModel.from_json(obj)
    obj["format"] = "tierroute.logreg/2"
    with pytest.raises(ValueError, match="format"):
        LogRegModel.from_json(obj)


def test_difficulty_targets() -> None:
    s = np.array([[1, 1, 1, 0], [0, 0, 0, 0], [1, 0, np.nan, 0], [1, 1, 0, 0.5]], dtype=float)
    mean = difficulty(s, "mean")
    assert np.allclose(mean, [0.25, 1.0, 2 / 3, 0.375])
    assert np.argsort(difficulty(s, "rank")).tolist() == np.argsort(mean).tolist()
    assert np.allclose(sorted(difficulty(s, "rank")), [0.125, 0.375, 0.625, 0.875])
    complete = np.array([[1, 1, 1], [1, 0, 0], [0, 0, 0], [1, 1, 0]], dtype=float)
    irt = difficulty(complete, "irt")
    assert np.argsort(irt).tolist() == np.argsort(difficulty(complete, "mean")).tolist()
    assert np.all((irt > 0) & (irt < 1))
    with pytest.raises(ValueError):
        difficulty(s, "nope")


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))


def test_training_set_uses_allowed_train_rows_and_caches(featurizer: Featurizer, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    mm = [{"id": f"m{i}", "prompt": f"question {i} about physics", "split": "train" if i < 8 else "test",
           "scores": {"a": float(i % 2), "b": 1.0, "c": 0.0}} for i in range(10)]
    _write(data / "multimodel" / "mmlupro.jsonl", mm)
    _write(data / "multimodel" / "arenabench.jsonl",
           [{"id": "a0", "prompt": "chat", "split": "train", "scores": {"x": 0.2, "y": 0.6}}])
    _write(data / "alpaca_eval_wide.jsonl", [{"id": "z", "prompt": "never", "split": "train", "scores": {"x": 1.0}}])
    _write(data / "multimodel" / "mmlupro__pair.jsonl", [{"id": "p", "prompt": "pair", "weak_score": 0,
                                                          "strong_score": 1, "split": "train"}])
    cache = tmp_path / "cache"
    ts = training_set(data, featurizer=featurizer, cache_dir=cache, target="mean")
    assert len(ts) == 9 and ts.ids[:8] == [f"m{i}" for i in range(8)] and ts.ids[8] == "a0"
    assert [p["file"] for p in ts.provenance] == ["multimodel/mmlupro.jsonl", "multimodel/arenabench.jsonl"]
    assert np.allclose(ts.targets[:2], [2 / 3, 1 / 3]) and np.isclose(ts.targets[8], 0.6)
    assert ts.source.tolist() == [0] * 8 + [1] and np.isclose(ts.weights.mean(), 1.0)
    assert len(ts.features) == 9 and len(list((cache / "recipe").glob("*.npz"))) == 2

    def boom(texts: object) -> None:
        raise AssertionError("features recomputed despite the cache")

    monkeypatch.setattr(featurizer, "arrays", boom)
    again = training_set(data, featurizer=featurizer, cache_dir=cache, weighting="file", target="mean")
    assert np.allclose(again.arrays.emb, ts.arrays.emb) and again.weights[8] > again.weights[0]
    only_arena = training_set(data, exclude=("mmlupro",), featurizer=featurizer, cache_dir=cache, target="mean")
    assert only_arena.ids == ["a0"]


def test_length_prior_shifts_scores_by_standardised_length(featurizer: Featurizer) -> None:
    texts = HARD + EASY
    targets = np.r_[np.full(30, 0.7), np.full(30, 0.3)]
    fa = featurizer.arrays(texts)
    plain = fit(fa, targets, featurizer=featurizer, length_prior=0.0)
    prior = fit(fa, targets, featurizer=featurizer, length_prior=-1.0)
    logit = [np.log(m.score_arrays(fa) / (1 - m.score_arrays(fa))) for m in (plain, prior)]
    z = (fa.tf[:, 3] - fa.tf[:, 3].mean()) / fa.tf[:, 3].std()
    assert np.allclose(logit[1] - logit[0], -z, atol=1e-6)
    assert prior.training["length_prior"] == -1.0


def test_training_set_pair_and_mixed_targets(featurizer: Featurizer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    rows = [{"id": f"m{i}", "prompt": f"q {i}", "split": "train", "scores": {"a": 0.0, "b": 1.0, "c": 1.0}}
            for i in range(4)]
    _write(data / "multimodel" / "mmlupro.jsonl", rows)
    _write(data / "multimodel" / "mmlupro__pair.jsonl",
           [{"id": f"m{i}", "prompt": f"q {i}", "weak_score": float(i % 2), "strong_score": 1.0, "split": "train"}
            for i in range(3)])  # m3 has no pair row
    _write(data / "multimodel" / "llmrouter.jsonl",
           [{"id": "l0", "prompt": "x", "split": "train", "scores": {"a": 0.25, "b": 0.75}}])
    pair = training_set(data, featurizer=featurizer, cache_dir=tmp_path / "c", target="pair")
    assert pair.ids == ["m0", "m1", "m2"] and pair.targets.tolist() == [1.0, 0.0, 1.0]
    mixed = training_set(data, featurizer=featurizer, cache_dir=tmp_path / "c", target="mixed")
    assert mixed.ids == ["m0", "m1", "m2", "m3", "l0"]
    assert np.allclose(mixed.targets, [1.0, 0.0, 1.0, 1 / 3, 0.5])


def test_a_target_that_drops_rows_reads_the_right_cached_features(featurizer: Featurizer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    rows = [{"id": f"m{i}", "prompt": f"question number {i}", "split": "train", "scores": {"a": 0.0, "b": 1.0}}
            for i in range(5)]
    _write(data / "multimodel" / "mmlupro.jsonl", rows)
    _write(data / "multimodel" / "mmlupro__pair.jsonl",
           [{"id": f"m{i}", "prompt": "", "weak_score": 0.0, "strong_score": 1.0} for i in (1, 3)])
    cache = tmp_path / "c"
    every = training_set(data, featurizer=featurizer, cache_dir=cache, target="mean")  # fills the cache
    pair = training_set(data, featurizer=featurizer, cache_dir=cache, target="pair")
    assert pair.ids == ["m1", "m3"] and len(pair.arrays) == 2
    assert np.allclose(pair.arrays.emb, every.arrays.emb[[1, 3]])
