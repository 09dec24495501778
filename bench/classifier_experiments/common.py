"""Shared pieces of the classifier experiments: data, cached embeddings, and the scoring protocol.

Protocol (the same for every experiment, so numbers compare):

- ``cv``: 5-fold stratified CV APGR on the routerbench pair view's ``train`` split, averaged
  over 3 seeds. This is the only number used to *choose* between options.
- ``test``: fit on the whole ``train`` split, APGR on the ``test`` split (reported, not chosen on).
- ``mixtral`` / ``gpt35``: the same fitted model scored on the two AlpacaEval pair files
  (out-of-domain; evaluation only, never trained on, never chosen on).
- ``cv5_<file>``: 5-fold CV *inside* each pair file (a user training on their own labels),
  one seed, for the ``--cv 5`` target.

Embeddings are cached under ``$TR_EXP_CACHE`` (default ``/tmp/tr_exp``) keyed by
embedder, text view and data set.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from classifiers.training.data import PairRow, load_pairs
from classifiers.training.evaluate import apgr, prompt_length_router

DATA = Path(os.environ.get("TR_DATA", "/work/shared/data"))
CACHE = Path(os.environ.get("TR_EXP_CACHE", "/tmp/tr_exp"))
RB = DATA / "routerbench0shot_mistral7b_vs_gpt4.jsonl"
MIXTRAL = DATA / "alpaca_eval_mixtral_vs_gpt4turbo.jsonl"
GPT35 = DATA / "alpaca_eval_gpt35turbo_vs_gpt4turbo.jsonl"
SEEDS = (0,)  # 3 seeds gave a CV sd of 0.001-0.003; one keeps runs short on a shared 2-core machine


def datasets() -> dict[str, list[PairRow]]:
    """``train`` / ``test`` (routerbench pair view) and ``mixtral`` / ``gpt35`` (AlpacaEval)."""
    return {"train": load_pairs(RB, split="train"), "test": load_pairs(RB, split="test"),
            "mixtral": load_pairs(MIXTRAL), "gpt35": load_pairs(GPT35)}


def cached(key: str, fn: Callable[[], np.ndarray]) -> np.ndarray:
    """``fn()`` saved as ``CACHE/key.npy`` the first time, loaded after."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{key}.npy"
    if path.exists():
        return np.load(path, allow_pickle=False)
    out = np.asarray(fn())
    np.save(path, out)
    return out


def outcomes(rows: Sequence[PairRow]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([r.weak_score for r in rows]), np.array([r.strong_score for r in rows])


def labels(rows: Sequence[PairRow]) -> np.ndarray:
    return np.array([r.label for r in rows], dtype=np.int64)


def row_apgr(scores: np.ndarray, rows: Sequence[PairRow]) -> float:
    w, s = outcomes(rows)
    return apgr(scores, w, s)


def cv_scores(fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray], n: int, y: np.ndarray,
              seed: int, folds: int = 5) -> np.ndarray:
    """Out-of-fold scores: ``fit_predict(fit_idx, val_idx)`` returns scores for ``val_idx``."""
    from sklearn.model_selection import StratifiedKFold

    out = np.zeros(n)
    for fit_idx, val_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(n), y):
        out[val_idx] = fit_predict(fit_idx, val_idx)
    return out


def evaluate(make_fit: Callable[[], Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]],
             X: dict[str, np.ndarray], data: dict[str, list[PairRow]], *, inner_cv: bool = True,
             target: Callable[[Sequence[PairRow]], np.ndarray] = labels) -> dict[str, float]:
    """All protocol numbers for one option.

    ``make_fit()`` returns ``fit(X, y) -> predict``; ``X`` maps data-set name to its features.
    ``target(rows)`` gives the training target (default: the binary label).
    """
    res: dict[str, float] = {}
    tr = data["train"]
    y_tr = target(tr)
    strat = labels(tr)
    cvs = []
    for seed in SEEDS:
        def fp(fi: np.ndarray, vi: np.ndarray) -> np.ndarray:
            return make_fit()(X["train"][fi], y_tr[fi])(X["train"][vi])
        cvs.append(row_apgr(cv_scores(fp, len(tr), strat, seed), tr))
    res["cv"] = float(np.mean(cvs))
    res["cv_sd"] = float(np.std(cvs))
    predict = make_fit()(X["train"], y_tr)
    for name in ("test", "mixtral", "gpt35"):
        res[name] = row_apgr(predict(X[name]), data[name])
    if inner_cv:
        rb_all = data["train"] + data["test"]
        X_rb = _vstack(X["train"], X["test"])
        for name, rows, Xf in (("cv5_rb", rb_all, X_rb), ("cv5_mixtral", data["mixtral"], X["mixtral"]),
                               ("cv5_gpt35", data["gpt35"], X["gpt35"])):
            yy = target(rows)
            st = labels(rows)
            def fp2(fi: np.ndarray, vi: np.ndarray, Xf: np.ndarray = Xf, yy: np.ndarray = yy) -> np.ndarray:
                return make_fit()(Xf[fi], yy[fi])(Xf[vi])
            res[name] = row_apgr(cv_scores(fp2, len(rows), st, 0), rows)
    return res


def baselines(data: dict[str, list[PairRow]]) -> dict[str, dict[str, float]]:
    """Prompt length on every evaluation set (no fitting; CV numbers are the whole file)."""
    out = {}
    for name, rows in data.items():
        out[name] = row_apgr(prompt_length_router([r.prompt for r in rows]), rows)
    out["rb_all"] = row_apgr(prompt_length_router([r.prompt for r in data["train"] + data["test"]]),
                             data["train"] + data["test"])
    return out


def fmt(res: dict[str, float]) -> str:
    keys = ("cv", "test", "mixtral", "gpt35", "cv5_rb", "cv5_mixtral", "cv5_gpt35")
    return " ".join(f"{k}={res[k]:.3f}" for k in keys if k in res)


def _vstack(a, b):  # noqa: ANN001, ANN202 - dense or scipy sparse
    import scipy.sparse as sp

    return sp.vstack([a, b]).tocsr() if sp.issparse(a) else np.vstack([a, b])
