"""The cache-aware choice rule on crafted cases."""

from __future__ import annotations

from router.balance.rule import Candidate, RuleParams, choose

P = RuleParams(match_threshold=0.3, abs_threshold=4, rel_threshold=1.5)
ABC = [Candidate("a"), Candidate("b"), Candidate("c")]


def test_longest_match_wins_when_balanced() -> None:
    assert choose(ABC, {"a": 2, "b": 7}, {"a": 0, "b": 1, "c": 0}, {}, 10, P) == ("b", "cache")


def test_match_ties_go_to_lower_load_then_fewer_cached_then_key() -> None:
    assert choose(ABC, {"a": 5, "b": 5}, {"a": 2, "b": 1}, {}, 10, P) == ("b", "cache")
    assert choose(ABC, {"a": 5, "b": 5}, {}, {"a": 9, "b": 3}, 10, P) == ("b", "cache")
    assert choose(ABC, {"a": 5, "b": 5}, {}, {}, 10, P) == ("a", "cache")


def test_short_match_below_threshold_goes_least_loaded() -> None:
    assert choose(ABC, {"a": 2}, {"a": 1, "b": 1, "c": 0}, {}, 10, P) == ("c", "least_loaded")
    assert choose(ABC, {}, {}, {"a": 5, "b": 1, "c": 3}, 10, P) == ("b", "least_loaded")  # most room


def test_imbalance_overrides_the_cache() -> None:
    leases = {"a": 20, "b": 3, "c": 9}
    assert choose(ABC, {"a": 10}, leases, {}, 10, P) == ("b", "balance")
    # within the thresholds the cache still wins
    assert choose(ABC, {"a": 10}, {"a": 6, "b": 3, "c": 3}, {}, 10, P) == ("a", "cache")


def test_unhealthy_and_full_are_skipped() -> None:
    cands = [Candidate("a", healthy=False), Candidate("b", max_running=2), Candidate("c")]
    assert choose(cands, {"a": 10, "b": 10}, {"b": 2}, {}, 10, P) == ("c", "least_loaded")
    all_full = [Candidate("b", max_running=2), Candidate("c", max_running=2)]
    assert choose(all_full, {"c": 10}, {"b": 2, "c": 2}, {}, 10, P) == ("c", "cache")  # everyone full: queue
    assert choose([Candidate("a", healthy=False)], {}, {}, {}, 1, P) is None


def test_sglang_reported_load_and_weight_count() -> None:
    cands = [Candidate("a", external=30), Candidate("b"), Candidate("c")]
    assert choose(cands, {"a": 10}, {}, {}, 10, P) == ("b", "balance")
    slow_spec = [Candidate("a", weight=2.0), Candidate("b")]
    assert choose(slow_spec, {}, {"a": 2, "b": 5}, {}, 1, P) == ("a", "least_loaded")  # 2 x 2 = 4 < 5
    assert choose(slow_spec, {}, {"a": 3, "b": 5}, {}, 1, P) == ("b", "least_loaded")  # 3 x 2 = 6 > 5
