"""64+ concurrent requests through a proxy on a real redis-server: no Redis error, no local fallback.

The proxy runs as deployed with ``--redis-url`` (its default Redis timeouts: 50 ms to connect, 250 ms
to read), ``model: auto``, cache-aware choice over two replicas per tier and sticky conversations,
so each request makes the affinity choice, a conversation write and, on its second turn, a
conversation lookup through Redis.
"""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from pathlib import Path

import httpx
import redis

from classifiers.fake import ConstantClassifier
from fleet.sim import worker
from router.app import create_app
from router.settings import Settings
from tests.conftest import RedisServer
from tests.integration.conftest import ADMIN_KEY, CLIENT_KEY, FAST
from tests.support import ServerThread, policy_dict, write_policy

ENV = {"TIERROUTE_API_KEYS": CLIENT_KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY}
CONCURRENT = 96


async def _wave(base: str, turn: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=CONCURRENT)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits,
                                 headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as client:
        async def ask(i: int) -> httpx.Response:
            messages = [{"role": "system", "content": f"You help user {i}. " * 20},
                        {"role": "user", "content": f"question {i}"}]
            if turn > 0:
                messages += [{"role": "assistant", "content": "an answer"},
                             {"role": "user", "content": f"follow-up {i}"}]
            return await client.post("/v1/chat/completions", json={"model": "auto", "max_tokens": 4,
                                                                   "messages": messages})
        return await asyncio.gather(*(ask(i) for i in range(CONCURRENT)))


def test_96_concurrent_requests_through_redis_without_an_error_or_a_fallback(
        tmp_path: Path, private_redis: RedisServer) -> None:
    with ExitStack() as stack:
        urls = [stack.enter_context(ServerThread(worker.create_app(worker.WorkerConfig(model="sim", **FAST)))).url
                for _ in range(4)]
        pol = policy_dict(small=urls[:2], large=urls[2:])
        pol["balance"] = {"policy": "cache_aware"}
        path = write_policy(tmp_path / "policy.yaml", pol)
        proxy = stack.enter_context(ServerThread(create_app(
            Settings(policy_path=str(path), redis_url=private_redis.url), classifier=ConstantClassifier(0.1),
            env=ENV))).url
        for turn in (0, 1, 0, 1):
            answers = asyncio.run(_wave(proxy, turn))
            assert [r.status_code for r in answers] == [200] * CONCURRENT
        stats = httpx.get(proxy + "/admin/stats", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).json()
        seen = stats["affinity"]["store"]["redis"]
        assert seen["errors"] == 0 and seen["fallbacks"] == 0, (seen, stats["affinity"]["store"]["last_error"])
        assert stats["affinity"]["store"]["breaker_opened"] == 0
        assert stats["affinity"]["conversation_store_errors"] == 0
        assert sum(stats["affinity"]["decisions"].values()) == 4 * CONCURRENT  # every one chosen in Redis
        server = redis.Redis(port=private_redis.port)
        assert server.info("stats")["rejected_connections"] == 0
        assert server.dbsize() > 0
