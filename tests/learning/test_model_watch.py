"""A promoted model reaches a running proxy within seconds; a bad one is refused and the old one serves."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from classifiers.registry import Registry
from router.app import create_app
from router.settings import Settings
from tests.classifiers.test_registry import copy_default
from tests.integration.conftest import ADMIN_KEY, CLIENT_KEY, PROVIDER_KEY, Cluster, default_policy
from tests.support import ServerThread, write_policy


def score_of(url: str, text: str) -> float:
    r = httpx.post(url + "/v1/chat/completions", headers={"Authorization": f"Bearer {CLIENT_KEY}"}, timeout=30,
                   json={"model": "auto", "max_tokens": 4, "messages": [{"role": "user", "content": text}]})
    r.raise_for_status()
    return float(r.headers["x-tierroute-score"])


def model_info(url: str) -> dict[str, Any]:
    r = httpx.get(url + "/admin/stats", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10)
    return r.json()["model"]


def wait_for(pred: Any, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_promotion_swaps_live_and_a_bad_model_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    reg = Registry(tmp_path / "models")
    v1 = reg.add(copy_default(tmp_path / "a"))
    reg.promote(v1, event="initial")
    policy = write_policy(tmp_path / "policy.yaml", default_policy(cluster))
    env = {"TIERROUTE_API_KEYS": CLIENT_KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY, "PROVIDER_KEY": PROVIDER_KEY}
    app = create_app(Settings(policy_path=str(policy), models_dir=str(reg.root), model_poll_s=0.1), env=env)
    text = "What is the capital of France?"
    with ServerThread(app) as server:
        assert model_info(server.url)["version"] == v1
        before = score_of(server.url, text)
        v2 = reg.add(copy_default(tmp_path / "b", intercept_shift=6.0), {"score_quantiles": [0.9, 0.95, 0.99]})
        reg.promote(v2)
        assert wait_for(lambda: model_info(server.url).get("version") == v2)
        after = score_of(server.url, text)
        assert after > before + 0.2  # the new model's scores, not the old one's

        bad = copy_default(tmp_path / "bad")
        obj = orjson.loads((bad / "model.json").read_bytes())
        obj["coef"] = obj["coef"][:-3]  # wrong length: refused on load
        (bad / "model.json").write_bytes(orjson.dumps(obj))
        v3 = reg.add(bad)
        reg.promote(v3)
        assert wait_for(lambda: v3 in model_info(server.url)["refused"])
        assert model_info(server.url)["version"] == v2
        assert abs(score_of(server.url, text) - after) < 1e-9  # still the good model
