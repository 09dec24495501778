"""Stats: counters, percentiles, savings, merging across workers."""

from __future__ import annotations

import pytest

from router.clock import FakeClock
from router.stats.recorder import RequestRecord, Stats, merge_exports, render
from router.stats.window import SampleWindow, percentiles


def test_percentiles_nearest_rank() -> None:
    vals = [float(i) for i in range(1, 101)]
    assert percentiles(vals) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}
    assert percentiles([7.0]) == {"p50": 7.0, "p95": 7.0, "p99": 7.0}


def test_window_is_bounded() -> None:
    w = SampleWindow(maxlen=10)
    for i in range(1000):
        w.add(i)
    assert len(w) == 10 and w.values()[0] == 990


def _rec(tier: str, replica: str, status: int = 200, **kw) -> RequestRecord:
    return RequestRecord(tier, replica, "m", status, **kw)


def test_render_totals_savings_and_cache_rate() -> None:
    s = Stats(FakeClock())
    s.record(_rec("small", "small/0", input_tokens=100, output_tokens=10, cached_tokens=40, cost_usd=1.0,
                  baseline_cost_usd=10.0, latency_s=0.1, ttft_s=0.05))
    s.record(_rec("small", "small/1", input_tokens=100, output_tokens=10, cost_usd=1.0, baseline_cost_usd=10.0,
                  latency_s=0.3))
    s.record(_rec("large", "large/0", status=502))
    s.record_decision("small", "auto", 0.12)
    s.record_decision("large", "auto", 0.97)
    s.record_decision("large", "header", None)
    s.record_rejected(401)
    doc = render(merge_exports([s.export()]), now=FakeClock().wall() + 5, strongest_tier="large",
                 replica_info={"small/0": {"healthy": True}, "small/1": {"healthy": False}, "large/0": {}})
    assert doc["totals"]["requests"] == 3 and doc["totals"]["errors"] == 1
    assert doc["tiers"]["small"]["cache_hit_rate"] == pytest.approx(0.2)
    assert doc["tiers"]["small"]["latency_ms"]["p50"] == 100.0
    assert doc["tiers"]["small"]["ttft_ms"]["p50"] == 50.0
    assert doc["tiers"]["large"]["latency_ms"]["p50"] is None  # failures are not latency samples
    assert doc["savings"]["saved_usd"] == pytest.approx(18.0)
    assert doc["savings"]["saved_pct"] == pytest.approx(90.0)
    assert doc["replicas"]["small/1"]["healthy"] is False and doc["replicas"]["small/1"]["requests"] == 1
    assert doc["classifier"]["decisions"] == 2 and doc["classifier"]["by_tier"] == {"small": 1, "large": 1}
    assert sum(doc["classifier"]["score_histogram"]["counts"]) == 2
    assert doc["classifier"]["score_histogram"]["counts"][2] == 1  # 0.12 falls in [0.10, 0.15)
    assert doc["routing_reasons"] == {"auto": 2, "header": 1}
    assert doc["rejected_by_status"] == {"401": 1}


def test_merge_sums_workers_exactly() -> None:
    a, b = Stats(FakeClock()), Stats(FakeClock())
    a.record(_rec("small", "small/0", input_tokens=5, cost_usd=0.5, latency_s=0.1))
    b.record(_rec("small", "small/0", input_tokens=7, cost_usd=0.25, latency_s=0.2))
    b.record_decision("small", "auto", 0.99)
    m = merge_exports([a.export(), b.export()])
    c = m["tiers"]["small"]["counters"]
    assert c["requests"] == 2 and c["input_tokens"] == 12 and c["cost_usd"] == pytest.approx(0.75)
    assert sorted(m["tiers"]["small"]["latency"]) == [0.1, 0.2]
    assert m["score_hist"][-1] == 1
