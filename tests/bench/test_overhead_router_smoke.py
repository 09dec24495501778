"""bench/overhead_router.py's pieces (issue 12's targets): the two-replica policy, CPU accounting, the checks.

Nothing here is timed; it checks that the policy loads as tierroute reads it and that the counters move.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import overhead  # noqa: E402
import overhead_router as orr  # noqa: E402

from router.policy.loader import parse_policy  # noqa: E402


def test_the_replicas_policy_has_two_cache_aware_replicas_per_tier() -> None:
    text = orr.policy_replicas(overhead.POLICY.format(port_a=1001, port_b=1002), {"small": 1003, "large": 1004})
    policy = parse_policy(text).policy
    assert policy.balance.policy == "cache_aware" and policy.routing.sticky.enabled
    replicas = {t.name: [str(u).rstrip("/") for u in t.backends[0].replicas] for t in policy.tiers}
    assert replicas == {"small": ["http://127.0.0.1:1001", "http://127.0.0.1:1003"],
                        "large": ["http://127.0.0.1:1002", "http://127.0.0.1:1004"]}


def test_cpu_time_of_a_process_group_grows_with_work() -> None:
    before = orr.group_cpu_ns([os.getpid()])
    sum(i * i for i in range(300_000))
    assert orr.group_cpu_ns([os.getpid()]) > before > 0
    assert orr.task_cpu_ns(2**22 + 12345) == 0  # no such process


def test_the_checks_read_the_table_and_say_what_is_missing() -> None:
    table = {("tierroute_auto_redis", 16, "rps"): 900.0, ("sgl_router_cache_aware", 16, "rps"): 1000.0,
             ("tierroute_auto_redis", 16, "cpu_us"): 300.0}
    checks = {what: ok for what, ok, _ in orr.checks(lambda t, c, k: table.get((t, c, k)))}
    assert checks["tierroute_auto_redis req/s at 16 ≥ 0.8× sgl_router_cache_aware's"] is True
    assert checks["tierroute_auto_redis proxy CPU at 16 ≤ 250 µs per request"] is False
    assert checks["tierroute_auto_redis req/s at 64 ≥ 0.8× sgl_router_cache_aware's"] is None
