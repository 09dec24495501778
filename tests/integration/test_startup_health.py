"""A replica that is down when the proxy starts is never reported healthy (issue 13: the start-up log
said `healthy_tiers: [frontier, large, small]` with no small replica reachable)."""

from __future__ import annotations

import logging

import pytest

from tests.integration.conftest import Cluster, default_policy


def test_a_replica_down_at_start_is_unhealthy_after_the_first_check(make_proxy, cluster: Cluster,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    pol = default_policy(cluster)
    pol["tiers"][0]["backends"][0]["replicas"] = ["http://127.0.0.1:9"]  # nothing listens on port 9
    pol["health"].update(interval_s=60, unhealthy_after=3)  # only the start-up check runs; 3 failures to mark
    with caplog.at_level(logging.INFO, logger="tierroute"), make_proxy(pol) as proxy:
        stats = proxy.admin("/admin/stats")
        assert stats["replicas"]["small/0"]["healthy"] is False
        assert stats["replicas"]["large/0"]["healthy"] is True
    ready = [r for r in caplog.records if r.getMessage() == "tierroute ready"]
    assert ready and "small" not in ready[0].healthy_tiers and "large" in ready[0].healthy_tiers
