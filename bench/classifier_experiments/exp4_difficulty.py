"""Experiment 4: a smoother training target from the same train prompts (11-model difficulty).

``routerbench0shot_subset.jsonl`` has, for the same prompts and the same ``split``, the 0/1
outcome of 11 models. Target: item difficulty ``1 - mean score over the 10 models other than
gpt-4`` (less noisy than the one binary mistral-vs-gpt-4 outcome), fitted by ridge regression
on static64 focus + text features; scored on the mistral-vs-gpt-4 pair view as usual. Only
``train``-split rows are used for fitting. Run: ``.venv/bin/python -m bench.classifier_experiments.exp4_difficulty``.
"""

from __future__ import annotations

import numpy as np
import orjson

from .common import DATA, SEEDS, cv_scores, datasets, labels, row_apgr
from .exp1_views import feats, load


def difficulty(ids: list[str]) -> np.ndarray:
    by_id = {}
    for line in (DATA / "routerbench0shot_subset.jsonl").read_bytes().splitlines():
        o = orjson.loads(line)
        s = {k: v for k, v in o["scores"].items() if v is not None and k != "gpt-4-1106-preview"}
        by_id[o["id"]] = 1.0 - float(np.mean(list(s.values())))
    return np.array([by_id[i] for i in ids])


def main() -> None:
    from sklearn.linear_model import Ridge

    data = datasets()
    F = feats(data)
    E = load("static_static64_focus")
    d_tr = difficulty([r.id for r in data["train"]])
    for name, X in (("features", F), ("static64 focus + features", {n: np.hstack([E[n], F[n]]) for n in E})):
        mu, sd = X["train"].mean(0), X["train"].std(0) + 1e-9
        Z = {n: (v - mu) / sd for n, v in X.items()}
        for alpha in (10.0, 100.0, 1000.0):
            def fp(fi: np.ndarray, vi: np.ndarray, Z: dict = Z, alpha: float = alpha) -> np.ndarray:
                return Ridge(alpha=alpha).fit(Z["train"][fi], d_tr[fi]).predict(Z["train"][vi])
            cv = np.mean([row_apgr(cv_scores(fp, len(d_tr), labels(data["train"]), s), data["train"])
                          for s in SEEDS])
            m = Ridge(alpha=alpha).fit(Z["train"], d_tr)
            res = {k: row_apgr(m.predict(Z[k]), data[k]) for k in ("test", "mixtral", "gpt35")}
            print(f"difficulty ridge a={alpha:<6} {name:28s} cv={cv:.3f} " +
                  " ".join(f"{k}={v:.3f}" for k, v in res.items()), flush=True)


if __name__ == "__main__":
    main()
