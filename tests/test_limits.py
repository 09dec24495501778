"""router.limits (issue 10, point 7): requests and tokens per minute and spend budgets per key, in memory
and in Redis (shared by every instance), and the local fallback when Redis is gone."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from router.auth import ANONYMOUS, Principal
from router.clock import FakeClock
from router.errors import BudgetExceeded, RateLimited
from router.limits import MemoryLimits, period
from router.policy.model import Budget
from router.redis_connect import redis_client
from router.redis_limits import RedisLimits, redis_keys
from tests.conftest import SHARED_URL, RedisServer

Make = Callable[[], Awaitable[MemoryLimits | RedisLimits]]


def key(name: str = "bot", **kw: object) -> Principal:
    return Principal(name, None, **kw)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """Instances of one store: every memory instance is its own; every Redis one shares one prefix."""
    prefix = f"test-limits-{uuid.uuid4().hex[:8]}:"
    made: list[MemoryLimits | RedisLimits] = []
    clients: list[Redis] = []

    async def factory() -> MemoryLimits | RedisLimits:
        if request.param == "memory":
            made.append(MemoryLimits(FakeClock()))
        else:
            clients.append(redis_client(SHARED_URL, timeout_s=1.0))
            made.append(RedisLimits(clients[-1], FakeClock(), prefix=prefix))
        return made[-1]

    yield factory
    for m in made:
        await m.aclose()
    if clients:
        keys = [k async for k in clients[0].scan_iter(match=prefix + "*")]
        if keys:
            await clients[0].delete(*keys)
    for c in clients:
        await c.aclose()


async def settle(limits: MemoryLimits | RedisLimits) -> None:
    if isinstance(limits, RedisLimits):
        await limits.drain()


async def test_requests_per_minute(make: Make) -> None:
    limits = await make()
    p = key(requests_per_minute=3)
    for _ in range(3):
        await limits.admit(p)
    with pytest.raises(RateLimited) as ei:
        await limits.admit(p)
    assert ei.value.status == 429 and ei.value.headers["retry-after"] in ("19", "20")  # Redis' clock moves on
    assert "3 requests per minute" in ei.value.message and "'bot'" in ei.value.message
    assert not (await limits.admit(ANONYMOUS)).budget_exhausted  # no limit configured
    if isinstance(limits, MemoryLimits):
        limits._clock.advance(20)  # type: ignore[attr-defined]
        await limits.admit(p)


async def test_tokens_per_minute_are_charged_after_and_checked_before(make: Make) -> None:
    limits = await make()
    p = key(tokens_per_minute=100)
    await limits.admit(p)
    limits.charge(p, 150, 0.0)  # one request may overshoot: it is known only when it ends
    await settle(limits)
    with pytest.raises(RateLimited) as ei:
        await limits.admit(p)
    assert "100 tokens per minute" in ei.value.message
    assert int(ei.value.headers["retry-after"]) in (30, 31)  # 50 tokens below zero, +1, at 100/min
    usage = (await limits.usage([p]))["keys"]["bot"]
    assert usage["tokens_per_minute"] == 100 and usage["tokens_available"] < 0


async def test_budget_refuse(make: Make) -> None:
    limits = await make()
    p = key(requests_per_minute=10, budget=Budget(usd_per_day=0.01))
    await limits.admit(p)
    limits.charge(p, 10, 0.006)
    await settle(limits)
    await limits.admit(p)
    limits.charge(p, 10, 0.006)
    await settle(limits)
    for _ in range(3):
        with pytest.raises(BudgetExceeded) as ei:
            await limits.admit(p)
    e = ei.value
    assert e.status == 429 and e.type == "insufficient_quota" and e.code == "budget_exceeded"
    assert "$0.0120 of $0.0100 today (UTC)" in e.message
    assert 0 < int(e.headers["retry-after"]) <= 86_400
    usage = (await limits.usage([p]))["keys"]["bot"]
    assert usage["spend_usd"]["day"] == pytest.approx(0.012)
    assert usage["budget"]["exhausted"] == "day" and usage["refused_here"]["budget"] == 3
    assert usage["requests_available"] == pytest.approx(8, abs=0.9)  # refusals took none (5 if they had)


async def test_budget_downgrade_admits_with_the_flag(make: Make) -> None:
    limits = await make()
    p = key(budget=Budget(usd_per_month=1.0, on_exhausted="downgrade"))
    assert not (await limits.admit(p)).budget_exhausted
    limits.charge(p, 1000, 1.5)
    await settle(limits)
    assert (await limits.admit(p)).budget_exhausted
    usage = (await limits.usage([p]))["keys"]["bot"]
    assert usage["budget"]["exhausted"] == "month" and usage["refused_here"]["downgraded"] == 1


async def test_keys_are_separate(make: Make) -> None:
    limits = await make()
    a, b = key("a", requests_per_minute=1), key("b", requests_per_minute=1)
    await limits.admit(a)
    await limits.admit(b)
    with pytest.raises(RateLimited):
        await limits.admit(a)


async def test_redis_instances_share_one_limit(make: Make) -> None:
    """Three instances (three proxies): the limit holds in total when they share Redis, per process without."""
    stores = [await make() for _ in range(3)]
    p = key(requests_per_minute=6, budget=Budget(usd_per_day=0.03))
    admitted = 0
    for i in range(12):
        try:
            await stores[i % 3].admit(p)
            admitted += 1
            stores[i % 3].charge(p, 10, 0.01)
            await settle(stores[i % 3])
        except (RateLimited, BudgetExceeded):
            pass
    assert admitted == (3 if isinstance(stores[0], RedisLimits) else 9)  # the budget: 3 in total, 3 each


async def test_redis_down_falls_back_to_local_limits_with_the_spend_seen(private_redis: RedisServer) -> None:
    client = redis_client(private_redis.url)  # 50 ms timeouts, as the proxy's
    limits = RedisLimits(client, FakeClock(), prefix="test-down:")
    p = key(requests_per_minute=1000, budget=Budget(usd_per_day=0.02))
    await limits.admit(p)
    limits.charge(p, 10, 0.015)
    await limits.drain()
    private_redis.kill()
    started = time.monotonic()
    await limits.admit(p)  # Redis gone: decided locally, without waiting
    limits.charge(p, 10, 0.01)  # counted here: 0.025 of 0.02
    with pytest.raises(BudgetExceeded):
        await limits.admit(p)
    assert time.monotonic() - started < 1.0
    assert limits.status.errors >= 1 and limits.status.local_decisions >= 1
    usage = await limits.usage([p])
    assert usage["source"] == "local" and usage["keys"]["bot"]["spend_usd"]["day"] == pytest.approx(0.025)
    await limits.aclose()
    await client.aclose()


async def test_memory_keeps_at_most_max_keys() -> None:
    limits = MemoryLimits(FakeClock(), max_keys=3)
    for i in range(5):
        await limits.admit(key(f"k{i}", requests_per_minute=10))
    assert limits.bounds() == {"tracked_keys": 3, "max_keys": 3, "dropped_keys": 2}


def test_a_keys_redis_keys_share_one_cluster_slot() -> None:
    keys = redis_keys("support-bot", period(1_700_000_000.0))
    assert keys == ["tierroute:limits:{support-bot}:rate", "tierroute:limits:{support-bot}:usd:day:2023-11-14",
                    "tierroute:limits:{support-bot}:usd:month:2023-11"]
    assert len({key_slot(k.encode()) for k in keys}) == 1  # one script call may touch all three in a cluster
    assert key_slot(redis_keys("other", period(1_700_000_000.0))[0].encode()) != key_slot(keys[0].encode())


def test_period_rolls_at_utc_midnight_and_month_end() -> None:
    p = period(1_701_388_799.0)  # 2023-11-30 23:59:59 UTC
    assert (p.day, p.month, p.day_left_s, p.month_left_s) == ("2023-11-30", "2023-11", 1.0, 1.0)
    assert period(1_701_388_800.0).month == "2023-12"


async def test_concurrent_admissions_through_redis_never_exceed_the_limit(shared_redis: Redis) -> None:
    prefix = f"test-limits-{uuid.uuid4().hex[:8]}:"
    clients = [redis_client(SHARED_URL, timeout_s=1.0) for _ in range(3)]
    stores = [RedisLimits(c, FakeClock(), prefix=prefix) for c in clients]
    p = key(requests_per_minute=20)

    async def one(i: int) -> bool:
        try:
            await stores[i % 3].admit(p)
            return True
        except RateLimited:
            return False

    started = time.monotonic()
    results = await asyncio.gather(*(one(i) for i in range(60)))
    refilled = int((time.monotonic() - started) / 3)  # one request back every 3 s
    assert 20 <= sum(results) <= 20 + refilled  # the script is atomic: no two instances take the same request
    for c in clients:
        await c.aclose()
    keys = [k async for k in shared_redis.scan_iter(match=prefix + "*")]
    await shared_redis.delete(*keys)
