"""``tierroute eval-tiers DATA.jsonl --tiers A,B,C``: N-tier routing as cost against quality.

Reads a multi-model outcome file (``routerbench0shot_subset.jsonl`` schema: ``prompt``,
``split``, ``scores[model]``, ``cost_usd[model]``), scores each prompt with
``load_classifier(--model)``, calibrates the cut points for ``--shares`` on the
``--calibrate-split`` rows and reports on the ``--split`` rows: the router next to every single
model, the per-prompt oracle and the random router with the same shares, two cost-quality
curves and a frontier summary (see :mod:`classifiers.training.tiers`). Heavy imports happen only when
the command runs.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from . import tiers as T
from .data import number_or_nan, read_objects

DEFAULT_TIERS = "mistralai/mistral-7b-chat,mistralai/mixtral-8x7b-chat,gpt-4-1106-preview"
BETAS = (-math.inf, *np.linspace(-6.0, 6.0, 13).tolist(), math.inf)
TARGETS = (0.8, 0.9, 0.95, 1.0)


@dataclass(frozen=True)
class Outcomes:
    """Per-prompt outcomes of every model in a file; null values are NaN."""

    models: tuple[str, ...]
    prompts: list[str]
    splits: np.ndarray
    quality: np.ndarray
    cost: np.ndarray


def load_outcomes(path: str | Path, prices: dict[str, float] | None = None) -> Outcomes:
    """Read the file; raises ``ValueError`` naming the line for a malformed row.

    ``prices`` (USD per call by model, e.g. for the multi-model files, which have no
    ``cost_usd``) replace the file's costs: a model without a price costs NaN (its rows are
    skipped where it is used).
    """
    def ok(o: dict[str, Any]) -> bool:
        return (isinstance(o.get("prompt"), str) and isinstance(o.get("scores"), dict)
                and (prices is not None or isinstance(o.get("cost_usd"), dict)))

    objs = read_objects(path, ok, "`prompt` (string), `scores` and `cost_usd` (objects)" if prices is None
                        else "`prompt` (string) and `scores` (object)")
    models = tuple(dict.fromkeys(m for o in objs for m in o["scores"]))
    quality = np.array([[number_or_nan(o["scores"].get(m)) for m in models] for o in objs], dtype=np.float64)
    if prices is None:
        cost = np.array([[number_or_nan(o["cost_usd"].get(m)) for m in models] for o in objs], dtype=np.float64)
    else:
        per_call = [number_or_nan(prices.get(m, prices.get(m.rsplit("/", 1)[-1]))) for m in models]
        cost = np.tile(np.array(per_call, dtype=np.float64), (len(objs), 1))
    splits = np.array([o.get("split") if isinstance(o.get("split"), str) else "" for o in objs], dtype=object)
    return Outcomes(models, [o["prompt"] for o in objs], splits, quality.reshape(len(objs), len(models)),
                    cost.reshape(len(objs), len(models)))


def parse_prices(text: str | None) -> dict[str, float] | None:
    """``"MODEL=USD,MODEL=USD"`` (USD per call) as a dict; None for None."""
    if text is None:
        return None
    out = {}
    for item in filter(None, (x.strip() for x in text.split(","))):
        name, sep, value = item.rpartition("=")
        if not sep or not name:
            raise ValueError(f"--prices: expected MODEL=USD, got {item!r}")
        out[name] = float(value)
    return out


def resolve_models(requested: list[str], available: tuple[str, ...]) -> list[str]:
    """Exact names, or the part after the last ``/`` when that is unique (``mistral-7b-chat``)."""
    out = []
    for name in requested:
        hits = [m for m in available if m == name] or [m for m in available if m.rsplit("/", 1)[-1] == name]
        if len(hits) != 1:
            raise ValueError(f"unknown or ambiguous model {name!r}; the file has: {', '.join(available)}")
        out.append(hits[0])
    if len(set(out)) != len(out) or len(out) < 2:
        raise ValueError(f"need at least two distinct tier models, got {out}")
    return out


def add_tiers_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", metavar="DATA.jsonl", help="multi-model outcomes (the routerbench subset schema)")
    parser.add_argument("--tiers", default=DEFAULT_TIERS, metavar="MODEL,MODEL,...",
                        help=f"tier models, cheapest to strongest (default {DEFAULT_TIERS})")
    parser.add_argument("--model", metavar="DIR", default=None, help="classifier directory (default: the shipped one)")
    parser.add_argument("--calibrate-split", default="train", help="rows the cut points are fitted on (default train)")
    parser.add_argument("--split", default="test", help="rows reported on (default test; 'all': every row)")
    parser.add_argument("--shares", default=None, metavar="P,P,...",
                        help="target share per tier, adding up to 1 (default 0.5,0.3,0.2 for 3 tiers, else equal)")
    parser.add_argument("--plot", metavar="OUT.png", default=None, help="draw the cost-quality plot (needs matplotlib)")
    parser.add_argument("--json", action="store_true", help="end the output with one JSON object on one line")
    add_prices_argument(parser)


def add_prices_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prices", metavar="MODEL=USD,...", default=None,
                        help="USD per call of each model, for files without `cost_usd` (the multi-model files)")


def run_tiers(ns: argparse.Namespace) -> int:
    """Score, calibrate, evaluate and print (see the module docstring); 1 on bad input."""
    try:
        data = load_outcomes(ns.data, parse_prices(ns.prices))
        tier_models = resolve_models([t.strip() for t in ns.tiers.split(",") if t.strip()], data.models)
        k = len(tier_models)
        shares = T.check_shares(_default_shares(k) if ns.shares is None
                                else [float(x) for x in ns.shares.split(",")], k)
    except (OSError, ValueError) as e:
        print(f"eval-tiers: {e}", file=sys.stderr)
        return 1
    complete = T.finite_rows(data.quality, data.cost)
    calib, ev = complete & _split_mask(data, ns.calibrate_split), complete & _split_mask(data, ns.split)
    if not calib.any() or not ev.any():
        print(f"eval-tiers: no complete rows for split {ns.calibrate_split!r} or {ns.split!r}", file=sys.stderr)
        return 1
    if ns.calibrate_split == ns.split or ns.split == "all" or ns.calibrate_split == "all":
        print("warning: the cut points are calibrated on rows that are also evaluated", file=sys.stderr)
    from ..logreg import load_classifier

    try:
        classifier = load_classifier(ns.model)
    except (OSError, ValueError) as e:
        print(f"eval-tiers: cannot load the classifier: {e}", file=sys.stderr)
        return 1
    used = np.flatnonzero(calib | ev)
    scores = np.full(len(data.prompts), np.nan)
    scores[used] = classifier.score([data.prompts[i] for i in used])
    report = evaluate(scores, data, calib, ev, [data.models.index(m) for m in tier_models], shares)
    report.update(data=str(ns.data), split=ns.split, calibrate_split=ns.calibrate_split,
                  classifier=ns.model or "default", classifier_info=classifier.describe(), tiers=tier_models,
                  skipped_null_rows=int((~complete & _split_mask(data, ns.split)).sum()),
                  skipped_null_rows_calibrate=int((~complete & _split_mask(data, ns.calibrate_split)).sum()))
    print(render(report))
    if ns.plot:
        try:
            plot(report, ns.plot)
        except ImportError:
            print("eval-tiers: --plot needs matplotlib (pip install matplotlib)", file=sys.stderr)
            return 1
        print(f"wrote {ns.plot}")
    if ns.json:
        print(orjson.dumps(report, option=orjson.OPT_SERIALIZE_NUMPY).decode())
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m classifiers.training.tiers_cli DATA.jsonl ...``: the same as ``tierroute eval-tiers``."""
    parser = argparse.ArgumentParser(prog="python -m classifiers.training.tiers_cli",
                                     description=__doc__.split("\n")[0])
    add_tiers_arguments(parser)
    return run_tiers(parser.parse_args(argv))


def _default_shares(k: int) -> list[float]:
    return [0.5, 0.3, 0.2] if k == 3 else [1.0 / k] * k


def _split_mask(data: Outcomes, split: str) -> np.ndarray:
    return np.ones(len(data.splits), dtype=bool) if split == "all" else data.splits == split


def evaluate(scores: np.ndarray, data: Outcomes, calib: np.ndarray, ev: np.ndarray, cols: list[int],
             shares: np.ndarray) -> dict[str, Any]:
    """Everything the command reports, as JSON-able values (costs per 1k prompts in USD)."""
    cs, es = scores[calib], scores[ev]
    eq, ec = data.quality[ev][:, cols], data.cost[ev][:, cols]
    cuts = T.cuts_for_shares(cs, shares)
    router = T.route(es, eq, ec, cuts, "router").point
    singles = T.single_model_points(data.quality[ev], data.cost[ev], data.models)
    best = max(singles, key=lambda p: p.quality)
    oracle_tiers = T.oracle(eq, ec, "oracle over the tiers").point
    oracle_all = T.oracle(data.quality[ev], data.cost[ev], f"oracle over all {len(data.models)} models").point
    curve = T.sweep(cs, es, eq, ec, np.array([T.tilted_shares(shares, b) for b in BETAS]))
    step = 0.05 if len(cols) <= 3 else 0.1 if len(cols) <= 6 else 0.25
    frontier = T.sweep(cs, es, eq, ec, T.frontier_shares(cs, data.quality[calib][:, cols],
                                                         data.cost[calib][:, cols], step))

    def reach(pts: list[T.Point], target: float) -> float:
        return 1000.0 * T.cost_to_reach([p.mean_cost for p in pts], [p.quality for p in pts], target)

    tier_singles = [singles[c] for c in cols]

    summary = []
    for x in TARGETS:
        target = x * best.quality
        single = T.cheapest_reaching(singles, target)
        summary.append({"fraction": x, "quality": target, "router_curve": reach([p.result for p in curve], target),
                        "router_frontier": reach([p.result for p in frontier], target),
                        "random_mix_of_tiers": reach(tier_singles, target),
                        "single": single.label if single else None,
                        "single_cost_per_1k": single.cost_per_1k if single else None,
                        "oracle_tiers_cost_per_1k": oracle_tiers.cost_per_1k
                        if oracle_tiers.quality >= target else None})
    return {"n": router.n, "n_calibrate": int(np.isfinite(cs).sum()), "target_shares": shares.tolist(),
            "cuts": [T.json_number(c) for c in cuts], "router": router.to_json(),
            "random": T.random_point(eq, ec, router.shares, "random router, same shares").to_json(),
            "oracle_tiers": oracle_tiers.to_json(), "oracle_all": oracle_all.to_json(),
            "best_single": best.label, "single_models": [p.to_json() for p in singles],
            "curve": [dict(p.to_json(), beta=T.json_number(b)) for p, b in zip(curve, BETAS, strict=True)],
            "frontier_step": step, "frontier": [p.to_json() for p in frontier], "summary": summary}


def _f(v: float | None, fmt: str = ".3f") -> str:
    return "n/a" if v is None or not math.isfinite(v) else format(v, fmt)


def _shares(v: list[float]) -> str:
    return "/".join(f"{s:.2f}" for s in v)


def render(r: dict[str, Any]) -> str:
    """The human-readable report: Markdown tables."""
    best_q = next(p["quality"] for p in r["single_models"] if p["label"] == r["best_single"])
    cuts = ", ".join(c if isinstance(c, str) else f"{c:.4f}" for c in r["cuts"])
    lines = [f"{r['n']} rows of {r['data']} (split {r['split']}; {r['skipped_null_rows']} rows with a null outcome "
             f"skipped), classifier {r['classifier']}",
             f"tiers, cheapest to strongest: {', '.join(r['tiers'])}",
             f"target shares {_shares(r['target_shares'])} -> cuts {cuts} "
             f"(calibrated on {r['n_calibrate']} rows of split {r['calibrate_split']}, "
             f"{r['skipped_null_rows_calibrate']} with a null outcome skipped)", "",
             "| policy | tier shares | quality | % of best single | total $ | $ per 1k prompts |",
             "|---|---|---|---|---|---|"]
    tiers = set(r["tiers"])
    singles = sorted(r["single_models"], key=lambda p: p["cost_per_1k"])
    for p in [r["router"], r["random"], r["oracle_tiers"], r["oracle_all"], *singles]:
        is_single = p in singles
        name = f"always {p['label']}" + (" (tier)" if p["label"] in tiers else "") if is_single else p["label"]
        sh = "-" if is_single or len(p["shares"]) != len(r["tiers"]) else _shares(p["shares"])
        lines.append(f"| {name} | {sh} | {p['quality']:.3f} | {100 * p['quality'] / best_q:.1f}% "
                     f"| {p['total_cost']:.3f} | {p['cost_per_1k']:.3f} |")
    head = "| target shares | realised shares | quality | $ per 1k | random: quality | random: $ per 1k |"
    lines += ["", "Aggressiveness curve: shares proportional to target_j * exp(beta * j), cuts from the "
              "calibration split", "", "| beta " + head, "|---" * 7 + "|"]
    for p in r["curve"]:
        lines.append(f"| {p['beta'] if isinstance(p['beta'], str) else format(p['beta'], 'g')} " + _curve_row(p))
    lines += ["", f"Grid frontier: share vectors on a {r['frontier_step']:g} grid that are Pareto-optimal on split "
              f"{r['calibrate_split']}, reported on split {r['split']}", "", head, "|---" * 6 + "|"]
    lines += [_curve_row(p) for p in r["frontier"]]
    lines += ["", f"Cost per 1k prompts to reach a share of the best single model's quality "
              f"({r['best_single']}: {best_q:.3f})", "",
              "| target | quality | router (beta curve) | router (grid frontier) | random mix of the tier models "
              "| cheapest single model reaching it | oracle over the tiers |", "|---" * 7 + "|"]
    for s in r["summary"]:
        single = f"{s['single']} ({_f(s['single_cost_per_1k'])})" if s["single"] else "none"
        lines.append(f"| {100 * s['fraction']:.0f}% | {s['quality']:.3f} | {_f(s['router_curve'])} "
                     f"| {_f(s['router_frontier'])} | {_f(s['random_mix_of_tiers'])} | {single} "
                     f"| {_f(s['oracle_tiers_cost_per_1k'])} |")
    return "\n".join(lines)


def _curve_row(p: dict[str, Any]) -> str:
    ro, ra = p["router"], p["random"]
    return (f"| {_shares(p['target_shares'])} | {_shares(ro['shares'])} | {ro['quality']:.3f} "
            f"| {ro['cost_per_1k']:.3f} | {ra['quality']:.3f} | {ra['cost_per_1k']:.3f} |")


def plot(r: dict[str, Any], path: str) -> None:
    """One PNG: cost per 1k prompts (log) against quality for curves, single models and oracles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 6))
    for key, style, label in (("curve", "o-", "router, aggressiveness sweep"),
                              ("frontier", "s-", "router, grid frontier (chosen on calibration split)")):
        pts = sorted((p["router"]["cost_per_1k"], p["router"]["quality"]) for p in r[key])
        ax.plot(*zip(*pts, strict=True), style, ms=4, label=label)
    rnd = sorted((p["random"]["cost_per_1k"], p["random"]["quality"]) for p in r["curve"])
    ax.plot(*zip(*rnd, strict=True), "--", color="grey", label="random router, same shares as the sweep")
    tier_pts = [p for p in r["single_models"] if p["label"] in r["tiers"]]
    targets = np.linspace(min(p["quality"] for p in tier_pts), max(p["quality"] for p in tier_pts), 60)
    mix = [T.cost_to_reach([p["cost_per_1k"] for p in tier_pts], [p["quality"] for p in tier_pts], q) for q in targets]
    ax.plot(mix, targets, ":", color="black", label="random mix of the tier models, best shares per target")
    ax.plot(r["router"]["cost_per_1k"], r["router"]["quality"], "*", ms=16, color="C3",
            label=f"router at shares {_shares(r['target_shares'])}")
    for p in r["single_models"]:
        tier = p["label"] in r["tiers"]
        ax.plot(p["cost_per_1k"], p["quality"], "D" if tier else "o", color="black" if tier else "C7", ms=6)
        ax.annotate(p["label"].rsplit("/", 1)[-1], (p["cost_per_1k"], p["quality"]), fontsize=7,
                    xytext=(4, -3), textcoords="offset points")
    for key, marker in (("oracle_tiers", "P"), ("oracle_all", "X")):
        ax.plot(r[key]["cost_per_1k"], r[key]["quality"], marker, ms=11, label=r[key]["label"])
    ax.set_xscale("log")
    ax.set_xlabel("cost per 1k prompts, USD (log scale)")
    ax.set_ylabel("quality (mean score)")
    ax.set_title(f"{len(r['tiers'])}-tier routing on {Path(r['data']).name}, split {r['split']} "
                 f"(cuts from {r['calibrate_split']}), classifier {r['classifier']}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
