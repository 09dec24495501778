"""The in-memory and Redis affinity stores make the same decisions; the Redis store survives Redis."""

from __future__ import annotations

import random

from redis.asyncio import Redis

from router.balance.affinity import AffinityParams, MemoryAffinity
from router.balance.redis_affinity import RedisAffinity, key_prefix
from router.balance.rule import Candidate, RuleParams
from router.clock import FakeClock, SystemClock

PARAMS = AffinityParams(RuleParams(match_threshold=0.3, abs_threshold=3, rel_threshold=1.5), entry_ttl_s=600,
                        lease_ttl_s=600)


def _workload(seed: int, steps: int) -> list[dict]:
    rng = random.Random(seed)
    prefixes = [[f"p{g}-{i}" for i in range(rng.randint(2, 12))] for g in range(8)]
    ops = []
    for n in range(steps):
        group = rng.choice(prefixes)
        # chain-like blocks: a prompt is a prefix group's blocks, then its own tail
        blocks = group + [f"t{n}-{i}" for i in range(rng.randint(0, 4))]
        cands = [Candidate(k, healthy=rng.random() > 0.05, max_running=rng.choice([0, 0, 6]),
                           external=rng.choice([0, 0, 0, 2, 9]), weight=rng.choice([1.0, 1.0, 1.5]),
                           capacity_blocks=rng.choice([0, 20, 40])) for k in ("r1", "r2", "r3", "r4")]
        ops.append({"blocks": blocks, "cands": cands, "lease": f"L{n}", "finish": rng.random() < 0.6})
    return ops


async def test_memory_and_redis_agree(shared_redis: Redis, scope: str) -> None:
    try:
        await assert_stores_agree(RedisAffinity(shared_redis, SystemClock()), scope)
    finally:
        keys = [k async for k in shared_redis.scan_iter(match=key_prefix(scope) + "*")]
        if keys:
            await shared_redis.delete(*keys)


async def assert_stores_agree(remote: RedisAffinity, scope: str) -> None:
    """A random workload's decisions in ``remote`` are the in-memory store's, and cover every branch."""
    memory = MemoryAffinity(FakeClock())
    open_leases: list[tuple[str, str]] = []
    rng = random.Random(7)
    reasons = set()
    for op in _workload(seed=3, steps=400):
        a = await memory.choose(scope, op["blocks"], op["cands"], op["lease"], PARAMS)
        b = await remote.choose(scope, op["blocks"], op["cands"], op["lease"], PARAMS)
        assert (a is None) == (b is None)
        if a is None or b is None:
            continue
        assert (a.key, a.reason, a.matched, a.matches) == (b.key, b.reason, b.matched, b.matches), op
        reasons.add(a.reason)
        open_leases.append((a.key, op["lease"]))
        if op["finish"] and open_leases:
            key, lease = open_leases.pop(rng.randrange(len(open_leases)))
            forget = op["blocks"][-2:] if rng.random() < 0.2 else []
            await memory.finish(scope, key, lease, forget)
            await remote.finish(scope, key, lease, forget)
    assert reasons == {"cache", "balance", "least_loaded"}  # the workload exercised every branch
    assert remote.status.errors == 0 and remote.status.local_decisions == 0


async def test_capacity_trims_the_tail_of_old_prefixes(shared_redis: Redis, scope: str) -> None:
    for store in (MemoryAffinity(FakeClock()), RedisAffinity(shared_redis, SystemClock())):
        cand = [Candidate("r1", capacity_blocks=6)]
        await store.choose(scope + type(store).__name__, ["a1", "a2", "a3", "a4"], cand, "l1", PARAMS)
        await store.choose(scope + type(store).__name__, ["b1", "b2", "b3", "b4"], cand, "l2", PARAMS)
        c = await store.choose(scope + type(store).__name__, ["a1", "a2", "a3", "a4"], cand, "l3", PARAMS)
        assert c is not None and c.matched == 2  # a3, a4 (the deepest, oldest blocks) were trimmed first
    keys = [k async for k in shared_redis.scan_iter(match="tierroute:{" + scope + "*")]
    if keys:
        await shared_redis.delete(*keys)


async def test_redis_outage_falls_back_and_recovers(private_redis, scope: str) -> None:
    clock = FakeClock()
    store = RedisAffinity.from_url(private_redis.url, clock)
    cands = [Candidate("r1"), Candidate("r2")]
    try:
        first = await store.choose(scope, ["x1", "x2"], cands, "l1", PARAMS)
        assert first is not None and store.status.state == "closed"
        private_redis.kill()
        for i in range(5):  # every decision still succeeds, locally
            assert await store.choose(scope, ["x1", "x2"], cands, f"m{i}", PARAMS) is not None
        assert store.status.state == "open" and store.status.breaker_opened == 1
        assert store.status.errors == 3 and store.status.local_decisions == 5  # no Redis calls while open
        private_redis.start()
        clock.advance(6)  # past the cool-down: one call goes to Redis again
        assert await store.choose(scope, ["x1", "x2"], cands, "n1", PARAMS) is not None
        assert store.status.state == "closed" and store.status.recovered == 1
    finally:
        await store.aclose()


async def test_finish_soon_releases_at_once_in_memory_and_in_the_background_in_redis(
        shared_redis: Redis, scope: str) -> None:
    """What a request that ended calls: no await; the lease stops counting in both stores."""
    import asyncio

    one = [Candidate("r1")]
    for store in (MemoryAffinity(FakeClock()), RedisAffinity(shared_redis, SystemClock())):
        first = await store.choose(scope, ["b1"], one, "L1", PARAMS)
        assert first is not None and first.loads == {"r1": 0.0}
        store.finish_soon(scope, "r1", "L1")
        if isinstance(store, RedisAffinity):
            for _ in range(100):  # the FINISH script is on its way
                await asyncio.sleep(0.01)
                if not store._background:  # noqa: SLF001
                    break
        again = await store.choose(scope, ["b2"], one, "L2", PARAMS)
        assert again is not None and again.loads == {"r1": 0.0}  # L1 no longer counts
        await store.finish(scope, "r1", "L2")
    keys = [k async for k in shared_redis.scan_iter(match=key_prefix(scope) + "*")]
    if keys:
        await shared_redis.delete(*keys)


async def test_in_memory_leases_count_until_they_expire_renewed_or_not() -> None:
    clock = FakeClock()
    store = MemoryAffinity(clock)
    one = [Candidate("r1")]
    params = AffinityParams(PARAMS.rule, entry_ttl_s=600, lease_ttl_s=10)

    async def load() -> float:
        c = await store.choose("s", ["probe"], one, f"probe{clock.now()}", params)
        assert c is not None
        await store.finish("s", "r1", f"probe{clock.now()}")
        return c.loads["r1"]

    for lease in ("A", "B", "C"):
        await store.choose("s", [lease], one, lease, params)
        clock.advance(1)
    assert await load() == 3
    await store.finish("s", "r1", "A")  # the earliest to expire goes first: the next due time is stale
    assert await load() == 2
    await store.renew([("s", "r1", "C")], 30)  # C now runs to 3 + 30
    clock.advance(9)  # 12: B (expiry 11) has expired, C is renewed
    assert await load() == 1
    clock.advance(25)  # 37: C too
    assert await load() == 0
