"""Experiment 8: multiple-choice structure features (distractor similarity), next to the text features.

For a focus text with lettered options (``A) ...``): log mean option length, the largest and
the mean pairwise cosine similarity between the options' static embeddings (close distractors
= harder item), and the mean similarity of the question stem to the options; zeros otherwise.
Run: ``.venv/bin/python -m bench.classifier_experiments.exp8_options``.
"""

from __future__ import annotations

import re

import numpy as np

from classifiers.features import focus_text
from classifiers.logreg import default_model_dir
from classifiers.static import StaticEmbedder

from .common import cached, datasets, evaluate, fmt, labels
from .exp1_views import feats
from .models import logreg

OPTION = re.compile(r"^\s*\(?([A-H])[).:]\s+(.+)$", re.MULTILINE)


def option_features(texts: list[str], emb: StaticEmbedder) -> np.ndarray:
    out = np.zeros((len(texts), 5))
    for i, text in enumerate(texts):
        focus = focus_text(text)
        opts = [m.group(2).strip() for m in OPTION.finditer(focus)]
        if len(opts) < 2:
            continue
        stem = focus[: OPTION.search(focus).start()].strip()  # type: ignore[union-attr]
        V = emb.encode(opts + [stem])
        opt_vecs, q = V[:-1], V[-1]
        sims = opt_vecs @ opt_vecs.T
        iu = np.triu_indices(len(opts), 1)
        out[i] = [1.0, np.log1p(np.mean([len(o) for o in opts])), sims[iu].max(), sims[iu].mean(),
                  float((opt_vecs @ q).mean())]
    return out


def main() -> None:
    data = datasets()
    F = feats(data)
    emb = StaticEmbedder.load(default_model_dir())
    Opt = {n: cached(f"options_{n}", lambda n=n: option_features([r.prompt for r in data[n]], emb))
           for n in ("train", "test", "mixtral")}
    Opt["gpt35"] = Opt["mixtral"]
    y = labels(data["train"])
    X = {n: np.hstack([F[n], Opt[n]]) for n in F}
    res = evaluate(logreg(scale_cols=slice(0, None), X_choose=X["train"], y_choose=y), X, data)
    print(f"{'features + option structure':30s} {fmt(res)}", flush=True)


if __name__ == "__main__":
    main()
