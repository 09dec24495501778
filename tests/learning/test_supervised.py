"""Issue 10, point 6: the learning service's loops run supervised: a crash is counted in /admin/stats
``background``, the loop restarts, and what the crashed batch held is not left behind."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from router.learning import service
from tests.integration.conftest import Cluster
from tests.learning.support import ask, feedback, learning_proxy, learning_section, wait_for


class FlakyFeaturizer:
    """Fails its first batch, then gives one feature per text."""

    def __init__(self) -> None:
        self.calls = 0

    def features(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("injected featurizer fault")
        return [{"tf": [len(t)]} for t in texts]


def test_a_crashing_remember_loop_is_restarted_and_shown(cluster: Cluster, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "_load_featurizer", lambda _dir: FlakyFeaturizer())
    with learning_proxy(cluster, tmp_path, learning_section(tmp_path)) as proxy:
        ask(proxy, "What is the capital of France?")  # its batch meets the fault
        doc = wait_for(lambda: (d := proxy.admin("/admin/stats"))["background"].get("learning_remember", {})
                       .get("restarts") == 1 and d, what="the restart in /admin/stats")
        assert doc["background"]["learning_remember"]["last_error"] == "RuntimeError: injected featurizer fault"
        assert doc["background"]["learning_counts"]["restarts"] == 0
        assert doc["bounds"]["learning"]["pending_features"] == 0  # the failed batch left nothing pending
        rid, _, _ = ask(proxy, "Name three primary colours.")  # the restarted loop remembers this one
        wait_for(lambda: proxy.admin("/admin/stats")["bounds"]["learning"]["remembered"] == 1,
                 what="the second request remembered")
        assert feedback(proxy, {"request_id": rid, "thumbs": "up"}).status_code == 200
        bounds = proxy.admin("/admin/stats")["bounds"]["learning"]
        assert bounds["remember_queue_max"] == service.REMEMBER_QUEUE and bounds["remembered_max"] > 0
