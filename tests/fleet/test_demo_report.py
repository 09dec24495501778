"""The demo's summary reads the same from run to run: tiers in policy order, reasons by count."""

from __future__ import annotations

from fleet.demo import render_report

POLICY = {"tiers": [{"name": n, "backends": [{"model": f"m-{n}"}]} for n in ("small", "large", "frontier")]}
TOTALS = {"requests": 10, "input_tokens": 1, "output_tokens": 1, "cost_usd": 0.1, "cache_hit_rate": None}
SAVINGS = {"baseline": "frontier", "saved_usd": 1.0, "baseline_cost_usd": 2.0, "saved_pct": 50.0}


def report(by_tier: dict[str, int], reasons: dict[str, int]) -> str:
    stats = {"tiers": {}, "totals": TOTALS, "savings": SAVINGS, "routing_reasons": reasons,
             "classifier": {"decisions": sum(by_tier.values()), "by_tier": by_tier}}
    return render_report(stats, POLICY, 1.0, 10, [])


def test_decisions_line_has_one_order_whatever_order_the_stats_came_in() -> None:
    a = report({"frontier": 1, "small": 6, "large": 3}, {"sticky": 2, "auto": 7, "capability": 1})
    b = report({"large": 3, "small": 6, "frontier": 1}, {"capability": 1, "auto": 7, "sticky": 2})
    assert a == b
    line = a.splitlines()[-1]
    assert line == ("Classifier decisions: 10 (small 6, large 3, frontier 1); "
                    "routing reasons: auto 7, sticky 2, capability 1")
