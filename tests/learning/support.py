"""Learning tests' cluster: the integration cluster plus a sim judge, and proxies with a learning policy."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from classifiers.fake import FunctionClassifier
from fleet.sim import judge
from router.app import create_app
from router.settings import Settings
from tests.integration.conftest import ADMIN_KEY, CLIENT_KEY, Cluster, Proxy, keyword_score
from tests.support import ServerThread, policy_dict, write_policy

OTHER_KEY = "sk-test-other"
JUDGE_KEY = "sk-test-judge"
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def judge_server() -> Iterator[str]:
    with ServerThread(judge.create_app(judge.JudgeConfig())) as server:
        yield server.url


@pytest.fixture
def sim_judge(judge_server: str) -> str:
    httpx.post(judge_server + "/judge/reset", timeout=5).raise_for_status()
    return judge_server


def judge_stats(url: str) -> dict[str, Any]:
    return httpx.get(url + "/judge/stats", timeout=5).json()


def judge_policy(url: str) -> dict[str, Any]:
    return {"model": "openai/sim-judge", "api_base": url + "/v1", "api_key_env": "JUDGE_KEY",
            "price": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}


def learning_section(tmp: Path, **over: Any) -> dict[str, Any]:
    shadow = over.pop("shadow", {})
    return {"redis_prefix": f"test-learn-{uuid.uuid4().hex[:8]}:",
            "labels": {"path": str(tmp / "labels.jsonl"), "max_labels": 1000},
            "shadow": shadow, **over}


@contextmanager
def learning_proxy(cluster: Cluster, tmp: Path, learning: dict[str, Any], *, redis_url: str | None = None,
                   small: list[str] | None = None, large: list[str] | None = None) -> Iterator[Proxy]:
    """A two-tier proxy (small < 0.5 <= large, the keyword classifier) with a ``learning`` section."""
    cluster.reset()
    tmp.mkdir(parents=True, exist_ok=True)
    pol = policy_dict(small=small or cluster.small, large=large or cluster.large)
    pol["learning"] = learning
    path = write_policy(tmp / f"policy-{uuid.uuid4().hex[:6]}.yaml", pol)
    env = {"TIERROUTE_API_KEYS": f"{CLIENT_KEY},{OTHER_KEY}", "TIERROUTE_ADMIN_KEY": ADMIN_KEY,
           "JUDGE_KEY": JUDGE_KEY}
    app = create_app(Settings(policy_path=str(path), redis_url=redis_url, reload_interval_s=0.05),
                     classifier=FunctionClassifier(keyword_score), env=env)
    with ServerThread(app) as server:
        yield Proxy(server.url, path)


def client(proxy: Proxy, key: str = CLIENT_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.v1, api_key=key, max_retries=0, timeout=30)


def ask(proxy: Proxy, text: str, key: str = CLIENT_KEY, **kw: Any) -> tuple[str, str, str]:
    """(request id, tier, answer) of a non-streaming auto request."""
    raw = client(proxy, key).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": text}], max_tokens=24, **kw)
    answer = raw.parse().choices[0].message.content or ""
    return raw.headers["x-tierroute-request-id"], raw.headers["x-tierroute-tier"], answer


def feedback(proxy: Proxy, body: dict[str, Any], key: str = CLIENT_KEY) -> httpx.Response:
    return httpx.post(proxy.v1 + "/feedback", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def learning_stats(proxy: Proxy) -> dict[str, Any]:
    return proxy.admin("/admin/stats")["learning"]
