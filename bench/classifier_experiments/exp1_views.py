"""Experiment 1: embedding model x text view, with and without cheap features (logistic regression).

Run after ``embed_cache``: ``.venv/bin/python -m bench.classifier_experiments.exp1_views``.
"""

from __future__ import annotations

import sys

import numpy as np

from classifiers.features import feature_matrix

from .common import baselines, cached, datasets, evaluate, fmt, labels
from .models import logreg


def load(key: str, names: tuple[str, ...] = ("train", "test", "mixtral")) -> dict[str, np.ndarray]:
    out = {n: np.load(f"/tmp/tr_exp/{key}_{n}.npy") for n in names}
    out["gpt35"] = out["mixtral"]
    return out


def feats(data: dict) -> dict[str, np.ndarray]:
    out = {n: cached(f"feats_{n}", lambda n=n: feature_matrix([r.prompt for r in data[n]]))
           for n in ("train", "test", "mixtral")}
    out["gpt35"] = out["mixtral"]
    return out


def bow(data: dict) -> dict[str, np.ndarray]:
    from sklearn.feature_extraction.text import HashingVectorizer

    hv = HashingVectorizer(n_features=2**18, alternate_sign=True, norm="l2")
    out = {n: hv.transform([r.prompt for r in data[n]]) for n in ("train", "test", "mixtral")}
    out["gpt35"] = out["mixtral"]
    return out


def main(argv: list[str]) -> None:
    data = datasets()
    print("prompt length:", {k: round(v, 3) for k, v in baselines(data).items()}, flush=True)
    F = feats(data)
    options: dict = {}
    only = argv[0] if argv else ""
    options["features only"] = F
    keys = ("minilm_full_head", "minilm_full_tail", "minilm_focus", "static_static256_full",
            "static_static256_focus", "static_static128_focus", "static_static64_full", "static_static64_focus",
            "static_static32_focus")
    for key in keys:
        options[key] = lambda k=key: load(k)
    for key in ("minilm_focus", "static_static64_focus", "static_static128_focus"):
        options[key + " + features"] = lambda k=key: {n: np.hstack([E, F[n]]) for n, E in load(k).items()}
    options["static64 focus + full + features"] = lambda: {
        n: np.hstack([a, b, F[n]]) for (n, a), b in zip(load("static_static64_focus").items(),
                                                        load("static_static64_full").values(), strict=True)}
    for name, X_fn in options.items():
        if only and only not in name:
            continue
        X = X_fn() if callable(X_fn) else X_fn
        nf = F["train"].shape[1]
        scale = slice(X["train"].shape[1] - nf, None) if "features" in name else None
        res = evaluate(logreg(scale_cols=scale, X_choose=X['train'], y_choose=labels(data['train'])), X, data)
        print(f"{name:40s} {fmt(res)}", flush=True)
    if not only or only == "bow":
        from .models import logreg as lr

        B = bow(data)
        import scipy.sparse as sp  # noqa: F401

        res = evaluate(lr(C=1.0), {k: v for k, v in B.items()}, data)
        print(f"{'hashed BoW + LR (C=1)':40s} {fmt(res)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
