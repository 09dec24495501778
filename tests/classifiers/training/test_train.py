from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from classifiers.fake import HashEmbedder
from classifiers.logreg import load_classifier
from classifiers.training.cli import _train_command, add_train_arguments
from classifiers.training.train import train


def synthetic_rows(n: int = 120) -> list[dict[str, object]]:
    """Prompts with 'proof' gain from the strong model; others are answered equally well.

    The hard prompts are the shorter ones, so the prompt-length baseline routes backwards.
    """
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        hard = i % 3 == 0
        words = " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "omega"], 4))
        lead = "prove theorem proof" if hard else "say hello to everyone in the room today"
        rows.append({"id": str(i), "prompt": f"{lead} {words}",
                     "weak_score": 0.0 if hard else 1.0, "strong_score": 1.0,
                     "split": "train" if i < n - 10 else "test", "task": "synthetic"})
    return rows


def test_train_writes_model_and_card_and_beats_baselines(write_jsonl, tmp_path: Path) -> None:
    data = write_jsonl(synthetic_rows())
    out = tmp_path / "model"
    report = train(data, out, embedder=HashEmbedder(), seed=1)
    assert report.rows == 110 and report.dev_rows == 22 and report.fit_rows == 88
    assert set(report.dev) == {"model", "prompt_length", "bag_of_words", "random", "oracle"}
    assert report.dev["model"]["apgr"] > 0.75
    assert report.dev["prompt_length"]["apgr"] < 0.5
    assert report.dev["random"]["apgr"] == pytest.approx(0.5, abs=0.05)
    obj = json.loads((out / "model.json").read_text())
    assert obj["training"]["rows"] == 110 and obj["training"]["split"] == "train"
    assert obj["training"]["dev"]["model"]["apgr"] == report.dev["model"]["apgr"]
    card = (out / "MODEL_CARD.md").read_text()
    assert "pairs.jsonl" in card and f"tierroute train {data} -o {out}" in card
    assert "| prompt_length |" in card and "Licence" in card
    clf = load_classifier(out, embedder=HashEmbedder())
    hard, easy = clf.score(["prove theorem proof alpha", "say hello to everyone in the room today beta"])
    assert hard > easy


def test_train_refuses_single_label_data(write_jsonl, tmp_path: Path) -> None:
    rows = [{"id": str(i), "prompt": "p", "weak_score": 1.0, "strong_score": 1.0, "split": "train"} for i in range(30)]
    with pytest.raises(ValueError, match="both labels"):
        train(write_jsonl(rows), tmp_path / "m", embedder=HashEmbedder())
    with pytest.raises(ValueError, match="dev_fraction"):
        train(write_jsonl(rows), tmp_path / "m", embedder=HashEmbedder(), dev_fraction=0.0)


def test_train_arguments_and_command() -> None:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    ns = parser.parse_args(["d.jsonl", "-o", "out"])
    assert (ns.data, ns.out, ns.split, ns.dev_fraction, ns.seed) == ("d.jsonl", "out", "train", 0.2, 0)
    assert _train_command(ns) == "tierroute train d.jsonl -o out"
    ns = parser.parse_args(["d.jsonl", "--out", "o", "--split", "all", "--seed", "3", "--dev-fraction", "0.1"])
    assert _train_command(ns) == "tierroute train d.jsonl -o o --split all --dev-fraction 0.1 --seed 3"
    with pytest.raises(SystemExit):
        parser.parse_args(["d.jsonl"])  # -o is required


def test_fit_classifier_is_the_recipe_in_memory() -> None:
    from classifiers.training.data import PairRow
    from classifiers.training.train import fit_classifier

    rows = [PairRow(id=r["id"], prompt=r["prompt"], weak_score=r["weak_score"], strong_score=r["strong_score"])
            for r in synthetic_rows(60)]
    clf = fit_classifier(rows, embedder=HashEmbedder())
    info = clf.describe()
    assert info["text"] == {"chat": "last_user", "view": "focus"}
    assert info["features"] == ["embedding", "text_features"] and info["embedding_weight"] in (0.0, 1.0)
    hard, easy = clf.score(["prove theorem proof alpha", "say hello to everyone in the room today beta"])
    assert hard > easy
    with pytest.raises(ValueError, match="both labels"):
        fit_classifier(rows[1:3] * 5, embedder=HashEmbedder())


def test_fit_classifier_with_the_shipped_static_embedding() -> None:
    from classifiers.training.data import PairRow
    from classifiers.training.train import fit_classifier

    rows = [PairRow(id=r["id"], prompt=r["prompt"], weak_score=r["weak_score"], strong_score=r["strong_score"])
            for r in synthetic_rows(60)]
    clf = fit_classifier(rows)
    assert clf.describe()["embedding"]["kind"] == "static"
    hard, easy = clf.score(["prove theorem proof alpha", "say hello to everyone in the room today beta"])
    assert hard > easy


def test_train_with_static_embedder_writes_a_self_contained_dir(write_jsonl, tmp_path: Path) -> None:
    from classifiers.training.train import default_embedder

    out = tmp_path / "model"
    train(write_jsonl(synthetic_rows()), out, embedder=default_embedder(), seed=1)
    assert {p.name for p in out.iterdir()} == {"model.json", "MODEL_CARD.md", "static.npz", "static.json",
                                               "tokenizer.json"}
    clf = load_classifier(out)  # no embedder passed: the static files in `out` are used
    hard, easy = clf.score(["prove theorem proof alpha", "say hello to everyone in the room today beta"])
    assert hard > easy
    assert "| bag_of_words |" in (out / "MODEL_CARD.md").read_text()
