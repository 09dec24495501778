"""What the stores' Redis calls cost per request: one Redis (the pipe), a Sentinel primary (the pipe,
following the Sentinel) and a Redis Cluster (a pipe per node, routed by redis-py's cluster client; and,
as with TLS, every call through redis-py's cluster client: ``cluster_redispy``), side by side.

Each request makes the calls a proxy makes on the ``auto`` path for a key with limits: the limits'
admission script, the affinity ``CHOOSE`` script (awaited, prompt of ``--blocks`` blocks over two
replicas), the conversation's ``SET`` (in the background, as the proxy does) and the ``FINISH``
script releasing the lease. ``--concurrency`` requests are in flight at once. The figure is the
process' CPU time (user + system, ``time.process_time``) per request minus the same requests
through the in-memory stores in the same round: what Redis and its client add, in this process;
Redis' own CPU is not in it. Rounds alternate memory, then each Redis mode; the median of the
rounds is printed, with the p50/p99 of the ``CHOOSE`` call's latency. Private servers are started
on free ports (a redis-server, a primary + replica + Sentinel, and a 3 + 3 cluster made with
``redis-cli --cluster create``) and stopped afterwards; everything runs on this machine, so treat
the numbers as indicative and compare modes within one run.

    .venv/bin/python bench/redis_modes.py [--rounds 5] [--requests 3000] [--concurrency 16] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from router.auth import Principal  # noqa: E402
from router.balance.affinity import AffinityParams, MemoryAffinity  # noqa: E402
from router.balance.fingerprint import fingerprint_text  # noqa: E402
from router.balance.redis_affinity import RedisAffinity  # noqa: E402
from router.balance.rule import Candidate, RuleParams  # noqa: E402
from router.clock import SystemClock  # noqa: E402
from router.conversations import MemoryConversations, RedisConversations  # noqa: E402
from router.limits import MemoryLimits  # noqa: E402
from router.redis_cluster import ClusterCalls, SharedCluster  # noqa: E402
from router.redis_connect import redis_client  # noqa: E402
from router.redis_limits import RedisLimits  # noqa: E402
from tests.redis_cluster.servers import LocalCluster, LocalSentinel, Servers, cluster_ports, wait_for  # noqa: E402

PARAMS = AffinityParams(RuleParams(0.3, 16, 1.5), 600, 60, 0.0)
KEY = Principal("bench", None, requests_per_minute=10**9)


class Stores:
    def __init__(self, url: str | None, *, pipes: bool = True) -> None:
        clock = SystemClock()
        self.client = redis_client(url) if url else None
        c = self.client
        if isinstance(c, SharedCluster) and not pipes:
            c.calls = ClusterCalls(c, None)
        self.affinity: Any = RedisAffinity(c, clock) if c is not None else MemoryAffinity(clock)
        self.conversations: Any = (RedisConversations(c, MemoryConversations(clock)) if c is not None
                                   else MemoryConversations(clock))
        self.limits: Any = RedisLimits(c, clock) if c is not None else MemoryLimits(clock)

    async def request(self, n: int, blocks: list[str], cands: list[Candidate]) -> float:
        await self.limits.admit(KEY)
        t0 = time.perf_counter()
        choice = await self.affinity.choose("bench", blocks, cands, f"lease-{n}", PARAMS)
        took = time.perf_counter() - t0
        await self.conversations.put(f"conv-{n}", "small", 600)
        await self.affinity.finish("bench", choice.key, f"lease-{n}")
        return took

    def errors(self) -> dict[str, Any]:
        if self.client is None:
            return {}
        return self.client.health.describe()  # type: ignore[union-attr]

    async def aclose(self) -> None:
        await self.affinity.aclose()


async def run(stores: Stores, requests: int, concurrency: int, prompts: list[list[str]],
              cands: list[Candidate]) -> tuple[float, list[float]]:
    """CPU µs per request and the CHOOSE latencies (µs)."""
    latencies: list[float] = []
    next_n = iter(range(requests))

    async def worker() -> None:
        for n in next_n:
            latencies.append(1e6 * await stores.request(n, prompts[n % len(prompts)], cands))

    c0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu = time.process_time() - c0
    await asyncio.sleep(0.05)  # the background conversation writes land
    return 1e6 * cpu / requests, latencies


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q / 100 * len(s)))]


async def measure(urls: dict[str, str | None], ns: argparse.Namespace) -> dict[str, Any]:
    prompts = [fingerprint_text(f"system prompt of group {g}. " * (ns.blocks * 256 // 26), "sim")[:ns.blocks]
               for g in range(32)]
    cands = [Candidate(f"sglang http://127.0.0.1:{9000 + i} sim", True, 64, 0, 1.0, 4096) for i in range(2)]
    stores = {name: Stores(url, pipes=name != "cluster_redispy") for name, url in urls.items()}
    rows: dict[str, list[float]] = {name: [] for name in urls}
    lat: dict[str, list[float]] = {name: [] for name in urls}
    try:
        for s in stores.values():  # warm-up: connections, scripts loaded, the cluster's topology read
            await run(s, 200, ns.concurrency, prompts, cands)
        for _ in range(ns.rounds):
            for name, s in stores.items():
                cpu, latencies = await run(s, ns.requests, ns.concurrency, prompts, cands)
                rows[name].append(cpu)
                lat[name] += latencies
    finally:
        errors = {name: s.errors() for name, s in stores.items()}
        for s in stores.values():
            await s.aclose()
    base = statistics.median(rows["memory"])
    out: dict[str, Any] = {"requests_per_round": ns.requests, "rounds": ns.rounds, "concurrency": ns.concurrency,
                           "blocks": ns.blocks, "load_average": os.getloadavg(), "modes": {}}
    for name in urls:
        med = statistics.median(rows[name])
        out["modes"][name] = {"cpu_us_per_request": med, "added_cpu_us_per_request": med - base,
                              "cpu_us_per_round": rows[name], "choose_p50_us": percentile(lat[name], 50),
                              "choose_p99_us": percentile(lat[name], 99), "redis": errors[name]}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--requests", type=int, default=3000, help="per round and mode")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--blocks", type=int, default=16, help="prompt blocks per CHOOSE")
    p.add_argument("--json", help="also write the results here")
    ns = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        single = Servers(Path(tmp) / "single")
        [port] = cluster_ports(1)
        single.start(port)
        try:
            wait_for("redis-server", single.client(port).ping)
            with LocalSentinel(Path(tmp) / "sentinel") as sentinel, LocalCluster(Path(tmp) / "cluster") as cluster:
                urls = {"memory": None, "redis": f"redis://127.0.0.1:{port}/0", "sentinel": sentinel.url,
                        "cluster": cluster.url, "cluster_redispy": cluster.url}
                res = asyncio.run(measure(urls, ns))
        finally:
            single.stop()
    print(f"{ns.requests} requests x {ns.rounds} rounds per mode, {ns.concurrency} concurrent, "
          f"{ns.blocks} blocks per prompt; load average {res['load_average'][0]:.2f}")
    for name, m in res["modes"].items():
        print(f"{name:<15} CPU {m['cpu_us_per_request']:7.1f} µs/request (+{m['added_cpu_us_per_request']:6.1f} over "
              f"memory)  CHOOSE p50 {m['choose_p50_us']:7.1f} µs  p99 {m['choose_p99_us']:8.1f} µs  "
              f"redis {m['redis'] or '-'}")
    if ns.json:
        Path(ns.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
