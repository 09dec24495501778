"""A replica whose stream is not SSE of JSON chunks is an upstream fault, retried before the first byte.

Found by the chaos run (issue 10, point 8): a replica answering 200 and then events that are not
JSON had them relayed to the client as they were, though another healthy replica could answer.
"""

from __future__ import annotations

import httpx
import orjson

from tests.integration.conftest import CLIENT_KEY, Cluster
from tests.integration.test_upstream_faults import policy

H = {"Authorization": f"Bearer {CLIENT_KEY}"}


def test_malformed_stream_is_retried_on_another_replica(make_proxy, cluster: Cluster) -> None:
    broken = cluster.small[0]
    with make_proxy(policy(cluster)) as proxy:
        httpx.post(broken + "/sim/fault", json={"mode": "malformed_sse"}, timeout=5).raise_for_status()
        try:
            for i in range(8):
                r = httpx.post(proxy.v1 + "/chat/completions", headers=H, timeout=30, json={
                    "model": "small", "stream": True, "max_tokens": 4,
                    "messages": [{"role": "user", "content": f"hello {i}"}]})
                assert r.status_code == 200, r.text
                events = [e.removeprefix(b"data: ") for e in r.content.split(b"\n\n") if e.strip()]
                assert events[-1] == b"[DONE]"
                assert all("choices" in orjson.loads(e) for e in events[:-1]), r.content  # JSON chunks only
            assert cluster.sim_stats(broken)["failed"] >= 1  # it was tried ...
            assert proxy.admin("/admin/stats")["replicas"]["small/0"]["failed_attempts"] >= 1  # ... and counted
        finally:
            httpx.post(broken + "/sim/fault", json={"mode": None}, timeout=5).raise_for_status()
