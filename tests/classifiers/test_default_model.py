"""The shipped default: loads fast without torch, scores, and describes itself."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from classifiers.logreg import load_classifier

HEAVY = ("torch", "transformers", "sentence_transformers", "sklearn")


def test_shipped_default_scores() -> None:
    clf = load_classifier(None)
    scores = clf.score(["What is 2 + 2?", "Prove that there are infinitely many primes p with p = 4k + 3.", ""])
    assert scores.shape == (3,) and np.all((scores > 0) & (scores < 1))
    info = clf.describe()
    assert info["kind"] == "embedding-logreg" and info["embedding"]["kind"] == "static"
    assert info["text"]["chat"] == "last_user" and "multimodel/mmlupro.jsonl" in info["trained_on"]
    assert "alpaca" not in json.dumps(info["trained_on"])


def test_serve_time_load_imports_no_torch() -> None:
    code = ("import sys, time, json; t = time.perf_counter(); "
            "from classifiers.logreg import load_classifier; c = load_classifier(); "
            "s = c.score(['hello there', 'Write a function to sort a list.\\n\\nAnd explain it.']); "
            f"print(json.dumps({{'heavy': sorted(m for m in {HEAVY!r} if m in sys.modules), "
            "'seconds': time.perf_counter() - t, 'n': len(s)}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [] and result["n"] == 2
    assert result["seconds"] < 5.0  # well under a second on an idle machine; slack for a loaded CI


def test_one_text_at_a_time_scores_as_the_batch_does() -> None:
    """The shipped model scores up to two texts one by one (no batch arrays): same scores as a batch."""
    from classifiers.logreg import ONE_BY_ONE, load_classifier

    clf = load_classifier()
    texts = ["Hi!", "Write a Python function that merges two sorted lists.", "Prove that sqrt(2) is irrational.",
             "Q: 2+2?\nA: 4\n\nQ: 3+3?\nA: 6\n\nQ: 5+7?\nA:", "Résumé en français, s'il vous plaît.", ""]
    batch = clf.score(texts)
    assert len(texts) > ONE_BY_ONE  # the batch path
    singles = [float(clf.score([t])[0]) for t in texts]
    assert singles == pytest.approx(batch.tolist(), abs=1e-12)
