"""``tierroute calibrate``: pick a score threshold for a target share of strong calls or a target PGR.

Scores come from labelled pair data scored by the classifier, or from a running proxy's recent
traffic (``--from-proxy URL`` reads ``GET /admin/scores``), which is what operators should
calibrate on: a threshold chosen on one data set routes a different share elsewhere. The
threshold ``t`` sends a prompt to the stronger side when ``score >= t``:

- ``--strong-fraction F``: ``t`` is the (1 - F) quantile of the scores, so about F of them
  score at or above it;
- ``--target-pgr P`` (labelled data only): the smallest share of strong calls that recovers P
  of the weak→strong quality gap on the data (RouteLLM's CPT, on a 100-point curve), then as
  above.

``--boundary K`` says which cut of ``routing.auto`` is meant (default 0: cheapest tier vs the
rest). ``--write FILE`` sets ``routing.auto[K].below`` in place, keeping the file's comments
and layout (ruamel.yaml), after checking that the edited policy still validates.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from .errors import PolicyError
from .policy.loader import parse_policy


@dataclass(frozen=True)
class Calibration:
    threshold: float
    strong_fraction: float  # share of the scores at or above the threshold
    pgr: float | None  # on labelled data only


def threshold_for_fraction(scores: np.ndarray, fraction: float) -> float:
    if not 0.0 < fraction < 1.0:
        raise ValueError("the strong fraction must be strictly between 0 and 1")
    return float(np.quantile(scores, 1.0 - fraction))


def calibrate_scores(scores: np.ndarray, *, strong_fraction: float | None = None, target_pgr: float | None = None,
                     weak: np.ndarray | None = None, strong: np.ndarray | None = None) -> Calibration:
    """The threshold for the target (see the module docstring) and what it achieves on ``scores``."""
    from classifiers.training.evaluate import routing_curve

    curve = routing_curve(scores, weak, strong, num_bins=100) if weak is not None and strong is not None else None
    if target_pgr is not None:
        if curve is None:
            raise ValueError("--target-pgr needs labelled data (weak and strong scores)")
        fraction = curve.cpt(target_pgr)
        if fraction != fraction:
            raise ValueError(f"no threshold reaches PGR {target_pgr} on this data")
        fraction = min(max(fraction, 1e-6), 1 - 1e-6)
    elif strong_fraction is not None:
        fraction = strong_fraction
    else:
        raise ValueError("give a strong fraction or a target PGR")
    t = threshold_for_fraction(scores, fraction)
    achieved = float(np.mean(scores >= t))
    pgr = None
    if weak is not None and strong is not None:
        quality = float(np.where(scores >= t, strong, weak).mean())
        pgr = (quality - float(weak.mean())) / (float(strong.mean()) - float(weak.mean()))
    return Calibration(t, achieved, pgr)


def write_threshold(path: str | Path, boundary: int, threshold: float) -> str:
    """Set ``routing.auto[boundary].below`` in the policy file; returns the old value.

    Only the number's characters change: ruamel.yaml finds where the value sits, the text is
    edited there, so comments, layout and everything else stay byte for byte.
    """
    from ruamel.yaml import YAML

    p = Path(path)
    text = p.read_text()
    doc = YAML().load(text)
    auto = doc["routing"]["auto"]
    if any("share" in entry for entry in auto):
        raise PolicyError(str(p), ["routing.auto uses `share`: its cut points already follow traffic; "
                                   "remove the shares to set thresholds"])
    if not 0 <= boundary < len(auto) - 1:
        raise PolicyError(str(p), [f"routing.auto has {len(auto) - 1} cut point(s); boundary {boundary} is not one"])
    old = auto[boundary]["below"]
    line_no, col = auto[boundary].lc.value("below")
    lines = text.splitlines(keepends=True)
    line = lines[line_no]
    match = re.match(r"[-+0-9.eE]+", line[col:])
    if match is None:
        raise PolicyError(str(p), [f"routing.auto[{boundary}].below is not a plain number at line {line_no + 1}"])
    lines[line_no] = line[:col] + f"{round(threshold, 4)}" + line[col + match.end():]
    new_text = "".join(lines)
    parse_policy(new_text, path=str(p))  # the edited file must still be a valid policy
    with open(p, "w") as f:  # in place: a symlinked (ConfigMap) file stays a symlink
        f.write(new_text)
    return str(old)


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", nargs="?", metavar="DATA.jsonl", help="pair-schema JSONL to calibrate on")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--strong-fraction", type=float, metavar="F", help="share of traffic above the boundary")
    target.add_argument("--target-pgr", type=float, metavar="P", help="share of the quality gap to recover")
    parser.add_argument("--from-proxy", metavar="URL", help="calibrate on a running proxy's recent scores")
    parser.add_argument("--admin-key", help="admin key for --from-proxy (default: env TIERROUTE_ADMIN_KEY)")
    parser.add_argument("--model", metavar="DIR", help="classifier directory (default: the shipped model)")
    parser.add_argument("--split", metavar="NAME", help="keep rows whose `split` is NAME")
    parser.add_argument("--boundary", type=int, default=0, metavar="K", help="which cut of routing.auto (default 0)")
    parser.add_argument("--write", metavar="POLICY", help="set routing.auto[K].below in this policy file")


def run_calibrate(ns: argparse.Namespace) -> int:
    if (ns.data is None) == (ns.from_proxy is None):
        print("give either DATA.jsonl or --from-proxy URL", file=sys.stderr)
        return 2
    try:
        if ns.from_proxy:
            result, where = _from_proxy(ns)
        else:
            result, where = _from_data(ns)
    except (ValueError, httpx.HTTPError) as e:
        print(f"calibrate: {e}", file=sys.stderr)
        return 1
    print(f"calibrated on {where}")
    pgr = f", PGR {result.pgr:.3f} on these rows" if result.pgr is not None else ""
    print(f"threshold {result.threshold:.4f}: {result.strong_fraction:.1%} score at or above it{pgr}")
    if ns.write:
        try:
            old = write_threshold(ns.write, ns.boundary, result.threshold)
        except PolicyError as e:
            print(f"not written: {e}", file=sys.stderr)
            return 1
        print(f"wrote {ns.write}: routing.auto[{ns.boundary}].below {old} -> {round(result.threshold, 4)}")
    return 0


def _from_data(ns: argparse.Namespace) -> tuple[Calibration, str]:
    from classifiers.logreg import load_classifier
    from classifiers.training.data import load_pairs
    from classifiers.training.eval_cli import score_prompts

    rows = load_pairs(ns.data, split=ns.split)
    if not rows:
        raise ValueError(f"no usable rows in {ns.data}")
    scores = score_prompts(load_classifier(ns.model), [r.prompt for r in rows])
    weak = np.array([r.weak_score for r in rows])
    strong = np.array([r.strong_score for r in rows])
    result = calibrate_scores(scores, strong_fraction=ns.strong_fraction, target_pgr=ns.target_pgr,
                              weak=weak, strong=strong)
    return result, f"{len(rows)} rows of {ns.data}" + (f" (split {ns.split})" if ns.split else "")


def _from_proxy(ns: argparse.Namespace) -> tuple[Calibration, str]:
    if ns.target_pgr is not None:
        raise ValueError("--target-pgr needs labelled data; a proxy's traffic has scores, not outcomes")
    key = ns.admin_key or os.environ.get("TIERROUTE_ADMIN_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    r = httpx.get(ns.from_proxy.rstrip("/") + "/admin/scores", headers=headers, timeout=30)
    r.raise_for_status()
    doc = r.json()
    scores = np.asarray(doc["scores"], dtype=np.float64)
    if len(scores) < 20:
        raise ValueError(f"the proxy has seen only {len(scores)} classified requests; wait for more traffic")
    result = calibrate_scores(scores, strong_fraction=ns.strong_fraction)
    print(_drift_report(doc, ns.boundary))
    return result, f"{len(scores)} recent scores from {ns.from_proxy}"


def _drift_report(doc: dict[str, object], boundary: int) -> str:
    """What the proxy routes now: its cut points and each tier's routed (and target) share."""
    tiers = doc.get("tiers") or {}
    assert isinstance(tiers, dict)
    parts = []
    for name, t in tiers.items():
        routed, target = t.get("routed_share"), t.get("target_share")
        parts.append(f"{name} {routed:.1%}" if isinstance(routed, float) else f"{name} -")
        if isinstance(target, float):
            parts[-1] += f" (target {target:.0%})"
    above = sum(t.get("routed_share") or 0.0 for t in list(tiers.values())[boundary + 1:])
    return (f"the proxy routes now: {', '.join(parts)}; above boundary {boundary}: {above:.1%} "
            f"(cuts {doc.get('cuts')}, from {doc.get('cuts_from')})")
