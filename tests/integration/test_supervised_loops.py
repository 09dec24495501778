"""A background loop that crashes (an injected fault in the health checker) is restarted, counted
in /admin/stats, and the proxy keeps serving."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from classifiers.fake import ConstantClassifier
from fleet.sim import worker
from router.app import create_app
from router.balance.health import HealthChecker
from router.settings import Settings
from tests.support import ServerThread, policy_dict, write_policy

AUTH = {"Authorization": "Bearer sk-admin"}


def test_a_crashing_health_loop_is_restarted_and_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = HealthChecker.check_all
    calls = 0

    async def faulty(self: HealthChecker) -> None:  # the start-up check passes, the next two raise
        nonlocal calls
        calls += 1
        if calls in (2, 3):
            raise RuntimeError("injected health fault")
        await real(self)

    monkeypatch.setattr(HealthChecker, "check_all", faulty)
    sim = worker.create_app(worker.WorkerConfig(model="sim-small", ttft_ms=1))
    with ServerThread(sim) as w:
        path = write_policy(tmp_path / "policy.yaml", policy_dict(small=[w.url]))
        app = create_app(Settings(policy_path=str(path)), classifier=ConstantClassifier(0.1),
                         env={"TIERROUTE_API_KEYS": "sk-t", "TIERROUTE_ADMIN_KEY": "sk-admin"})
        with ServerThread(app) as proxy:
            deadline = time.monotonic() + 10
            doc: dict[str, Any] = {}
            while time.monotonic() < deadline:
                doc = httpx.get(proxy.url + "/admin/stats", headers=AUTH).json()
                if doc["background"]["health"]["restarts"] >= 2 and calls >= 5:
                    break
                time.sleep(0.05)
            assert doc["background"]["health"] == {"restarts": 2, "last_error": "RuntimeError: injected health fault"}
            assert calls >= 5  # checking again after the restarts
            assert {"policy_watch", "stats_share", "lease_renewal"} <= doc["background"].keys()
            r = httpx.post(proxy.url + "/v1/chat/completions", headers={"Authorization": "Bearer sk-t"},
                           json={"model": "small", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
            assert r.status_code == 200
