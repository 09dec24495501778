"""Cut points: fixed by `below`, or following the traffic's scores for `share` policies."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from router.errors import PolicyError
from router.policy.loader import parse_policy
from router.policy.thresholds import REFRESH, Thresholds, share_cuts
from tests.support import policy_dict


def _routing(auto, **kw):
    pol = policy_dict(small=["http://127.0.0.1:1"], large=["http://127.0.0.1:2"],
                      frontier={"model": "openai/gpt-4o"})
    pol["routing"] = {"auto": auto, **kw}
    return parse_policy(yaml.safe_dump(pol), env={}).policy.routing


SHARES = [{"tier": "small", "share": 0.6}, {"tier": "large", "share": 0.3}, {"tier": "frontier", "share": 0.1}]


def test_share_cuts_split_the_sample() -> None:
    sample = np.linspace(0, 1, 1001)
    cuts = share_cuts([0.6, 0.3, 0.1], sample)
    assert cuts == pytest.approx((0.6, 0.9))
    assert share_cuts([0.5, 0.5], []) == (0.5,)  # no sample: as if uniform
    tied = share_cuts([0.4, 0.4, 0.2], [0.7] * 100)
    assert tied[1] > tied[0]  # strictly rising even when every score is the same


def test_fixed_cuts() -> None:
    routing = _routing([{"tier": "small", "below": 0.3}, {"tier": "large", "below": 0.7}, {"tier": "frontier"}])
    assert Thresholds().cuts(routing) == (0.3, 0.7)


def test_share_cuts_follow_traffic_after_min_samples() -> None:
    routing = _routing(SHARES, min_samples=100, score_window=1000)
    t = Thresholds(reference=[0.1, 0.2, 0.3, 0.4, 0.5])
    assert t.source(routing) == "reference"
    assert t.cuts(routing) == pytest.approx(share_cuts([0.6, 0.3, 0.1], [0.1, 0.2, 0.3, 0.4, 0.5]))
    rng = np.random.default_rng(0)
    for s in rng.uniform(0.8, 1.0, 1000):  # traffic scores much higher than the reference
        t.observe(float(s))
    assert t.source(routing) == "traffic"
    lo, hi = t.cuts(routing)
    assert 0.9 < lo < 0.94 and 0.96 < hi < 0.99
    shares = np.histogram(rng.uniform(0.8, 1.0, 5000), bins=[0, lo, hi, 1])[0] / 5000
    assert shares == pytest.approx([0.6, 0.3, 0.1], abs=0.05)


def test_cuts_are_cached_between_refreshes() -> None:
    routing = _routing(SHARES, min_samples=100, score_window=1000)
    t = Thresholds()
    for i in range(100):
        t.observe(i / 100)
    first = t.cuts(routing)
    t.observe(0.0)
    assert t.cuts(routing) is first
    for _ in range(REFRESH):
        t.observe(0.0)
    assert t.cuts(routing) != first


@pytest.mark.parametrize("auto, problem", [
    ([{"tier": "small", "share": 0.5}, {"tier": "large", "share": 0.3}, {"tier": "frontier", "share": 0.1}],
     "add up to 1"),
    ([{"tier": "small", "share": 0.5}, {"tier": "large", "below": 0.3}, {"tier": "frontier", "share": 0.5}],
     "either `below`"),
    ([{"tier": "small", "share": 0.5}, {"tier": "large"}, {"tier": "frontier", "share": 0.5}], "every entry needs"),
])
def test_share_validation(auto, problem: str) -> None:
    with pytest.raises(PolicyError) as ei:
        _routing(auto)
    assert any(problem in p for p in ei.value.problems), ei.value.problems


def test_a_model_swap_keeps_the_shares() -> None:
    """After restart() the old model's scores are gone; the new one's reference quantiles set the cuts."""
    from router.policy.model import Routing

    routing = Routing.model_validate({"auto": [{"tier": "a", "share": 0.7}, {"tier": "b", "share": 0.3}],
                                      "min_samples": 50, "score_window": 200})
    th = Thresholds(window=200)
    for i in range(200):
        th.observe(0.2 + 0.001 * i)  # the old model: scores around 0.2-0.4
    assert th.source(routing) == "traffic" and th.cuts(routing)[0] < 0.4
    new_scores = np.linspace(0.8, 0.99, 101)  # the new model scores much higher
    th.restart(list(new_scores))
    assert th.source(routing) == "reference"
    cut = th.cuts(routing)[0]
    assert abs(float(np.mean(new_scores < cut)) - 0.7) < 0.02
    for s in np.linspace(0.8, 0.99, 60):
        th.observe(float(s))
    assert th.source(routing) == "traffic" and abs(th.cuts(routing)[0] - cut) < 0.01
