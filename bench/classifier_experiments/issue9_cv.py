"""Issue 9: which target, file weighting, feature blocks and penalties, chosen by CV on train splits.

Protocol (only ``train`` splits; AlpacaEval and ``test`` splits are never used here):

- ``cv_<file>``: 5-fold CV over the pooled ``train`` rows of every trainable file (folds
  shuffled, seed 0); the out-of-fold scores of the rows that have a pair view give APGR on
  that pair (routerbench mistral-7b vs gpt-4, mmlupro mixtral vs gpt-4o, arena mixtral vs
  gpt-4-turbo). In-domain: the default is trained on these domains.
- ``lofo_<file>``: leave one file out: fit on the ``train`` rows of every other file, APGR on
  the held-out file's pair rows. Out of domain, the stand-in for traffic the default never saw.
- ``score`` = the mean of the six: the number the choice is made on. ``score_len<g>``: the
  same with a prompt-length prior blended in, ``logit(score) + g * z(log chars)``.
- ``len_<file>``: the prompt-length router on the same rows (reference).
- ``report_alpaca_*``: a fit on all train rows scored on the AlpacaEval pair files: reported
  only, never chosen on (CC BY-NC 4.0, evaluation only).

Run: ``python -m bench.classifier_experiments.issue9_cv [CONFIG ...]`` (config names below);
results are appended to ``$TR_EXP_CACHE/issue9_cv.jsonl`` (default /tmp/tr_exp).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from classifiers.feature_arrays import FeatureArrays
from classifiers.featurize import Featurizer
from classifiers.training.evaluate import apgr
from classifiers.training.recipe import Penalties, fit
from classifiers.training.recipe_cache import file_weights
from classifiers.training.targets import difficulty

from .issue9_data import PAIR_VIEWS, Part, load_all

OUT = Path("/tmp/tr_exp/issue9_cv.jsonl")
SHORT = {"routerbench0shot_subset.jsonl": "rb", "multimodel/mmlupro.jsonl": "mmlupro",
         "multimodel/arenabench.jsonl": "arena"}


@dataclass(frozen=True)
class Config:
    target: str = "mean"  # mean | rank | irt | pair | mixed | pairsoft
    weighting: str = "rows"
    penalties: Penalties = Penalties()


CONFIGS: dict[str, Config] = {
    # targets, text features + embedding (fast)
    "mean_te": Config("mean", penalties=Penalties(1e-3, 3e-3, None)),
    "rank_te": Config("rank", penalties=Penalties(1e-3, 3e-3, None)),
    "irt_te": Config("irt", penalties=Penalties(1e-3, 3e-3, None)),
    "pair_te": Config("pair", penalties=Penalties(1e-3, 3e-3, None)),
    "mixed_te": Config("mixed", penalties=Penalties(1e-3, 3e-3, None)),
    "pairsoft_te": Config("pairsoft", penalties=Penalties(1e-3, 3e-3, None)),
    "pair_ten": Config("pair", penalties=Penalties(1e-3, 3e-3, 3e-4)),
    "pairsoft_ten": Config("pairsoft", penalties=Penalties(1e-3, 3e-3, 3e-4)),
    "mixed_ten": Config("mixed", penalties=Penalties(1e-3, 3e-3, 3e-4)),
    "pair_ten_lo": Config("pair", penalties=Penalties(1e-3, 3e-3, 1e-4)),
    "pair_ten_hi": Config("pair", penalties=Penalties(1e-3, 3e-3, 1e-3)),
    # weighting
    "mean_te_file": Config("mean", "file", Penalties(1e-3, 3e-3, None)),
    "mean_te_sqrt": Config("mean", "sqrt", Penalties(1e-3, 3e-3, None)),
    # blocks and penalties
    "mean_t": Config("mean", penalties=Penalties(1e-3, None, None)),
    "mean_te_lo": Config("mean", penalties=Penalties(1e-4, 3e-4, None)),
    "mean_te_hi": Config("mean", penalties=Penalties(1e-2, 3e-2, None)),
    "mean_ten": Config("mean", penalties=Penalties(1e-3, 3e-3, 3e-4)),
    "mean_ten_lo": Config("mean", penalties=Penalties(1e-3, 3e-3, 1e-4)),
    "mean_ten_hi": Config("mean", penalties=Penalties(1e-3, 3e-3, 1e-3)),
    "mean_tn": Config("mean", penalties=Penalties(1e-3, None, 3e-4)),
}


def targets_of(part: Part, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """``(targets, usable mask)`` of one file's rows for a target kind."""
    if kind == "pair":
        mask = part.pair_mask
        return np.where(mask, (part.strong > part.weak).astype(float), 0.0), mask
    if kind in ("mixed", "pairsoft"):  # pair label where a pair view exists, else the file's difficulty
        diff = difficulty(part.rows.scores, "mean")
        pair = (part.strong > part.weak).astype(float)
        label = pair if kind == "mixed" else 0.5 * (pair + diff)
        return np.where(part.pair_mask, label, diff), np.ones(len(part.rows.ids), dtype=bool)
    return difficulty(part.rows.scores, kind), np.ones(len(part.rows.ids), dtype=bool)


def pooled(parts: dict[str, Part], cfg: Config) -> tuple[FeatureArrays, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    names = list(parts)
    ts, masks = zip(*(targets_of(parts[n], cfg.target) for n in names), strict=True)
    sizes = [int(m.sum()) for m in masks]
    w_used = file_weights(sizes, cfg.weighting)
    w = np.zeros(sum(len(m) for m in masks))
    w[np.flatnonzero(np.concatenate(masks))] = w_used
    src = np.repeat(np.arange(len(names)), [len(m) for m in masks])
    return FeatureArrays.concat([parts[n].fa for n in names]), np.concatenate(ts), w, src, names


GAMMAS = (-1.0, -0.5, -0.25, 0.25, 0.5)


def blended(p: np.ndarray, fa: FeatureArrays, gamma: float, mu: float, sd: float) -> np.ndarray:
    """A prompt-length prior blended in: ``logit(p) + gamma * z(log chars)`` (z with the pool's mean / sd)."""
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p)) + gamma * (fa.tf[:, 3] - mu) / sd


def run(cfg: Config, parts: dict[str, Part], featurizer: Featurizer,
        alpaca: dict[str, Part] | None = None) -> dict[str, float]:
    fa, t, w, src, names = pooled(parts, cfg)
    mu, sd = float(fa.tf[:, 3].mean()), float(fa.tf[:, 3].std())
    evals: list[tuple[str, np.ndarray, Part]] = []  # (key, scores, rows) for the blends
    oof = np.full(len(t), np.nan)
    folds = np.random.default_rng(0).permutation(len(t)) % 5
    for k in range(5):
        tr, te = np.flatnonzero((folds != k) & (w > 0)), np.flatnonzero(folds == k)
        model = fit(fa.take(tr), t[tr], w[tr], penalties=cfg.penalties, featurizer=featurizer)
        oof[te] = model.score_arrays(fa.take(te))
    out: dict[str, float] = {}
    for i, name in enumerate(names):
        if name not in PAIR_VIEWS:
            continue
        part, short = parts[name], SHORT[name]
        pm = part.pair_mask
        out[f"cv_{short}"] = apgr(oof[src == i][pm], part.weak[pm], part.strong[pm])
        evals.append((f"cv_{short}", oof[src == i], part))
        tr = np.flatnonzero((src != i) & (w > 0))
        model = fit(fa.take(tr), t[tr], w[tr], penalties=cfg.penalties, featurizer=featurizer)
        out[f"lofo_{short}"] = apgr(model.score_arrays(part.fa)[pm], part.weak[pm], part.strong[pm])
        evals.append((f"lofo_{short}", model.score_arrays(part.fa), part))
        out[f"len_{short}"] = apgr(part.fa.tf[pm, 3], part.weak[pm], part.strong[pm])  # log_chars_full
    keys = [k for k in out if k.startswith(("cv_", "lofo_"))]
    out["score"] = float(np.mean([out[k] for k in keys]))
    for g in GAMMAS:
        per = {k: apgr(blended(sc, p.fa, g, mu, sd)[p.pair_mask], p.weak[p.pair_mask], p.strong[p.pair_mask])
               for k, sc, p in evals}
        out[f"score_len{g:+g}"] = float(np.mean(list(per.values())))
        out[f"lofo_len{g:+g}"] = float(np.mean([v for k, v in per.items() if k.startswith("lofo_")]))
    out["lofo"] = float(np.mean([out[k] for k in keys if k.startswith("lofo_")]))
    if alpaca:  # reported only, never chosen on (CC BY-NC 4.0: evaluation only)
        used = np.flatnonzero(w > 0)
        model = fit(fa.take(used), t[used], w[used], penalties=cfg.penalties, featurizer=featurizer)
        for name, part in alpaca.items():
            out[f"report_{name}"] = apgr(model.score_arrays(part.fa), part.weak, part.strong)
            for g in GAMMAS:
                out[f"report_{name}_len{g:+g}"] = apgr(blended(model.score_arrays(part.fa), part.fa, g, mu, sd),
                                                       part.weak, part.strong)
    return out


def main(argv: list[str]) -> None:
    featurizer = Featurizer.load()
    train, _, alpaca = load_all(featurizer)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    for name in argv or list(CONFIGS):
        started = time.monotonic()
        res = run(CONFIGS[name], train, featurizer, alpaca)
        res = {"config": name, **{k: round(v, 4) for k, v in res.items()}, "seconds": round(time.monotonic() - started)}
        print(orjson.dumps(res).decode(), flush=True)
        with OUT.open("ab") as f:
            f.write(orjson.dumps(res) + b"\n")


if __name__ == "__main__":
    main(sys.argv[1:])
