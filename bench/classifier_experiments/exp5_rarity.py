"""Experiment 5: word rarity (wordfreq Zipf frequencies) next to the text features.

Rarity features of the focus text: mean Zipf frequency of its words, the minimum, and the
share of words with Zipf < 3 (rarer than about once per million words). Needs the
``wordfreq`` package (experiment only). Run: ``.venv/bin/python -m bench.classifier_experiments.exp5_rarity``.
"""

from __future__ import annotations

import re

import numpy as np

from classifiers.features import focus_text

from .common import cached, datasets, evaluate, fmt, labels
from .exp1_views import feats, load
from .models import logreg

WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def rarity(text: str) -> list[float]:
    from wordfreq import zipf_frequency

    z = [zipf_frequency(w.lower(), "en") for w in WORD.findall(focus_text(text))]
    if not z:
        return [0.0, 0.0, 0.0]
    return [float(np.mean(z)) / 7.0, min(z) / 7.0, float(np.mean([v < 3.0 for v in z]))]


def main() -> None:
    data = datasets()
    F = feats(data)
    R = {n: cached(f"rarity_{n}", lambda n=n: np.array([rarity(r.prompt) for r in data[n]]))
         for n in ("train", "test", "mixtral")}
    R["gpt35"] = R["mixtral"]
    E = load("static_static64_focus")
    y = labels(data["train"])
    FR = {n: np.hstack([F[n], R[n]]) for n in F}
    res = evaluate(logreg(scale_cols=slice(0, None), X_choose=FR["train"], y_choose=y), FR, data)
    print(f"{'features + rarity':34s} {fmt(res)}", flush=True)
    X = {n: np.hstack([E[n], FR[n]]) for n in F}
    res = evaluate(logreg(scale_cols=slice(64, None), X_choose=X["train"], y_choose=y), X, data)
    print(f"{'static64 focus + features + rarity':34s} {fmt(res)}", flush=True)


if __name__ == "__main__":
    main()
