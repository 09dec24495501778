"""Issue 10, point 6: every structure that grows with traffic has a cap, shown by its ``describe()``."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from router.balance.affinity import AffinityParams, MemoryAffinity
from router.balance.redis_affinity import RedisAffinity, key_prefix
from router.balance.rule import Candidate
from router.clock import FakeClock, SystemClock
from router.conversations import MAX_PENDING_WRITES, MemoryConversations, RedisConversations

PARAMS = AffinityParams(entry_ttl_s=600, lease_ttl_s=600)


def _cands(capacity: int = 0) -> list[Candidate]:  # capacity 0: the replica's KV capacity is not known
    return [Candidate(k, healthy=True, max_running=0, external=0, weight=1.0, capacity_blocks=capacity)
            for k in ("r1", "r2")]


async def test_memory_affinity_holds_a_hard_cap_when_no_capacity_is_known() -> None:
    clock = FakeClock()
    store = MemoryAffinity(clock, max_entries=100)
    for n in range(200):  # 200 distinct prompts of 4 blocks: 800 entries without a cap
        clock.advance(1.0)
        choice = await store.choose("small", [f"p{n}-{i}" for i in range(4)], _cands(), f"L{n}", PARAMS)
        assert choice is not None
        await store.finish("small", choice.key, f"L{n}")
    d = store.describe()
    assert d["entries"] == 100 and d["max_entries"] == 100 and d["evicted"] == 700 and d["leases"] == 0
    # the newest prompts are still matched, the oldest were dropped first
    newest = await store.choose("small", [f"p199-{i}" for i in range(4)], _cands(), "L-new", PARAMS)
    oldest = await store.choose("small", [f"p0-{i}" for i in range(4)], _cands(), "L-old", PARAMS)
    assert newest is not None and newest.matched == 4 and newest.reason == "cache"
    assert oldest is not None and oldest.matched == 0


async def test_memory_affinity_cap_takes_the_oldest_whichever_replica_holds_it() -> None:
    clock = FakeClock()
    store = MemoryAffinity(clock, max_entries=6)
    only_r1 = [Candidate("r1", healthy=True, max_running=0, external=0, weight=1.0, capacity_blocks=0)]
    only_r2 = [Candidate("r2", healthy=True, max_running=0, external=0, weight=1.0, capacity_blocks=0)]
    await store.choose("small", ["a1", "a2", "a3"], only_r1, "L1", PARAMS)
    clock.advance(1)
    await store.choose("small", ["b1", "b2", "b3"], only_r2, "L2", PARAMS)
    clock.advance(1)
    await store.choose("small", ["c1", "c2"], only_r2, "L3", PARAMS)  # 8 entries: r1's two oldest go
    assert store.describe()["entries"] == 6
    b = await store.choose("small", ["b1", "b2", "b3"], only_r2, "L4", PARAMS)
    assert b is not None and b.matched == 3  # r2's entries were newer: kept
    again = await store.choose("small", ["a1", "a2", "a3"], only_r1, "L5", PARAMS)
    assert again is not None and again.matched == 1  # a3 and a2 went (a prefix's tail first): a1 is left


async def test_prefill_marks_are_capped_too() -> None:
    clock = FakeClock()
    store = MemoryAffinity(clock, max_entries=10)
    marking = AffinityParams(entry_ttl_s=600, lease_ttl_s=600, fill_ttl_s=60)
    for n in range(30):  # never reported filled (no first token): the marks would pile up for 60 s
        await store.choose("small", [f"p{n}-{i}" for i in range(3)], _cands()[:1], f"L{n}", marking)
    assert store.describe()["prefill_marks"] == 10


async def test_memory_conversations_show_their_cap() -> None:
    store = MemoryConversations(FakeClock(), max_entries=3)
    for n in range(10):
        await store.put(f"k{n}", "small", 60)
    assert store.describe() == {"store": "memory", "entries": 3, "max_entries": 3}


class _StalledRedis:
    """A Redis whose writes never finish (a stalled server under the client's timeout)."""

    def __init__(self) -> None:
        self.started = 0

    async def set(self, *args: object, **kwargs: object) -> None:
        self.started += 1
        await asyncio.Event().wait()


async def test_redis_conversation_writes_in_flight_are_capped() -> None:
    redis = _StalledRedis()
    store = RedisConversations(redis, MemoryConversations(FakeClock(), max_entries=10))  # type: ignore[arg-type]
    for n in range(MAX_PENDING_WRITES + 50):
        await store.put(f"k{n}", "small", 60)
    await asyncio.sleep(0)
    d = store.describe()
    assert d["pending_writes"] == MAX_PENDING_WRITES and d["dropped_writes"] == 50
    assert redis.started == MAX_PENDING_WRITES
    assert await store._local.get(f"k{MAX_PENDING_WRITES + 49}") == "small"  # still sticky on this proxy
    for t in list(store._pending):
        t.cancel()
    await asyncio.gather(*store._pending, return_exceptions=True)


async def test_redis_affinity_bounds_each_replica_when_no_capacity_is_known(shared_redis: Redis, scope: str) -> None:
    store = RedisAffinity(shared_redis, SystemClock(), max_entries=10)
    one = _cands()[:1]
    try:
        for n in range(30):  # 90 entries without a cap
            choice = await store.choose(scope, [f"p{n}-{i}" for i in range(3)], one, f"L{n}", PARAMS)
            assert choice is not None
        assert await shared_redis.zcard(key_prefix(scope) + "lru:r1") == 10
        assert store.describe()["max_entries_per_replica"] == 10 and store.status.errors == 0
        newest = await store.choose(scope, [f"p29-{i}" for i in range(3)], one, "L-new", PARAMS)
        assert newest is not None and newest.matched == 3
    finally:
        keys = [k async for k in shared_redis.scan_iter(match=key_prefix(scope) + "*")]
        if keys:
            await shared_redis.delete(*keys)
