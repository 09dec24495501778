"""Learning from labels (classifiers/training/adapt.py, recipe.fit_correction / add_models): a start model
corrected by labels is one ordinary model, stays at the start model without evidence, and moves
with it; the recipes parse, and the choice picks a candidate by its ranking of held-out labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classifiers.featurize import Featurizer
from classifiers.logreg import LogRegModel, default_model_dir
from classifiers.registry import Registry
from classifiers.training.adapt import Recipe, Trainer, compatible, label_apgr
from classifiers.training.recipe import Penalties, add_models, fit, fit_correction, logits

TOPICS = ["Prove the lemma about {i} primes by induction.", "Tell me a fun fact about cats, number {i}.",
          "Translate 'good morning {i}' into French.", "Derive the gradient of a {i}-layer network."]


@pytest.fixture(scope="module")
def featurizer() -> Featurizer:
    return Featurizer.load()


@pytest.fixture(scope="module")
def prior() -> LogRegModel:
    return LogRegModel.load(default_model_dir())


def prompts(n: int) -> list[str]:
    return [TOPICS[i % 4].format(i=i) + " " * (i % 7) + "Why?" * (i % 3) for i in range(n)]


def test_the_shipped_model_can_be_corrected(featurizer: Featurizer, prior: LogRegModel) -> None:
    assert compatible(prior, featurizer)
    assert not compatible(None, featurizer)


def test_added_models_score_the_sum_of_their_logits(featurizer: Featurizer, prior: LogRegModel) -> None:
    fa = featurizer.arrays(prompts(80))
    other = fit(fa, np.linspace(0, 1, 80), featurizer=featurizer)  # its own text-feature standardisation
    merged = add_models(prior, other)
    np.testing.assert_allclose(logits(merged, fa), logits(prior, fa) + logits(other, fa), atol=1e-6)
    saved = LogRegModel.from_json(merged.to_json())  # an ordinary model file
    np.testing.assert_allclose(logits(saved, fa), logits(merged, fa), atol=1e-4)


def test_a_correction_holds_to_the_prior_without_evidence_and_follows_labels(featurizer: Featurizer,
                                                                            prior: LogRegModel) -> None:
    texts = prompts(200)
    fa = featurizer.arrays(texts)
    hard = np.array([1.0 if t.startswith(("Prove", "Derive")) else 0.0 for t in texts])
    stiff = fit_correction(prior, fa, hard, penalties=Penalties(tf=None, emb=None, ng=1e6), featurizer=featurizer)
    shift = logits(stiff, fa) - logits(prior, fa)  # huge penalty: the prior's ranking, unchanged;
    assert np.ptp(shift) < 0.05  # only the (unpenalised) intercept moves to the labels' base rate
    learned = fit_correction(prior, fa, hard, penalties=Penalties(tf=None, emb=None, ng=3e-4), featurizer=featurizer)
    assert label_apgr(learned.score_arrays(fa), hard) > label_apgr(prior.score_arrays(fa), hard) + 0.05
    assert learned.training["correction"]["rows"] == 200


def test_recipes_parse_and_reject_nonsense() -> None:
    assert Recipe.parse("correct:3") == Recipe("correct", 3.0) and str(Recipe("correct", 3.0)) == "correct:3"
    assert Recipe.parse("labels") == Recipe("labels") and Recipe.parse("refit:10").strength == 10.0
    for bad in ("correct", "correct:-1", "refit:x", "magic:1"):
        with pytest.raises(ValueError, match="recipe"):
            Recipe.parse(bad)


def test_candidates_follow_what_the_trainer_has(featurizer: Featurizer, prior: LogRegModel) -> None:
    assert Trainer(featurizer).candidates() == [Recipe("labels")] and Trainer(featurizer).default() == Recipe("labels")
    kinds = {r.kind for r in Trainer(featurizer, prior=prior).candidates()}
    assert kinds == {"correct", "correct-all"} and Trainer(featurizer, prior=prior).default().kind == "correct"
    with pytest.raises(ValueError, match="start model"):
        Trainer(featurizer).make(Recipe("correct", 1.0), featurizer.arrays(["a", "b"]), np.array([0.0, 1.0]))


def test_choose_picks_the_recipe_that_ranks_held_out_labels_best(featurizer: Featurizer, prior: LogRegModel) -> None:
    texts = prompts(240)
    fa = featurizer.arrays(texts)
    hard = np.array([1.0 if t.startswith(("Prove", "Derive")) else 0.0 for t in texts])
    trainer = Trainer(featurizer, prior=prior)
    candidates = [Recipe("correct", 1e6), Recipe("correct", 0.3)]  # the prior itself vs a real correction
    best, scores = trainer.choose(fa, hard, np.arange(240), candidates=candidates)
    assert best == Recipe("correct", 0.3) and scores["correct:0.3"] > scores["correct:1e+06"]


def test_registry_remembers_its_initial_version(tmp_path: Path) -> None:
    reg = Registry(tmp_path)
    assert reg.initial() is None
    first = reg.add(default_model_dir())
    reg.promote(first, event="initial")
    model = tmp_path / "other"
    model.mkdir()
    (model / "model.json").write_text((default_model_dir() / "model.json").read_text() + " ")
    second = reg.add(model)
    reg.promote(second)
    assert reg.initial() == first and reg.current() == second
