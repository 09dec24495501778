"""The shipped default: loads fast without torch, scores, and describes itself."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

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
