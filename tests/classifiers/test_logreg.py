from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from classifiers.base import Classifier
from classifiers.fake import HashEmbedder
from classifiers.logreg import EmbeddingLogRegClassifier, LogRegModel, default_model_dir, load_classifier

TEXTS = [f"easy chat {i}" for i in range(20)] + [f"hard proof theorem {i}" for i in range(20)]
LABELS = np.array([0] * 20 + [1] * 20)


def fitted(embedder: HashEmbedder) -> LogRegModel:
    return LogRegModel.fit(embedder.encode(TEXTS), LABELS, embedding=embedder.describe(), C=1.0,
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
    model = LogRegModel.fit(emb.encode(TEXTS), LABELS, embedding=emb.describe())
    assert model.C in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


def test_save_load_round_trip_is_plain_json(tmp_path: Path) -> None:
    emb = HashEmbedder()
    model = fitted(emb)
    path = model.save(tmp_path / "m")
    raw = path.read_bytes()
    assert path.name == "model.json" and len(raw) < 100_000
    obj = json.loads(raw)  # plain JSON, not a pickle
    assert obj["format"] == "tierroute.logreg/1" and obj["embedding"]["model_id"] == "fake/hash-bow"
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
    ({"format": "other"}, "not a tierroute.logreg/1"),
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
    path = default_model_dir() / "model.json"
    assert path.stat().st_size < 100_000
    model = LogRegModel.load(default_model_dir())
    assert model.embedding["model_id"] == "sentence-transformers/all-MiniLM-L6-v2" and model.dim == 384
    assert model.training["split"] == "train" and model.training["data"] == "routerbench0shot_mistral7b_vs_gpt4.jsonl"
    assert (default_model_dir() / "MODEL_CARD.md").is_file()
