from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from classifiers.base import Classifier
from classifiers.fake import HashEmbedder
from classifiers.features import FEATURE_NAMES, feature_matrix
from classifiers.logreg import EmbeddingLogRegClassifier, LogRegModel, default_model_dir, load_classifier
from classifiers.training.logreg_fit import fit_logreg

TEXTS = [f"easy chat {i}" for i in range(20)] + [f"hard proof theorem {i}" for i in range(20)]
LABELS = np.array([0] * 20 + [1] * 20)


def fitted(embedder: HashEmbedder) -> LogRegModel:
    return fit_logreg(embedder.encode(TEXTS), LABELS, embedding=embedder.describe(), C=1.0,
                           training={"data": "synthetic"})


def test_fit_and_score_separates() -> None:
    emb = HashEmbedder()
    clf = EmbeddingLogRegClassifier(emb, fitted(emb))
    assert isinstance(clf, Classifier)
    s = clf.score(["hard theorem proof", "easy chat"])
    assert s.shape == (2,) and np.all((s >= 0) & (s <= 1))
    assert s[0] > 0.5 > s[1]
    assert clf.score([]).shape == (0,)


def test_choose_c_from_grid() -> None:
    emb = HashEmbedder()
    model = fit_logreg(emb.encode(TEXTS), LABELS, embedding=emb.describe(), C=None)
    assert model.C in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0) and model.embedding_weight == 1.0


def test_text_features_and_focus_view_round_trip(tmp_path: Path) -> None:
    emb = HashEmbedder()
    texts = [f"{t}\n\n{t}" for t in TEXTS]
    model = fit_logreg(emb.encode(texts), LABELS, embedding=emb.describe(), C=1.0,
                            text_features=feature_matrix(texts), text={"chat": "last_user", "view": "focus"})
    assert model.features == ["embedding", "text_features"] and model.dim == 64 + len(FEATURE_NAMES)
    model.save(tmp_path)
    obj = json.loads((tmp_path / "model.json").read_text())
    assert obj["text_features"]["names"] == list(FEATURE_NAMES) and len(obj["coef"]) == model.dim
    before = EmbeddingLogRegClassifier(emb, model).score(texts)
    np.testing.assert_allclose(load_classifier(tmp_path, embedder=emb).score(texts), before)
    obj["text_features"]["scale"][0] = 0.0
    (tmp_path / "model.json").write_text(json.dumps(obj))
    with pytest.raises(ValueError, match="scale"):
        LogRegModel.load(tmp_path)


def test_embedding_weight_zero_drops_the_embedding() -> None:
    emb = HashEmbedder()
    model = fit_logreg(emb.encode(TEXTS), LABELS, embedding=emb.describe(), C=1.0,
                            text_features=feature_matrix(TEXTS), embedding_weight=0.0)
    assert model.embedding_weight == 0.0 and not model.coef[:64].any()
    chosen = fit_logreg(emb.encode(TEXTS), LABELS, embedding=emb.describe(), C=None,
                             text_features=feature_matrix(TEXTS), embedding_weight=None)
    assert chosen.embedding_weight in (0.0, 1.0)


def test_version_1_files_still_load(tmp_path: Path) -> None:
    obj = {**fitted(HashEmbedder()).to_json(), "format": "tierroute.logreg/1"}
    obj.pop("embedding_weight")
    (tmp_path / "model.json").write_text(json.dumps(obj))
    model = LogRegModel.load(tmp_path)
    assert model.view == "full" and model.features == ["embedding"] and model.embedding_weight == 1.0


def test_save_load_round_trip_is_plain_json(tmp_path: Path) -> None:
    emb = HashEmbedder()
    model = fitted(emb)
    path = model.save(tmp_path / "m")
    raw = path.read_bytes()
    assert path.name == "model.json" and len(raw) < 100_000
    obj = json.loads(raw)  # plain JSON, not a pickle
    assert obj["format"] == "tierroute.logreg/2" and obj["embedding"]["model_id"] == "fake/hash-bow"
    assert len(obj["coef"]) == 64 and obj["features"] == ["embedding"] and obj["text"] == {"chat": "last_user"}
    with pytest.raises(pickle.UnpicklingError):
        pickle.loads(raw)
    loaded = LogRegModel.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.coef, model.coef)
    assert loaded.intercept == model.intercept and loaded.training == {"data": "synthetic"}
    before = EmbeddingLogRegClassifier(emb, model).score(TEXTS)
    after = load_classifier(tmp_path / "m", embedder=emb).score(TEXTS)
    np.testing.assert_allclose(after, before)


def test_embedding_mismatch_is_refused(tmp_path: Path) -> None:
    fitted(HashEmbedder()).save(tmp_path)
    with pytest.raises(ValueError, match="trained on fake/hash-bow"):
        load_classifier(tmp_path, embedder=HashEmbedder(dim=32))
    with pytest.raises(ValueError, match="trained on fake/hash-bow"):
        load_classifier(tmp_path, embedder=HashEmbedder(model_id="other/model"))
    with pytest.raises(ValueError, match="only sentence-transformers/all-MiniLM-L6-v2"):
        load_classifier(tmp_path)  # no embedder given and not a MiniLM model


@pytest.mark.parametrize("patch, message", [
    ({"format": "other"}, "not a tierroute.logreg/2"),
    ({"text": {"chat": "last_user", "view": "middle"}}, "unknown text view"),
    ({"features": ["embedding", "length"]}, "unsupported feature set"),
    ({"coef": [0.0] * 3}, "coef"),
    ({"intercept": None}, "intercept"),
])
def test_invalid_files_are_refused(tmp_path: Path, patch: dict, message: str) -> None:
    obj = {**fitted(HashEmbedder()).to_json(), **patch}
    (tmp_path / "model.json").write_text(json.dumps(obj))
    with pytest.raises(ValueError, match=message):
        LogRegModel.load(tmp_path)


def test_shipped_default_is_small_json() -> None:
    d = default_model_dir()
    assert (d / "model.json").stat().st_size < 1_500_000  # the n-gram block: at most MAX_NGRAMS weights
    for f in d.iterdir():
        assert f.stat().st_size < 2 * 1024 * 1024, f"{f.name} is over the repository's 2 MiB limit"
    model = LogRegModel.load(d)
    assert model.embedding["kind"] == "static" and model.embedding["dim"] == 64
    assert model.text == {"chat": "last_user", "view": "focus"} and model.uses_text_features
    assert model.training["split"] == "train" and "routerbench0shot_subset.jsonl" in model.training["data"]
    assert not any(f["file"].startswith("alpaca") for f in model.training["files"])
    assert model.ngrams is not None and model.ngram_ids is not None and len(model.ngram_ids) <= 40_000
    assert (d / "MODEL_CARD.md").is_file()
