"""Prefix-cache affinity through real proxies: shared through Redis, and surviving Redis' death."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import openai

from classifiers.fake import ConstantClassifier
from fleet.sim import worker
from router.app import create_app
from router.procs import ProcessGroup, free_port, tierroute_cmd
from router.settings import Settings
from tests.integration.conftest import ADMIN_KEY, CLIENT_KEY, FAST
from tests.support import ServerThread, policy_dict, write_policy

ENV = {"TIERROUTE_API_KEYS": CLIENT_KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY}
SYSTEMS = [f"You are assistant number {g}. " + f"Rule {g}: be precise and kind. " * 60 for g in range(3)]


def _workers(stack: ExitStack, n: int) -> list[str]:
    return [stack.enter_context(ServerThread(worker.create_app(worker.WorkerConfig(model="sim", **FAST))))
            .url for _ in range(n)]


def _proxies(stack: ExitStack, tmp_path: Path, urls: list[str], n: int, redis_url: str | None) -> list[str]:
    pol = policy_dict(small=urls)
    pol["balance"] = {"policy": "cache_aware", "block_chars": 128}
    path = write_policy(tmp_path / "affinity.yaml", pol)
    return [stack.enter_context(ServerThread(create_app(
        Settings(policy_path=str(path), redis_url=redis_url), classifier=ConstantClassifier(0.1), env=ENV))).url
        for _ in range(n)]


def _ask(base: str, system: str, i: int) -> str:
    c = openai.OpenAI(base_url=base + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30)
    raw = c.chat.completions.with_raw_response.create(
        model="auto", max_tokens=4, messages=[{"role": "system", "content": system},
                                               {"role": "user", "content": f"question {i}"}])
    return raw.headers["x-tierroute-replica"]


def _proxy_processes(stack: ExitStack, tmp_path: Path, urls: list[str], n: int, redis_url: str) -> list[str]:
    """``tierroute serve`` processes, as deployed: nothing shared but the Redis."""
    pol = policy_dict(small=urls)
    pol["balance"] = {"policy": "cache_aware", "block_chars": 128}
    path = write_policy(tmp_path / "affinity.yaml", pol)
    procs = stack.enter_context(ProcessGroup(tmp_path / "logs"))
    bases = []
    for i in range(n):
        port = free_port()
        procs.start(f"proxy{i}", tierroute_cmd("serve", "--policy", str(path), "--port", str(port),
                                               "--redis-url", redis_url, "--log-level", "warning"), env=ENV)
        bases.append(f"http://127.0.0.1:{port}")
    for i, base in enumerate(bases):
        procs.wait_http(f"proxy{i}", base + "/ready", timeout=60)
    return bases


def test_three_proxy_processes_on_one_redis_send_a_prefix_to_one_replica(tmp_path: Path, shared_redis) -> None:
    with ExitStack() as stack:
        urls = _workers(stack, 4)
        proxies = _proxy_processes(stack, tmp_path, urls, 3, "redis://127.0.0.1:6379/0")
        chosen: dict[int, set[str]] = {g: set() for g in range(len(SYSTEMS))}
        for i in range(18):  # round-robin over the proxies, as a load balancer in front would
            g = i % len(SYSTEMS)
            chosen[g].add(_ask(proxies[i % 3], SYSTEMS[g], i))
        assert all(len(replicas) == 1 for replicas in chosen.values()), chosen
        sims = [httpx.get(u + "/sim/stats").json() for u in urls]
        hit = sum(s["cached_tokens"] for s in sims) / sum(s["prompt_tokens"] for s in sims)
        assert hit > 0.7  # every group's first request misses; the rest find their prefix
        stats = httpx.get(proxies[0] + "/admin/stats", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).json()
        assert stats["affinity"]["store"]["store"] == "redis" and stats["affinity"]["store"]["errors"] == 0


def test_one_proxy_in_memory_keeps_prefixes_together_and_spreads_new_ones(tmp_path: Path) -> None:
    with ExitStack() as stack:
        urls = _workers(stack, 4)
        [proxy] = _proxies(stack, tmp_path, urls, 1, None)
        chosen: dict[int, set[str]] = {g: set() for g in range(len(SYSTEMS))}
        for i in range(18):
            chosen[i % 3].add(_ask(proxy, SYSTEMS[i % 3], i))
        assert all(len(r) == 1 for r in chosen.values()), chosen
        assert len(set.union(*chosen.values())) == 3  # three new prefixes went to three replicas


def test_redis_killed_mid_run_loses_no_request(tmp_path: Path, private_redis) -> None:
    with ExitStack() as stack:
        urls = _workers(stack, 2)
        [proxy] = _proxies(stack, tmp_path, urls, 1, private_redis.url)
        results: list[str | Exception] = []

        def traffic(n: int, offset: int) -> None:
            for i in range(n):
                try:
                    results.append(_ask(proxy, SYSTEMS[i % 2], offset + i))
                except Exception as e:  # noqa: BLE001 - every failure is counted by the assertion below
                    results.append(e)

        traffic(10, 0)
        t = threading.Thread(target=traffic, args=(40, 10))
        t.start()
        private_redis.kill()  # while requests are in flight
        t.join()
        private_redis.start()
        time.sleep(5.2)  # the breaker's cool-down
        traffic(10, 100)
        failures = [r for r in results if isinstance(r, Exception)]
        assert not failures and len(results) == 60
        store = httpx.get(proxy + "/admin/stats", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).json()
        events = store["affinity"]["store"]
        assert events["errors"] >= 1 and events["breaker_opened"] >= 1 and events["local_decisions"] >= 1
        assert events["recovered"] >= 1 and events["state"] == "closed"
