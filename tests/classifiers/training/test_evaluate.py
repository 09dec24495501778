from __future__ import annotations

import numpy as np
import pytest

from classifiers.training.evaluate import (
    apgr,
    mean_random_summary,
    oracle_router,
    prompt_length_router,
    random_router,
    routing_curve,
)


def two_gain_rows() -> tuple[np.ndarray, np.ndarray]:
    """11 prompts; only the two last ones gain from the strong model (weak 0, strong 1)."""
    weak = np.array([1.0] * 9 + [0.0, 0.0])
    strong = np.ones(11)
    return weak, strong


def test_perfect_router_known_value() -> None:
    weak, strong = two_gain_rows()
    scores = np.arange(11, dtype=float)  # ranks the two gainers on top, distinct scores
    curve = routing_curve(scores, weak, strong)
    # decile edges of 0..10 are 0..10: strong fractions 11/11 .. 2/11, then 0 at the last edge
    np.testing.assert_allclose(curve.strong_fraction, [0.0] + [k / 11 for k in range(2, 12)])
    np.testing.assert_allclose(curve.pgr, [0.0] + [1.0] * 10)
    assert curve.apgr == pytest.approx(0.5 * 2 / 11 + 9 / 11)  # = 10/11
    assert curve.weak_mean == pytest.approx(9 / 11) and curve.strong_mean == 1.0
    assert curve.cpt(0.5) == pytest.approx(1 / 11)
    assert curve.cpt(1.0) == pytest.approx(2 / 11)


def test_oracle_scores_with_ties_known_value() -> None:
    weak = np.array([0.0, 1.0, 1.0, 0.0] * 25)
    strong = np.array([1.0, 1.0, 1.0, 0.0] * 25)  # only every fourth prompt gains
    scores = oracle_router(weak, strong)
    curve = routing_curve(scores, weak, strong)
    assert curve.strong_fraction[0] == 0.0 and curve.strong_fraction[-1] == 1.0
    # (0, 0) -> (0.25, 1) -> (1, 1): area 1 - 0.25 / 2
    assert curve.apgr == pytest.approx(0.875)
    assert routing_curve(-scores, weak, strong).apgr == pytest.approx(0.125)  # reversed: (0.75, 0) -> (1, 1)


def test_constant_router_is_the_straight_line() -> None:
    weak, strong = two_gain_rows()
    curve = routing_curve(np.full(11, 0.3), weak, strong)
    assert curve.strong_fraction[0] == 0.0 and curve.strong_fraction[-1] == 1.0
    assert curve.apgr == pytest.approx(0.5)
    assert curve.cpt(0.5) == pytest.approx(0.5)
    assert curve.cpt(0.8) == pytest.approx(0.8)


def test_random_router_averages_one_half() -> None:
    rng = np.random.default_rng(123)
    weak = rng.integers(0, 2, 400).astype(float)
    strong = np.maximum(weak, rng.integers(0, 2, 400))
    values = [apgr(random_router(400, seed), weak, strong) for seed in range(200)]
    assert np.mean(values) == pytest.approx(0.5, abs=0.01)
    assert mean_random_summary(weak, strong, seeds=50)["apgr"] == pytest.approx(0.5, abs=0.02)


def test_random_router_is_seeded() -> None:
    np.testing.assert_array_equal(random_router(5, 7), random_router(5, 7))
    assert not np.array_equal(random_router(5, 7), random_router(5, 8))


def test_cpt_interpolates_and_takes_the_first_crossing() -> None:
    weak, strong = two_gain_rows()
    curve = routing_curve(np.arange(11, dtype=float), weak, strong)
    assert curve.cpt(0.0) == 0.0
    assert curve.cpt(0.25) == pytest.approx(0.5 / 11)
    assert np.isnan(curve.cpt(1.5))
    summary = curve.summary()
    assert set(summary) == {"apgr", "cpt50", "cpt80"}
    assert summary["cpt80"] == pytest.approx(1.6 / 11)


def test_quantile_edges_match_numpy_up_to_rounding() -> None:
    from classifiers.training.evaluate import quantile_edges

    rng = np.random.default_rng(5)
    for n in (1, 2, 7, 11, 100, 101):
        x = rng.random(n)
        np.testing.assert_allclose(quantile_edges(x), np.quantile(x, np.linspace(0, 1, 11)), rtol=1e-12)
    np.testing.assert_array_equal(quantile_edges(np.arange(11.0)), np.arange(11.0))


def test_prompt_length_router_scores_length() -> None:
    np.testing.assert_array_equal(prompt_length_router(["a", "abc", ""]), [1.0, 3.0, 0.0])


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="same length"):
        routing_curve([0.1, 0.2], [0.0], [1.0])
    with pytest.raises(ValueError, match="undefined"):
        routing_curve([0.1, 0.2], [1.0, 0.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="no rows"):
        routing_curve([], [], [])
