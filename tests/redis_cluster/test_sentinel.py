"""The proxy on a Sentinel-managed primary (``redis+sentinel://``): a failover under load fails no request.

One primary, its replica and one Sentinel; two proxies. The proxies' pipelined connection asks the
Sentinel where the primary is when it connects and twice a second while in use; ``SENTINEL FAILOVER``
promotes the replica, and the proxies move to it (the old primary, still up, is only reconfigured by
Sentinel about ten seconds later: until then it would take writes that it then drops).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from router.balance.redis_affinity import RedisAffinity
from router.clock import SystemClock
from router.redis_connect import redis_client
from tests.balance.test_affinity_stores import assert_stores_agree
from tests.redis_cluster.load import under_load
from tests.redis_cluster.servers import LocalSentinel
from tests.redis_cluster.test_cluster import LOAD_KEY, Fleet, start_fleet


@pytest.fixture(scope="module")
def fleet(local_sentinel: LocalSentinel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with ExitStack() as stack:
        yield start_fleet(stack, tmp_path_factory.mktemp("fleet"), local_sentinel.url, replicas=2)


async def test_the_stores_decide_in_the_primary_the_sentinel_names(local_sentinel: LocalSentinel) -> None:
    store = RedisAffinity(redis_client(local_sentinel.url, timeout_s=1.0), SystemClock())
    try:
        await assert_stores_agree(store, "sentinel-agree")
    finally:
        await store.aclose()
    assert local_sentinel.client(local_sentinel.primary).keys("tierroute:{sentinel-agree}:*")


def test_a_sentinel_failover_under_load_fails_no_request(fleet: Fleet, local_sentinel: LocalSentinel) -> None:
    old, new = local_sentinel.primary, local_sentinel.replica

    on_old: list[int] = []  # scripts run on the old primary, 1.5 s after the Sentinel named the new one
    named_after: list[float] = []

    def scripts_on_old() -> int:
        return int(local_sentinel.client(old).info("commandstats")["cmdstat_evalsha"]["calls"])

    async def failover() -> None:
        sentinel = local_sentinel.client(local_sentinel.sentinel)
        t0 = time.monotonic()
        await asyncio.to_thread(sentinel.execute_command, "SENTINEL", "FAILOVER", LocalSentinel.SERVICE)
        while await asyncio.to_thread(local_sentinel.current_primary) != new:
            await asyncio.sleep(0.02)
        named_after.append(time.monotonic() - t0)

    async def then_watch_the_old_primary() -> None:
        await failover()
        await asyncio.sleep(1.5)
        on_old.append(await asyncio.to_thread(scripts_on_old))

    res = asyncio.run(under_load(fleet.proxies, LOAD_KEY, then_watch_the_old_primary, after_s=2.0))
    on_old.append(scripts_on_old())
    res.check(f"sentinel failover (named the new primary after {named_after[0]:.3f} s)")
    assert on_old[0] == on_old[1], on_old  # none on the old primary (still up: Sentinel converts it ~10 s later)
    promoted = local_sentinel.client(new).info("commandstats")
    assert promoted["cmdstat_evalsha"]["calls"] > 0
