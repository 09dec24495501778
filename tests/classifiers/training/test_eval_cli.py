"""`tierroute eval`: tables, JSON, plot, cross-validation and baselines on crafted data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from classifiers import logreg
from classifiers.fake import FunctionClassifier
from router.cli import main


def _hard(text: str) -> float:
    return 0.9 if "prove" in text else 0.1


@pytest.fixture
def pairs(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(200):
        hard = i % 3 == 0
        words = " ".join(rng.choice(["alpha", "beta", "gamma", "delta"], 3))
        rows.append({"id": str(i), "prompt": ("prove the theorem " if hard else "say hi ") + words,
                     "weak_score": 0.0 if hard else 1.0, "strong_score": 1.0, "split": "test" if i % 2 else "train",
                     "contaminated": i == 5})
    rows.append({"id": "null", "prompt": "x", "weak_score": None, "strong_score": 1.0})
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_eval_prints_model_and_baselines_and_json(pairs: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(logreg, "load_classifier", lambda model_dir=None: FunctionClassifier(_hard))
    plot = tmp_path / "curves.png"
    assert main(["eval", str(pairs), "--split", "test", "--plot", str(plot), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert result["n"] == 99  # the 100 test rows minus the contaminated one; the null row is skipped
    assert result["apgr"] > 0.8 and set(result["baselines"]) == {"random", "prompt_length"}
    assert 0.4 < result["baselines"]["random"]["apgr"] < 0.6
    text = "\n".join(out)
    assert "quality by share of strong calls" in text and "oracle" in text
    assert plot.stat().st_size > 10_000


def test_contaminated_rows_are_dropped_unless_kept(pairs: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(logreg, "load_classifier", lambda model_dir=None: FunctionClassifier(_hard))
    main(["eval", str(pairs), "--json"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["n"] == 199
    main(["eval", str(pairs), "--json", "--keep-contaminated"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["n"] == 200


def test_cross_validation_trains_per_fold_and_adds_bag_of_words(pairs: Path, monkeypatch, capsys) -> None:
    from classifiers.training import recipe

    fitted: list[int] = []
    real_fit = recipe.fit

    def fit(features, targets, weights=None, **kw):
        fitted.append(len(targets))
        return real_fit(features, targets, weights, **kw)

    monkeypatch.setattr("classifiers.training.recipe_cv.fit", fit)
    assert main(["eval", str(pairs), "--cv", "4", "--cv-from", "labels", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert fitted == [149, 149, 149, 150]  # 4 folds of 199 rows, each trained without its held-out quarter
    assert "bag_of_words" in result["baselines"] and result["apgr"] > 0.8


def test_cross_validation_learns_from_the_start_model_by_default(pairs: Path, monkeypatch, capsys) -> None:
    from classifiers.training.adapt import Trainer

    made: list[tuple[str, int]] = []
    real_make = Trainer.make

    def make(self, recipe, feats, targets, training=None):
        made.append((str(recipe), len(targets)))
        assert self.prior is not None  # the shipped model, corrected by each fold's labels
        return real_make(self, recipe, feats, targets, training)

    monkeypatch.setattr(Trainer, "make", make)
    assert main(["eval", str(pairs), "--cv", "4", "--json"]) == 0
    out = capsys.readouterr().out
    assert [n for _, n in made] == [149, 149, 149, 150]  # below MIN_FOR_CHOICE rows: the learner's default recipe
    assert {r for r, _ in made} == {"correct:3"} and "starting from the shipped model" in out
    assert json.loads(out.strip().splitlines()[-1])["apgr"] > 0.8


def test_too_few_rows(tmp_path: Path, capsys) -> None:
    path = tmp_path / "tiny.jsonl"
    path.write_text(json.dumps({"id": "1", "prompt": "a", "weak_score": 0, "strong_score": 1}) + "\n")
    assert main(["eval", str(path)]) == 1


@pytest.fixture
def multi(tmp_path: Path) -> Path:
    rows = []
    for i in range(120):
        hard = i % 3 == 0
        rows.append({"id": str(i), "prompt": ("prove the theorem " if hard else "say hi ") + str(i % 7),
                     "split": "test" if i % 4 == 0 else "train",
                     "scores": {"org/weak": 0.0 if hard else 1.0, "strong": 1.0, "mid": 0.0 if hard else 0.5}})
    rows[1]["scores"]["strong"] = None
    path = tmp_path / "multi.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_multi_model_file_needs_and_builds_a_pair_view(multi: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(logreg, "load_classifier", lambda model_dir=None: FunctionClassifier(_hard))
    assert main(["eval", str(multi)]) == 1
    assert "--weak" in capsys.readouterr().err
    assert main(["eval", str(multi), "--weak", "weak", "--strong", "strong", "--split", "train", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == 89 and result["apgr"] > 0.8  # 90 train rows minus the one with a null strong score


@pytest.mark.parametrize("target", ["pair", "difficulty"])
def test_cv_trains_the_recipe_on_the_chosen_target(multi: Path, monkeypatch, capsys, target: str) -> None:
    from classifiers.training import recipe

    seen: list[np.ndarray] = []
    real_fit = recipe.fit

    def spy(features, targets, weights=None, **kw):
        seen.append(np.asarray(targets))
        return real_fit(features, targets, weights, **kw)

    monkeypatch.setattr("classifiers.training.recipe_cv.fit", spy)
    assert main(["eval", str(multi), "--weak", "weak", "--strong", "strong", "--cv", "3", "--target", target,
                 "--cv-from", "labels", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(seen) == 3 and result["apgr"] > 0.8 and "bag_of_words" in result["baselines"]
    values = set(np.round(np.concatenate(seen), 3).tolist())
    assert values == ({0.0, 1.0} if target == "pair" else {0.167, 0.667})  # difficulty: 1 - mean of 3 models


def test_tiers_table_from_scores_and_prices(multi: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr("classifiers.logreg.load_classifier", lambda model_dir=None: FunctionClassifier(_hard))
    assert main(["eval", str(multi), "--tiers", "weak,mid,strong", "--prices", "org/weak=0.001,mid=0.002,strong=0.01",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["tiers"] == ["org/weak", "mid", "strong"] and report["n"] == 30
    assert report["router"]["quality"] > report["random"]["quality"]
    singles = {p["label"]: p["cost_per_1k"] for p in report["single_models"]}
    assert singles["strong"] == pytest.approx(10.0) and singles["org/weak"] == pytest.approx(1.0)
