"""Issue 9: learn a correction to a prior model's logits (offset fit) from in-domain labels.

    .venv/bin/python -m bench.classifier_experiments.issue9_offset

For each pair file, the prior is the shipped recipe trained without that file (AlpacaEval: the
shipped default). 5-fold CV (the folds of ``tierroute eval --cv 5``): labels-only recipe, the
prior alone, and prior logit + a recipe fitted on the fold's labels with the prior's logit as a
fixed offset, at several penalty scales (a larger scale keeps the model closer to the prior):
every block (``offset_xK``) or the n-grams alone with idf-scaled penalties (``offset_ng_xK``,
the ``correct`` recipe of classifiers/training/adapt.py), and the n-grams alone on the labels alone
(``labels_ng``). Results: docs/classifier.md, issue 9, "Learning from labels".
"""

from __future__ import annotations

import json
import sys

import numpy as np

from classifiers.featurize import CHAT_MODE, Featurizer
from classifiers.logreg import load_classifier
from classifiers.text import text_for_chat
from classifiers.training.baselines import fit_bag_of_words
from classifiers.training.crossval import cross_val_scores, fold_indices
from classifiers.training.data import load_pairs
from classifiers.training.evaluate import routing_curve
from classifiers.training.recipe import DEFAULT_PENALTIES, Penalties, fit, training_set

DATA = "../shared/data"
FILES = {
    "routerbench": (f"{DATA}/routerbench0shot_mistral7b_vs_gpt4.jsonl", "routerbench"),
    "mmlupro": (f"{DATA}/multimodel/mmlupro__pair.jsonl", "mmlupro"),
    "arena": (f"{DATA}/multimodel/arenabench__pair.jsonl", "arenabench"),
    "alpaca_mixtral": (f"{DATA}/alpaca_eval_mixtral_vs_gpt4turbo.jsonl", None),
    "alpaca_gpt35": (f"{DATA}/alpaca_eval_gpt35turbo_vs_gpt4turbo.jsonl", None),
}
SCALES = (1.0, 3.0, 10.0, 30.0, 100.0)
NG_SCALES = (0.3, 1.0, 3.0, 10.0)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def scaled(k: float) -> Penalties:
    d = DEFAULT_PENALTIES
    return Penalties(tf=d.tf * k, emb=d.emb * k, ng=d.ng * k)  # type: ignore[operator]


def main(names: list[str]) -> None:
    feat = Featurizer.load()
    out = {}
    for name in names or list(FILES):
        path, exclude = FILES[name]
        rows = load_pairs(path)
        weak = np.array([r.weak_score for r in rows])
        strong = np.array([r.strong_score for r in rows])
        y = np.array([float(r.label) for r in rows])
        fa = feat.arrays([text_for_chat([{"role": "user", "content": r.prompt}], CHAT_MODE) for r in rows])
        if exclude:
            ts = training_set(DATA, (exclude,), featurizer=feat)
            prior = fit(ts.arrays, ts.targets, ts.weights, featurizer=feat)
            base = logit(prior.score_arrays(fa))
        else:
            base = logit(np.asarray(load_classifier().score_features(fa)))  # type: ignore[attr-defined]
        res = {"prior": base.copy(), "labels": np.empty(len(y))}
        for k in SCALES:
            res[f"offset_x{k:g}"] = np.empty(len(y))
        for k in NG_SCALES:
            res[f"offset_ng_x{k:g}"] = np.empty(len(y))
        res["labels_ng"] = np.empty(len(y))
        for tr, te in fold_indices(y.astype(int), folds=5, seed=0):
            res["labels"][te] = fit(fa.take(tr), y[tr], featurizer=feat).score_arrays(fa.take(te))
            for k in SCALES:
                m = fit(fa.take(tr), y[tr], featurizer=feat, penalties=scaled(k), length_prior=0.0, offset=base[tr])
                res[f"offset_x{k:g}"][te] = base[te] + logit(m.score_arrays(fa.take(te)))
            for k in NG_SCALES:
                m = fit(fa.take(tr), y[tr], featurizer=feat, penalties=Penalties(tf=None, emb=None, ng=3e-4 * k),
                        length_prior=0.0, offset=base[tr], idf=True)
                res[f"offset_ng_x{k:g}"][te] = base[te] + logit(m.score_arrays(fa.take(te)))
            res["labels_ng"][te] = fit(fa.take(tr), y[tr], featurizer=feat, idf=True,
                                       penalties=Penalties(tf=None, emb=None, ng=3e-4)).score_arrays(fa.take(te))
        res["bow"] = cross_val_scores(rows, fit_bag_of_words, folds=5, seed=0)
        res["length"] = np.array([len(r.prompt) for r in rows], dtype=float)
        apgr = {k: round(routing_curve(v, weak, strong).apgr, 4) for k, v in res.items()}
        out[name] = apgr
        print(name, len(rows), json.dumps(apgr), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
