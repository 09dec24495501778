"""``tierroute eval``: a router's quality on pair-schema data, next to the baselines, in one run.

For the model (the shipped one, ``--model DIR``, or with ``--cv K`` a model made from the file's
own ``--target`` labels (``pair``: strong strictly better; ``difficulty``: the share of the
file's models failing, see :mod:`classifiers.training.eval_data`) and scored by K-fold cross-validation
on the file itself: by default what ``tierroute learn`` makes of those labels starting from the
shipped model or ``--model``; with ``--cv-from labels`` the recipe on the labels alone;
:mod:`classifiers.training.recipe_cv`) and, on the same rows, the random
router (mean of 100 seeds), the prompt-length router and, with ``--cv``, a hashed
bag-of-words + logistic regression trained on the same folds: APGR, CPT(50%), CPT(80%) and the
quality-vs-strong-call-fraction curve as a table. ``--plot`` draws the curves in one PNG;
``--json`` makes the last line of output one JSON object.

Multi-model files (``scores: {model: 0..1}``) are read directly: ``--weak M --strong M``
picks the pair; ``--tiers A,B,C`` (with ``--prices`` when the file has no ``cost_usd``) reports
the N-tier cost table of ``tierroute eval-tiers`` (:mod:`classifiers.training.tiers_cli`) instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from ..base import Classifier
from ..text import text_for_chat
from .eval_data import CV_TARGETS, EvalRows, cv_targets, load_eval_rows
from .evaluate import RoutingCurve, oracle_router, prompt_length_router, random_router, routing_curve
from .progress import in_chunks

RANDOM_SEEDS = 100


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", metavar="DATA.jsonl", help="pair-schema JSONL (../shared/data/README.md)")
    parser.add_argument("--model", metavar="DIR", help="model directory (default: the shipped model)")
    parser.add_argument("--split", metavar="NAME", help="keep rows whose `split` is NAME (default: every row)")
    parser.add_argument("--cv", type=int, metavar="K", help="train and score by K-fold cross-validation on the file")
    parser.add_argument("--keep-contaminated", action="store_true", help="keep rows marked contaminated")
    parser.add_argument("--plot", metavar="OUT.png", help="draw the PGR curves into this PNG")
    parser.add_argument("--json", action="store_true", help="end with one line of JSON")
    parser.add_argument("--seed", type=int, default=0, help="fold seed for --cv (default 0)")
    parser.add_argument("--target", choices=CV_TARGETS, default="pair",
                        help="what --cv trains on: pair (strong strictly better, default) or difficulty "
                             "(share of the file's models failing; 1 - mean of the two scores on a pair file)")
    parser.add_argument("--cv-from", choices=("model", "labels"), default="model",
                        help="with --cv: start from the model (shipped or --model) and learn from each fold's labels "
                             "as tierroute learn does (default), or fit the labels alone. A start model trained on "
                             "this file's rows would leak them into the folds: use one trained without it")
    parser.add_argument("--weak", metavar="MODEL", help="multi-model file: the weak model of the pair view")
    parser.add_argument("--strong", metavar="MODEL", help="multi-model file: the strong model of the pair view")
    parser.add_argument("--tiers", metavar="MODEL,MODEL,...",
                        help="multi-model file: N-tier cost and quality table over these models (as eval-tiers)")
    parser.add_argument("--shares", metavar="P,P,...", help="with --tiers: target share per tier")
    from .tiers_cli import add_prices_argument

    add_prices_argument(parser)


def run_eval(ns: argparse.Namespace) -> int:
    if getattr(ns, "tiers", None):
        return _run_tiers(ns)
    try:
        data = load_eval_rows(ns.data, split=ns.split, keep_contaminated=ns.keep_contaminated,
                              weak=getattr(ns, "weak", None), strong=getattr(ns, "strong", None))
    except ValueError as e:
        print(f"eval: {e}", file=sys.stderr)
        return 1
    rows = data.rows
    if len(rows) < 10:
        print(f"{ns.data}: only {len(rows)} usable rows (split {ns.split!r}); need at least 10", file=sys.stderr)
        return 1
    weak = np.array([r.weak_score for r in rows])
    strong = np.array([r.strong_score for r in rows])
    scores, label = _model_scores(data, ns)
    curves = {"model": routing_curve(scores, weak, strong),
              "prompt_length": routing_curve(prompt_length_router([r.prompt for r in rows]), weak, strong)}
    if ns.cv:
        from .baselines import fit_bag_of_words
        from .crossval import cross_val_scores

        curves["bag_of_words"] = routing_curve(cross_val_scores(rows, fit_bag_of_words, folds=ns.cv, seed=ns.seed),
                                               weak, strong)
    randoms = [routing_curve(random_router(len(rows), s), weak, strong) for s in range(RANDOM_SEEDS)]
    oracle = routing_curve(oracle_router(weak, strong), weak, strong)
    print(f"{len(rows)} rows of {ns.data}" + (f" (split {ns.split})" if ns.split else "") + f"; model: {label}")
    print(summary_table(curves, randoms, oracle))
    print()
    print(curve_table(curves, randoms))
    if ns.plot:
        plot_curves(ns.plot, curves, randoms, oracle, title=f"{ns.data.rsplit('/', 1)[-1]}: {label}")
        print(f"wrote {ns.plot}")
    if ns.json:
        print(json.dumps(result_json(len(rows), curves, randoms)))
    return 0


def _model_scores(data: EvalRows, ns: argparse.Namespace) -> tuple[np.ndarray, str]:
    rows = data.rows
    if ns.cv:
        from .recipe_cv import recipe_cv_scores

        target = getattr(ns, "target", "pair")
        prior, start = _cv_prior(ns)
        chosen: list[str] = []
        scores = recipe_cv_scores([r.prompt for r in rows], cv_targets(data, target), [int(r.label) for r in rows],
                                  folds=ns.cv, seed=ns.seed, prior=prior, chosen=chosen)
        how = f"learned from target {target} starting from {start} (recipes {', '.join(chosen)})" if prior is not None \
            else f"recipe trained on target {target} alone"
        return scores, f"{how}, {ns.cv}-fold cross-validation on this file"
    from ..logreg import load_classifier

    return score_prompts(load_classifier(ns.model), [r.prompt for r in rows]), ns.model or "shipped default"


def _cv_prior(ns: argparse.Namespace) -> tuple[Any, str]:
    """The start model ``--cv`` learns from (None with ``--cv-from labels`` or a model of other features)."""
    if getattr(ns, "cv_from", "model") == "labels":
        return None, ""
    from ..featurize import Featurizer
    from ..logreg import LogRegModel, default_model_dir
    from .adapt import compatible

    model = LogRegModel.load(ns.model or default_model_dir())
    if not compatible(model, Featurizer.load()):
        print(f"eval: {ns.model or 'the shipped model'} is not a model of the recipe's features; "
              "--cv fits the labels alone", file=sys.stderr)
        return None, ""
    return model, ns.model or "the shipped model"


def _run_tiers(ns: argparse.Namespace) -> int:
    """``--tiers``: the N-tier table of :func:`classifiers.training.tiers_cli.run_tiers` on this file."""
    from .tiers_cli import run_tiers

    tiers_ns = argparse.Namespace(data=ns.data, tiers=ns.tiers, model=ns.model, calibrate_split="train",
                                  split=ns.split or "test", shares=ns.shares, plot=ns.plot, json=ns.json,
                                  prices=ns.prices)
    return run_tiers(tiers_ns)


def score_prompts(classifier: Classifier, prompts: list[str]) -> np.ndarray:
    """Score each prompt as the proxy would score it sent as a one-message chat."""
    mode = (classifier.describe().get("text") or {}).get("chat", "last_user")
    texts = [text_for_chat([{"role": "user", "content": p}], mode) for p in prompts]
    return in_chunks(classifier.score, texts, desc="scoring")


def _random_summary(randoms: list[RoutingCurve]) -> dict[str, float]:
    rows = [c.summary() for c in randoms]
    return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}


def summary_table(curves: dict[str, RoutingCurve], randoms: list[RoutingCurve], oracle: RoutingCurve) -> str:
    lines = [f"{'router':<16} {'APGR':>6} {'CPT(50%)':>9} {'CPT(80%)':>9}"]
    entries: list[tuple[str, dict[str, float]]] = [(k, c.summary()) for k, c in curves.items()]
    entries += [("random", _random_summary(randoms)), ("oracle", oracle.summary())]
    for name, s in entries:
        lines.append(f"{name:<16} {s['apgr']:>6.3f} {_pct(s['cpt50']):>9} {_pct(s['cpt80']):>9}")
    return "\n".join(lines)


def curve_table(curves: dict[str, RoutingCurve], randoms: list[RoutingCurve]) -> str:
    """Quality at each decile of strong calls (interpolated on each curve)."""
    grid = np.linspace(0, 1, 11)
    cols = {k: np.interp(grid, c.strong_fraction, c.quality) for k, c in curves.items()}
    cols["random"] = np.mean([np.interp(grid, c.strong_fraction, c.quality) for c in randoms], axis=0)
    head = f"{'strong calls':>12} " + " ".join(f"{k:>14}" for k in cols)
    lines = ["quality by share of strong calls:", head]
    for i, x in enumerate(grid):
        lines.append(f"{x:>12.0%} " + " ".join(f"{cols[k][i]:>14.4f}" for k in cols))
    return "\n".join(lines)


def result_json(n: int, curves: dict[str, RoutingCurve], randoms: list[RoutingCurve]) -> dict[str, Any]:
    model = curves["model"].summary()
    baselines: dict[str, Any] = {"random": _random_summary(randoms)}
    baselines.update({k: c.summary() for k, c in curves.items() if k != "model"})
    return {"n": n, **{k: _num(v) for k, v in model.items()},
            "baselines": {k: {m: _num(v) for m, v in s.items()} for k, s in baselines.items()}}


def plot_curves(path: str, curves: dict[str, RoutingCurve], randoms: list[RoutingCurve], oracle: RoutingCurve,
                *, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for name, c in curves.items():
        ax.plot(c.strong_fraction, c.pgr, marker="o", label=f"{name} (APGR {c.apgr:.3f})")
    grid = np.linspace(0, 1, 11)
    rand = np.mean([np.interp(grid, c.strong_fraction, c.pgr) for c in randoms], axis=0)
    ax.plot(grid, rand, linestyle="--", color="grey", label=f"random (APGR {_random_summary(randoms)['apgr']:.3f})")
    ax.plot(oracle.strong_fraction, oracle.pgr, linestyle=":", color="black", label=f"oracle (APGR {oracle.apgr:.3f})")
    ax.set_xlabel("share of calls to the strong model")
    ax.set_ylabel("performance gap recovered (PGR)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pct(x: float) -> str:
    return "-" if x != x else f"{100 * x:.1f}%"  # NaN: never reached


def _num(x: float) -> float | None:
    return None if x != x else round(float(x), 4)
