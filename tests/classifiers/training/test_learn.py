"""The learner's gate: a challenger that ranks the held-out labels better is promoted, else refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from classifiers.featurize import Featurizer
from classifiers.training.adapt import label_apgr as _apgr
from classifiers.training.learn import LearnConfig, Learner

EASY = ["What is {i} plus {i}?", "Say hello to user {i}.", "Name a colour, number {i}.", "Spell the word cat {i}."]
HARD = ["Prove that the sum of the first {i} odd numbers is a square.", "Derive a recurrence for {i} towers.",
        "Show the algorithm for {i} sorted lists is optimal."]


def labels(n: int, rule: Any, *, spec: str | None = None, keep_prompt: bool = False) -> list[dict[str, Any]]:
    prompts = [(HARD if i % 3 == 0 else EASY)[i % 3 if i % 3 == 0 else i % 4].format(i=i) for i in range(n)]
    feats = Featurizer.load().features(prompts)
    out = []
    for i, (p, f) in enumerate(zip(prompts, feats, strict=True)):
        out.append({"id": str(i), "ts": float(i), "source": "shadow", "target": rule(i, p),
                    "features": None if keep_prompt else f, "prompt": p if keep_prompt else None,
                    "extra": {"feature_spec": spec} if spec else {}})
    return out


def hard_rule(i: int, p: str) -> float:
    return 1.0 if p.startswith(("Prove", "Derive", "Show")) else 0.0


def one_round(tmp_path: Path, n: int, margin: float) -> tuple[Learner, str, Any]:
    data = labels(n, hard_rule)
    learner = Learner(LearnConfig(models_dir=str(tmp_path), min_new_labels=100, min_holdout=40, margin=margin),
                      lambda: data)
    first = learner.ensure_champion()
    return learner, first, learner.step()


def test_a_learnable_signal_is_promoted_and_recorded(tmp_path: Path) -> None:
    learner, first, rnd = one_round(tmp_path, 240, 0.0)
    assert rnd is not None and rnd.promoted
    assert rnd.challenger_apgr > 0.8 and rnd.challenger_apgr > rnd.champion_apgr + 0.05  # 0.83: a perfect ranking here
    assert learner.registry.current() == rnd.challenger != first
    meta = learner.registry.info(rnd.challenger).meta
    assert meta["parent"] == first and len(meta["score_quantiles"]) == 101
    assert learner.step() is None  # no new labels: nothing to do


def test_a_challenger_that_does_not_beat_the_margin_is_refused(tmp_path: Path) -> None:
    learner, first, rnd = one_round(tmp_path, 200, 1.0)
    assert rnd is not None and not rnd.promoted
    assert learner.registry.current() == first
    assert learner.registry.history()[-1]["event"] == "refuse"
    assert rnd.challenger in {m.version for m in learner.registry.versions()}  # kept, with its numbers


def test_foreign_features_are_skipped_and_prompts_featurized(tmp_path: Path) -> None:
    learner = Learner(LearnConfig(models_dir=str(tmp_path)), list)
    rows = learner.usable(labels(10, hard_rule, spec="another-spec") + labels(6, hard_rule, keep_prompt=True)
                          + [{"ts": 1.0, "target": 2.0, "features": {}}])
    assert rows.skipped == 11 and len(rows.targets) == 6
    assert rows.features.emb.shape == (6, Featurizer.load().dim) and np.abs(rows.features.emb).sum() > 0


def test_apgr_of_labels() -> None:
    t = np.array([0, 0, 1, 1, 0, 1], dtype=float)
    assert _apgr(t, t) > 0.7 and _apgr(t, t) > _apgr(np.zeros(6), t)
    assert _apgr(-t, t) < 0.5
    assert np.isnan(_apgr(t, np.zeros(6)))
