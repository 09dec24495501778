"""A small cluster on loopback: simulated SGLang workers, a fake provider, proxies on demand."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from classifiers.fake import FunctionClassifier
from fleet.sim import fake_provider, worker
from router.app import create_app
from router.settings import Settings
from tests.support import ServerThread, policy_dict, write_policy

CLIENT_KEY = "sk-test-client"
ADMIN_KEY = "sk-test-admin"
PROVIDER_KEY = "sk-test-provider"
FAST = dict(ttft_ms=1.0, prefill_tokens_per_s=1e6, decode_tokens_per_s=20000.0)


def keyword_score(text: str) -> float:
    """The fake classifier: 'hard' prompts score high, 'medium' ones in between."""
    t = text.lower()
    return 0.95 if "hard" in t else 0.6 if "medium" in t else 0.1


@dataclass
class Cluster:
    small: list[str]
    large: list[str]
    provider: str

    def reset(self) -> None:
        for url in self.small + self.large:
            httpx.post(url + "/sim/reset", timeout=5).raise_for_status()
            httpx.post(url + "/sim/health", json={"healthy": True}, timeout=5).raise_for_status()

    def sim_stats(self, url: str) -> dict[str, Any]:
        return httpx.get(url + "/sim/stats", timeout=5).json()


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    with ExitStack() as stack:
        def sim(model: str, **kw: Any) -> str:
            app = worker.create_app(worker.WorkerConfig(model=model, **FAST, **kw))
            return stack.enter_context(ServerThread(app)).url

        small = [sim("sim-small"), sim("sim-small")]
        large = [sim("sim-large", speculative=True)]
        prov = stack.enter_context(ServerThread(fake_provider.create_app(
            fake_provider.FakeProviderConfig(api_key=PROVIDER_KEY, latency_ms=1, tokens_per_s=0)))).url
        yield Cluster(small, large, prov)


@dataclass
class Proxy:
    url: str
    policy_path: Path

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    def admin(self, path: str) -> dict[str, Any]:
        r = httpx.get(self.url + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10)
        r.raise_for_status()
        return r.json()


ProxyFactory = Callable[..., Any]


@pytest.fixture
def make_proxy(cluster: Cluster, tmp_path: Path) -> Iterator[ProxyFactory]:
    """``with make_proxy(policy=None, env=None, classifier=None) as proxy`` — a proxy on loopback."""

    @contextmanager
    def factory(policy: dict[str, Any] | None = None, env: dict[str, str] | None = None,
                classifier: Any = None) -> Iterator[Proxy]:
        cluster.reset()
        pol = policy or default_policy(cluster)
        path = write_policy(tmp_path / f"policy-{id(pol)}.yaml", pol)
        environ = {"TIERROUTE_API_KEYS": CLIENT_KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY,
                   "PROVIDER_KEY": PROVIDER_KEY} if env is None else env
        app = create_app(Settings(policy_path=str(path), reload_interval_s=0.05),
                         classifier=classifier or FunctionClassifier(keyword_score), env=environ)
        with ServerThread(app) as server:
            yield Proxy(server.url, path)

    yield factory


def default_policy(cluster: Cluster, **routing: Any) -> dict[str, Any]:
    return policy_dict(small=cluster.small, large=cluster.large,
                       frontier={"model": "openai/gpt-4o", "api_base": cluster.provider + "/v1",
                                 "api_key_env": "PROVIDER_KEY"}, **routing)


@pytest.fixture(scope="module")
def proxy(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """One shared proxy for tests that only read answers (not stats)."""
    path = write_policy(tmp_path_factory.mktemp("proxy") / "policy.yaml", default_policy(cluster))
    env = {"TIERROUTE_API_KEYS": CLIENT_KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY, "PROVIDER_KEY": PROVIDER_KEY}
    app = create_app(Settings(policy_path=str(path)), classifier=FunctionClassifier(keyword_score), env=env)
    with ServerThread(app) as server:
        yield Proxy(server.url, path)
