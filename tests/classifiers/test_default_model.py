"""The one test with the real MiniLM embedder (about 10 s): the shipped default loads and scores."""

from __future__ import annotations

import numpy as np

from classifiers.logreg import load_classifier


def test_shipped_default_scores_with_minilm() -> None:
    clf = load_classifier(None)
    scores = clf.score(["What is 2 + 2?", "Prove that there are infinitely many primes p with p = 4k + 3."])
    assert scores.shape == (2,) and np.all((scores > 0) & (scores < 1))
    info = clf.describe()
    assert info["embedding"]["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert info["trained_on"] == "routerbench0shot_mistral7b_vs_gpt4.jsonl"
