"""N-tier routing evaluation (classifiers.training.tiers, classifiers.training.tiers_cli) on crafted data."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from classifiers.fake import FunctionClassifier
from classifiers.training import tiers as T
from classifiers.training import tiers_cli

WriteJsonl = Callable[[Iterable[dict[str, Any]]], Path]


def crafted(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three tiers: 0/1 outcomes, stronger more often right; per-prompt costs rising by tier."""
    rng = np.random.default_rng(seed)
    quality = (rng.random((n, 3)) < np.array([0.4, 0.6, 0.85])).astype(float)
    cost = rng.uniform(0.5, 1.5, (n, 1)) * np.array([1.0, 3.0, 20.0]) * 1e-4
    return quality, cost


def test_assignment_follows_the_policy_bounds() -> None:
    scores = [0.0, 0.29, 0.3, 0.59, 0.6, 1.0]
    assert T.assign_tiers(scores, [0.3, 0.6]).tolist() == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError):
        T.assign_tiers(scores, [0.6, 0.3])


def test_costs_quality_and_shares_add_up() -> None:
    quality = np.array([[0, 1, 1], [1, 1, 1], [0, 0, 1], [0, 0, 0]], dtype=float)
    cost = np.array([[1, 2, 10], [1, 3, 10], [2, 4, 20], [1, 2, 30]], dtype=float)
    r = T.route([0.1, 0.5, 0.9, 0.95], quality, cost, [0.3, 0.8])
    assert r.assignment.tolist() == [0, 1, 2, 2]
    assert r.cost.tolist() == [1, 3, 20, 30]
    assert r.point.total_cost == 54 and r.point.mean_cost == 13.5 and r.point.cost_per_1k == 13500
    assert r.point.quality == 0.5 and r.point.shares == (0.25, 0.25, 0.5) and r.point.n == 4


def test_oracle_takes_the_cheapest_right_model_else_the_cheapest() -> None:
    quality = np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0], [1, 1, 1]], dtype=float)
    cost = np.array([[1, 2, 10], [1, 3, 10], [5, 4, 20], [1, 2, 3]], dtype=float)
    assert T.oracle_assignment(quality, cost).tolist() == [1, 2, 1, 0]
    o = T.oracle(quality, cost).point
    assert o.quality == 0.75 and o.total_cost == 2 + 10 + 4 + 1


def test_a_perfect_router_matches_the_oracle_at_its_shares() -> None:
    quality, cost = crafted()
    best = T.oracle(quality, cost)
    jitter = np.random.default_rng(1).uniform(0.0, 0.9, len(quality))
    scores = (best.assignment + jitter) / 3.0  # monotone in the oracle's tier
    cuts = T.cuts_for_shares(scores, best.point.shares)
    r = T.route(scores, quality, cost, cuts)
    assert np.array_equal(r.assignment, best.assignment)
    assert r.point.quality == pytest.approx(best.point.quality)
    assert r.point.total_cost == pytest.approx(best.point.total_cost)
    assert r.point.quality > max(p.quality for p in T.single_model_points(quality, cost, "abc"))


def test_a_constant_router_equals_one_single_model() -> None:
    quality, cost = crafted()
    singles = T.single_model_points(quality, cost, ["cheap", "mid", "strong"])
    const = np.full(len(quality), 0.5)
    r = T.route(const, quality, cost, [0.3, 0.6]).point
    assert (r.quality, r.total_cost, r.shares) == (singles[1].quality, singles[1].total_cost, (0.0, 1.0, 0.0))
    calibrated = T.route(const, quality, cost, T.cuts_for_shares(const, [0.5, 0.3, 0.2])).point
    j = int(np.argmax(calibrated.shares))
    assert calibrated.shares[j] == 1.0 and calibrated.quality == singles[j].quality
    assert calibrated.total_cost == pytest.approx(singles[j].total_cost)
    assert T.random_point(quality, cost, [0, 0, 1]).quality == pytest.approx(singles[2].quality)


def test_shares_are_honoured_on_calibration_and_fresh_scores() -> None:
    rng = np.random.default_rng(2)
    calib, fresh = rng.beta(2, 5, 2000), rng.beta(2, 5, 2000)
    for shares in ([0.5, 0.3, 0.2], [0.1, 0.2, 0.3, 0.4], [0.97, 0.03]):
        cuts = T.cuts_for_shares(calib, shares)
        k = len(shares)
        got = np.bincount(T.assign_tiers(calib, cuts), minlength=k) / len(calib)
        assert np.allclose(got, shares, atol=1 / len(calib))
        got_fresh = np.bincount(T.assign_tiers(fresh, cuts), minlength=k) / len(fresh)
        assert np.allclose(got_fresh, shares, atol=0.04)


def test_quantile_cuts_strictly_increase_even_with_ties() -> None:
    tied = np.array([0.2] * 50 + [0.5] * 30 + [0.9] * 20)
    cuts = T.cuts_for_shares(tied, [0.25, 0.25, 0.25, 0.25])
    assert np.all(np.diff(cuts) > 0)
    same = np.full(100, 0.4)
    for k in (2, 3, 5):
        c = T.cuts_for_shares(same, [1 / k] * k)
        finite = c[np.isfinite(c)]
        assert np.all(np.diff(finite) > 0) and np.all(c[1:] >= c[:-1])
    # a tied block goes wholly to the side that lands closest to the target share
    block = np.concatenate([np.full(50, 0.2), np.linspace(0.3, 1.0, 50)])
    got = np.bincount(T.assign_tiers(block, T.cuts_for_shares(block, [0.3, 0.3, 0.4])), minlength=3) / 100
    assert got[0] == 0.5 and got.sum() == pytest.approx(1.0)
    # float noise inside a block of identical prompts does not split it
    noisy = block + np.where(block == 0.2, np.random.default_rng(6).normal(0, 1e-12, 100), 0.0)
    assert np.array_equal(T.assign_tiers(noisy, T.cuts_for_shares(noisy, [0.3, 0.3, 0.4])),
                          T.assign_tiers(block, T.cuts_for_shares(block, [0.3, 0.3, 0.4])))


def test_empty_tiers_from_zero_shares() -> None:
    s = np.linspace(0, 1, 11)
    assert T.assign_tiers(s, T.cuts_for_shares(s, [0, 0, 1])).tolist() == [2] * 11
    assert T.assign_tiers(s, T.cuts_for_shares(s, [1, 0, 0])).tolist() == [0] * 11
    with pytest.raises(ValueError):
        T.cuts_for_shares(s, [0.5, 0.6])


def test_null_scores_and_outcomes_are_skipped() -> None:
    quality, cost = crafted(10)
    scores = np.linspace(0, 1, 10)
    base = T.route(scores[2:8], quality[2:8], cost[2:8], [0.4, 0.6]).point
    scores[0] = np.nan
    quality[1, 2] = np.nan
    cost[8, 0] = np.nan
    scores[9] = np.nan
    r = T.route(scores, quality, cost, [0.4, 0.6])
    assert r.point.n == 6 and r.kept.tolist() == [False, False] + [True] * 6 + [False, False]
    assert (r.point.quality, r.point.total_cost) == (base.quality, base.total_cost)
    assert all(p.n == 8 for p in T.single_model_points(quality, cost, "abc"))
    assert T.oracle(quality, cost).point.n == 8 and T.random_point(quality, cost, [1, 0, 0]).n == 8
    assert T.cuts_for_shares([np.nan, 0.1, 0.9], [0.5, 0.5]).tolist() == [0.5]


def test_tilted_shares_move_every_cut_down() -> None:
    base = np.array([0.5, 0.3, 0.2])
    assert np.allclose(T.tilted_shares(base, 0.0), base)
    assert T.tilted_shares(base, -math.inf).tolist() == [1, 0, 0]
    assert T.tilted_shares(base, math.inf).tolist() == [0, 0, 1]
    s = np.random.default_rng(3).random(500)
    cuts = [T.cuts_for_shares(s, T.tilted_shares(base, b)) for b in np.linspace(-4, 4, 9)]
    assert all(np.all(b <= a) for a, b in zip(cuts, cuts[1:], strict=False))


def test_grid_pareto_and_cost_to_reach() -> None:
    grid = T.share_grid(3, 0.25)
    assert grid.shape == (15, 3) and np.allclose(grid.sum(axis=1), 1)
    assert T.pareto_mask([1, 2, 2, 3, 1], [0.5, 0.7, 0.6, 0.7, 0.5]).tolist() == [True, True, False, False, False]
    cost, quality = [4, 1, 2], [0.9, 0.5, 0.7]
    assert T.cost_to_reach(cost, quality, 0.8) == pytest.approx(3.0)
    assert T.cost_to_reach(cost, quality, 0.4) == 1.0
    assert math.isnan(T.cost_to_reach(cost, quality, 0.95))
    # a random mix of the ends beats interpolating between neighbours
    assert T.cost_to_reach([1, 2, 3], [0.5, 0.55, 0.9], 0.7) == pytest.approx(2.0)


def test_frontier_is_chosen_on_calibration_rows_only() -> None:
    quality, cost = crafted(300)
    scores = np.random.default_rng(4).random(300)
    shares = T.frontier_shares(scores, quality, cost, 0.1)
    pts = [T.route(scores, quality, cost, T.cuts_for_shares(scores, p)).point for p in shares]
    costs = [p.mean_cost for p in pts]
    assert costs == sorted(costs) and [p.quality for p in pts] == sorted(p.quality for p in pts)


def _rows(n: int = 60) -> list[dict[str, Any]]:
    quality, cost = crafted(n, seed=5)
    names = ["org/cheap", "mid", "strong"]
    rows = []
    for i in range(n):
        scores: dict[str, float | None] = {m: float(quality[i, j]) for j, m in enumerate(names)}
        if i == 0:
            scores["mid"] = None
        rows.append({"id": str(i), "split": "train" if i % 3 else "test",
                     "prompt": ("hard " if quality[i, 0] == 0 else "") + f"q{i}", "scores": scores,
                     "cost_usd": {m: float(cost[i, j]) for j, m in enumerate(names)}})
    return rows


def test_command_prints_tables_json_and_plot(write_jsonl: WriteJsonl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(_rows())
    fake = FunctionClassifier(lambda t: 0.9 if t.startswith("hard") else 0.1)
    monkeypatch.setattr("classifiers.logreg.load_classifier", lambda _dir=None: fake)
    parser = argparse.ArgumentParser()
    tiers_cli.add_tiers_arguments(parser)
    png = tmp_path / "t.png"
    ns = parser.parse_args([str(path), "--tiers", "cheap,mid,strong", "--shares", "0.5,0.3,0.2",
                            "--plot", str(png), "--json"])
    assert tiers_cli.run_tiers(ns) == 0
    out = capsys.readouterr().out.strip().splitlines()
    report = orjson.loads(out[-1])
    assert report["tiers"] == ["org/cheap", "mid", "strong"] and report["n"] == 19  # 20 test rows, one null
    assert report["skipped_null_rows"] == 1 and report["n_calibrate"] == 40
    assert len(report["single_models"]) == 3 and len(report["curve"]) == len(tiers_cli.BETAS)
    assert report["curve"][0]["beta"] == "-inf" and report["curve"][0]["cuts"] == ["inf", "inf"]
    assert any(line.startswith("| router |") for line in out) and png.stat().st_size > 0
    assert sum(len(b) for b in fake.batches) == 59
    ns = parser.parse_args([str(path), "--tiers", "cheap,nope"])
    assert tiers_cli.run_tiers(ns) == 1
