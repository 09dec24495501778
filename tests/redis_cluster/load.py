"""Continuous load through proxies while something happens to their Redis, and what their stats said meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.integration.conftest import ADMIN_KEY

SYSTEMS = [f"You are assistant number {g}. " + f"Rule {g}: be precise and kind. " * 60 for g in range(3)]


@dataclass
class Sample:
    t: float  # seconds since the event
    local: int  # local (fallback) decisions of every proxy so far
    decisions: int  # every affinity decision so far, in Redis or local


@dataclass
class LoadResult:
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    event_s: float = 0.0  # how long the event (failover) took
    stats: list[dict[str, Any]] = field(default_factory=list)  # each proxy's /admin/stats at the end

    def resumed_after_s(self) -> float:
        """Seconds from the event's start to the last local decision seen (0: Redis decided throughout)."""
        last = 0.0
        for before, after in zip(self.samples, self.samples[1:], strict=False):
            if after.local > before.local:
                last = max(last, after.t)
        return last

    def redis_decisions_in_last(self, seconds: float) -> tuple[int, int]:
        """(decisions taken in Redis, local decisions) over the last ``seconds`` of the run."""
        end = self.samples[-1]
        start = next(s for s in self.samples if s.t >= end.t - seconds)
        return (end.decisions - end.local) - (start.decisions - start.local), end.local - start.local

    def fallbacks(self) -> int:
        return sum(s["affinity"]["store"]["redis"]["fallbacks"] for s in self.stats)

    def errors(self) -> int:
        return sum(s["affinity"]["store"]["redis"]["errors"] for s in self.stats)

    def check(self, what: str) -> None:
        """Print the run's figures; no request failed, and Redis decides again (any fallback stopped
        within seconds, none in the last second)."""
        in_redis, local = self.redis_decisions_in_last(1.0)
        print(f"\n{what} under load: {self.requests} requests, {len(self.failures)} failed, the event took "
              f"{self.event_s:.3f} s, Redis errors {self.errors()}, local fallbacks {self.fallbacks()}, last local "
              f"decision {self.resumed_after_s():.2f} s after the event began; last second: {in_redis} decisions "
              f"in Redis, {local} local")
        assert self.failures == [] and self.requests >= 50, self.failures[:5]
        assert self.resumed_after_s() < 6.0
        assert in_redis > 0 and local == 0


def admin_stats(base: str) -> dict[str, Any]:
    return httpx.get(base + "/admin/stats", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10).json()


async def under_load(proxies: list[str], key: str, event: Callable[[], Awaitable[None]], *, concurrency: int = 8,
                     before_s: float = 1.0, after_s: float = 2.5) -> LoadResult:
    """``concurrency`` clients ask the proxies in turn, with a shared prefix per conversation group, for
    ``before_s``, then through ``event`` and for ``after_s`` after it; the proxies' decision counters
    are read every 100 ms from when the event starts."""
    out = LoadResult()
    stop = asyncio.Event()
    t0 = [0.0]
    headers = {"Authorization": f"Bearer {key}"}

    async def client(i: int, http: httpx.AsyncClient) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            body = {"model": "auto", "max_tokens": 4, "messages": [
                {"role": "system", "content": SYSTEMS[(i + n) % len(SYSTEMS)]},
                {"role": "user", "content": f"question {i}-{n}"}]}
            try:
                r = await http.post(proxies[(i + n) % len(proxies)] + "/v1/chat/completions", json=body,
                                    headers=headers)
                if r.status_code != 200:
                    out.failures.append(f"{r.status_code}: {r.text[:200]}")
            except httpx.HTTPError as e:
                out.failures.append(f"{type(e).__name__}: {e}")
            out.requests += 1

    async def poll(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            local = decisions = 0
            for base in proxies:
                aff = (await http.get(base + "/admin/stats",
                                      headers={"Authorization": f"Bearer {ADMIN_KEY}"})).json()["affinity"]
                local += aff["store"]["local_decisions"]
                decisions += sum(aff["decisions"].values())
            out.samples.append(Sample(time.monotonic() - t0[0], local, decisions))
            await asyncio.sleep(0.1)

    limits = httpx.Limits(max_connections=2 * concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http, httpx.AsyncClient(timeout=30) as admin:
        clients = [asyncio.create_task(client(i, http)) for i in range(concurrency)]
        await asyncio.sleep(before_s)
        t0[0] = time.monotonic()
        poller = asyncio.create_task(poll(admin))
        await event()
        out.event_s = time.monotonic() - t0[0]
        await asyncio.sleep(after_s)
        stop.set()
        await asyncio.gather(*clients, poller)
    out.stats = [admin_stats(p) for p in proxies]
    return out
