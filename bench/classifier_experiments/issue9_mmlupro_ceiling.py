"""Issue 9: how far can a prompt-only router go on MMLU-Pro's pair (Mixtral-8x7B vs GPT-4o)?

    .venv/bin/python -m bench.classifier_experiments.issue9_mmlupro_ceiling

Two reference scores that use knowledge no router has, on the whole file (APGR, RouteLLM's
protocol): each prompt's category scored by that category's in-sample strong-win rate (the best
a topic-level router could do), and each prompt scored by the true share of the file's 30
models failing it (a perfect difficulty predictor). Result (docs/classifier.md, issue 9,
"Learning from labels"): 0.599 and 0.563, against 0.577 for a start model that never saw MMLU-Pro.
"""

from __future__ import annotations

import collections
import json

import numpy as np

from classifiers.training.evaluate import routing_curve

DATA = "../shared/data/multimodel"


def main() -> None:
    with open(f"{DATA}/mmlupro.jsonl", encoding="utf-8") as f:
        multi = [json.loads(line) for line in f]
    with open(f"{DATA}/mmlupro__pair.jsonl", encoding="utf-8") as f:
        pair = [json.loads(line) for line in f]
    assert [m["id"] for m in multi] == [p["id"] for p in pair]
    weak = np.array([p["weak_score"] for p in pair])
    strong = np.array([p["strong_score"] for p in pair])
    wins = (strong > weak).astype(float)
    by_cat: dict[str, list[float]] = collections.defaultdict(list)
    for m, w in zip(multi, wins, strict=True):
        by_cat[m["category"]].append(w)
    category = np.array([np.mean(by_cat[m["category"]]) for m in multi])
    difficulty = np.array([1.0 - np.mean(list(m["scores"].values())) for m in multi])
    for name, score in (("category strong-win rate (in-sample)", category), ("share of 30 models failing", difficulty)):
        print(f"{name}: APGR {routing_curve(score, weak, strong).apgr:.3f}")


if __name__ == "__main__":
    main()
