"""What a Redis failover costs the stores under load: failures, fallbacks, and when Redis decides again.

Eight concurrent loops make the stores' per-request calls (``bench/redis_modes.py``: admission,
``CHOOSE``, the conversation write, ``FINISH``) for ``--before`` seconds, then one of these happens
to the primary that holds the affinity keys, on fresh private servers each time:

* ``cluster_manual``: ``CLUSTER FAILOVER`` on its replica, then the old primary is killed;
* ``cluster_crash``: the primary is killed (SIGKILL); the cluster promotes its replica after
  ``cluster-node-timeout`` (2 s here);
* ``sentinel_manual``: ``SENTINEL FAILOVER``;
* ``sentinel_crash``: the primary is killed; the Sentinel (``down-after-milliseconds`` 1000, quorum 1)
  promotes the replica;

and the loops go on for ``--after`` seconds. Reported per scenario: calls made, exceptions that
escaped the stores (a request would have failed), Redis errors and local fallbacks counted by the
stores, when the replica was promoted (or named by the Sentinel), the last local decision (seconds
after the event began; 0: none) and the decisions of the last second (all in Redis once it has
resumed). The tests (``tests/redis_cluster``) run the manual failovers through real proxies.

    .venv/bin/python bench/redis_failover.py [--scenarios cluster_manual,cluster_crash,...] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from redis_modes import Stores, fingerprint_text  # noqa: E402

from router.balance.redis_affinity import key_prefix  # noqa: E402
from router.balance.rule import Candidate  # noqa: E402
from tests.redis_cluster.servers import LocalCluster, LocalSentinel, Servers  # noqa: E402

SCENARIOS = ("cluster_manual", "cluster_crash", "sentinel_manual", "sentinel_crash")


async def until(ok: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(ok):
        if time.monotonic() > deadline:
            raise TimeoutError("the failover did not happen")
        await asyncio.sleep(0.02)


def role(servers: Servers, port: int) -> str:
    return str(servers.client(port).info("replication")["role"])


def event(name: str, servers: Servers) -> Callable[[], Awaitable[None]]:
    """The scenario's event: returns once the new primary serves."""
    if isinstance(servers, LocalCluster):
        primary = servers.primary_for(key_prefix("bench"))
        replica = servers.replica_of(primary)

        async def on_cluster() -> None:
            if name == "cluster_manual":
                await asyncio.to_thread(servers.client(replica).execute_command, "CLUSTER", "FAILOVER")
                await until(lambda: role(servers, replica) == "master")
                servers.kill(primary)
            else:
                servers.kill(primary)
                await until(lambda: role(servers, replica) == "master")
        return on_cluster
    assert isinstance(servers, LocalSentinel)
    sentinel = servers

    async def on_sentinel() -> None:
        if name == "sentinel_manual":
            await asyncio.to_thread(sentinel.client(sentinel.sentinel).execute_command, "SENTINEL", "FAILOVER",
                                    LocalSentinel.SERVICE)
        else:
            sentinel.kill(sentinel.primary)
        await until(lambda: sentinel.current_primary() == sentinel.replica)
    return on_sentinel


async def scenario(name: str, url: str, happen: Callable[[], Awaitable[None]], before_s: float,
                   after_s: float) -> dict[str, Any]:
    stores = Stores(url)
    prompts = [fingerprint_text(f"system prompt of group {g}. " * 160, "sim")[:16] for g in range(32)]
    cands = [Candidate(f"sglang http://127.0.0.1:{9000 + i} sim", True, 64, 0, 1.0, 4096) for i in range(2)]
    escaped: Counter[str] = Counter()
    marks: list[tuple[float, bool]] = []  # (seconds since the event, decided locally)
    stop = asyncio.Event()
    t0 = time.monotonic() + before_s
    count = [0]

    async def loop() -> None:
        while not stop.is_set():
            count[0] += 1
            local_before = stores.affinity.status.local_decisions
            try:
                await stores.request(count[0], prompts[count[0] % len(prompts)], cands)
            except Exception as e:  # noqa: BLE001 - counted: what would have failed a request
                escaped[f"{type(e).__name__}: {e}"[:120]] += 1
            marks.append((time.monotonic() - t0, stores.affinity.status.local_decisions > local_before))
            await asyncio.sleep(0.002)  # about a request's other work

    loops = [asyncio.create_task(loop()) for _ in range(8)]
    await asyncio.sleep(before_s)
    await happen()
    promoted = time.monotonic() - t0
    await asyncio.sleep(after_s)
    stop.set()
    await asyncio.gather(*loops)
    health = stores.errors()
    await stores.aclose()
    local = [t for t, was_local in marks if was_local and t >= 0]
    end = marks[-1][0]
    last = [was_local for t, was_local in marks if t >= end - 1.0]
    return {"calls": count[0], "escaped": dict(escaped), "redis": health, "promoted_after_s": round(promoted, 3),
            "first_local_s": round(local[0], 3) if local else None,
            "last_local_s": round(local[-1], 3) if local else 0.0,
            "last_second": {"in_redis": last.count(False), "local": last.count(True)},
            "affinity": {"errors": stores.affinity.status.errors,
                         "breaker_opened": stores.affinity.status.breaker_opened,
                         "local_decisions": stores.affinity.status.local_decisions}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--before", type=float, default=2.0)
    p.add_argument("--after", type=float, default=8.0)
    p.add_argument("--json", help="also write the results here")
    ns = p.parse_args(argv)
    out: dict[str, Any] = {"load_average_start": os.getloadavg()}
    for name in ns.scenarios.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            kind = LocalCluster if name.startswith("cluster") else LocalSentinel
            with kind(Path(tmp)) as servers:
                out[name] = asyncio.run(scenario(name, servers.url, event(name, servers), ns.before, ns.after))
        r = out[name]
        print(f"{name:<16} {r['calls']:6d} calls, {sum(r['escaped'].values())} escaped, Redis errors "
              f"{r['redis']['errors']}, fallbacks {r['redis']['fallbacks']}, promoted after {r['promoted_after_s']} s,"
              f" local decisions {r['first_local_s']}..{r['last_local_s']} s, last second "
              f"{r['last_second']['in_redis']} in Redis / {r['last_second']['local']} local")
    out["load_average_end"] = os.getloadavg()
    print(f"load average {out['load_average_start'][0]:.2f} at the start, {out['load_average_end'][0]:.2f} at the end")
    if ns.json:
        Path(ns.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
