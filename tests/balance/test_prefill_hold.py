"""The prefill hold: marks in both stores, and a request held until the prefix it matched is prefilled."""

from __future__ import annotations

import asyncio

import pytest
import yaml
from redis.asyncio import Redis

from router.balance.affinity import AffinityParams, AffinityStore, MemoryAffinity
from router.balance.cache_aware import CacheAwarePicker
from router.balance.pick import PickRequest
from router.balance.pool import ReplicaRegistry, build_route_table
from router.balance.redis_affinity import RedisAffinity, key_prefix
from router.balance.rule import Candidate
from router.balance.slot import Slot
from router.clock import FakeClock, SystemClock
from router.policy.loader import parse_policy
from router.policy.model import Balance
from tests.support import policy_dict

SYSTEM = "You are a careful assistant for a shipping company. " * 60  # ~3,000 characters: many blocks
MARKS = AffinityParams(fill_ttl_s=5)


def _body(question: str, stream: bool = True) -> dict:
    return {"model": "small", "stream": stream, "messages": [{"role": "system", "content": SYSTEM},
                                                             {"role": "user", "content": question}]}


async def _pick(picker: CacheAwarePicker, reps, req: PickRequest):
    """Choose and wait out the prefill hold, as a request's slot does."""
    replica = await picker.pick(reps, req)
    held = picker.hold(replica, req)
    if held is not None:
        await held
    return replica


def _replicas():
    policy = parse_policy(yaml.safe_dump(policy_dict(small=["http://127.0.0.1:1", "http://127.0.0.1:2"])), env={})
    return build_route_table(policy.policy, ReplicaRegistry()).candidates("small")


async def _stores(redis: Redis) -> list[AffinityStore]:
    return [MemoryAffinity(FakeClock()), RedisAffinity(redis, SystemClock())]


async def test_marks_in_both_stores(shared_redis: Redis, scope: str) -> None:
    cands = [Candidate("r1"), Candidate("r2")]
    for store in await _stores(shared_redis):
        s = scope + type(store).__name__
        first = await store.choose(s, ["p1", "p2", "a1"], cands, "l1", MARKS)
        assert first is not None and not first.filling  # nothing matched, nothing to wait for
        second = await store.choose(s, ["p1", "p2", "b1"], cands, "l2", MARKS)
        assert second is not None and second.key == first.key and second.matched == 2 and second.filling
        assert await store.filling(s, first.key, "p2")
        await store.filled(s, first.key, ["p1", "p2", "a1"])  # the first request's first token
        assert not await store.filling(s, first.key, "p2")
        third = await store.choose(s, ["p1", "p2", "c1"], cands, "l3", MARKS)
        assert third is not None and third.matched == 2 and not third.filling
        no_marks = await store.choose(s, ["q1", "q2"], cands, "l4", AffinityParams())
        assert no_marks is not None and not await store.filling(s, no_marks.key, "q1")  # off: no marks
    keys = [k async for k in shared_redis.scan_iter(match=key_prefix(scope + "*") + "*")]
    if keys:
        await shared_redis.delete(*keys)


async def test_held_until_the_first_token_even_through_another_proxy(shared_redis: Redis, scope: str) -> None:
    reps = _replicas()
    settings = lambda: Balance(prefill_wait_s=5)  # noqa: E731
    proxy_a = CacheAwarePicker(RedisAffinity(shared_redis, SystemClock()), settings)
    proxy_b = CacheAwarePicker(RedisAffinity(shared_redis, SystemClock()), settings)
    first_req = PickRequest(scope, "first", _body("Where is parcel 1?"))
    first = await _pick(proxy_a, reps, first_req)
    second = asyncio.create_task(_pick(proxy_b, reps, PickRequest(scope, "second", _body("Where is parcel 2?"))))
    await asyncio.sleep(0.1)
    assert not second.done()  # proxy B holds: proxy A's request is still prefilling the shared prompt
    proxy_a.started(first, first_req)
    assert (await asyncio.wait_for(second, 1.0)) is first
    assert proxy_b.holds == 1 and proxy_b.holds_timed_out == 0
    keys = [k async for k in shared_redis.scan_iter(match=key_prefix(scope) + "*")]
    if keys:
        await shared_redis.delete(*keys)


@pytest.mark.parametrize("how", ["ended", "cap"])
async def test_a_hold_ends_when_the_first_request_ends_or_at_the_cap(how: str) -> None:
    reps = _replicas()
    cap = 5 if how == "ended" else 0.1
    picker = CacheAwarePicker(MemoryAffinity(SystemClock()), lambda: Balance(prefill_wait_s=cap))
    first_req = PickRequest("small", "first", _body("Where is parcel 1?"))
    first = await _pick(picker, reps, first_req)
    second = asyncio.create_task(_pick(picker, reps, PickRequest("small", "second", _body("Where is parcel 2?"))))
    await asyncio.sleep(0.05)
    if how == "ended":
        await picker.done(first, first_req, None, served=False)  # failed before its first token
    await asyncio.wait_for(second, 1.0)
    assert picker.holds == 1 and picker.holds_timed_out == (1 if how == "cap" else 0)


async def test_off_when_prefill_wait_is_zero() -> None:
    reps = _replicas()
    picker = CacheAwarePicker(MemoryAffinity(FakeClock()), lambda: Balance(prefill_wait_s=0))
    await _pick(picker, reps, PickRequest("small", "first", _body("Where is parcel 1?")))
    await asyncio.wait_for(_pick(picker, reps, PickRequest("small", "second", _body("Where is parcel 2?"))), 0.1)
    assert picker.holds == 0


async def test_whole_answers_neither_mark_nor_wait() -> None:
    reps = _replicas()
    picker = CacheAwarePicker(MemoryAffinity(FakeClock()), lambda: Balance(prefill_wait_s=5))
    await _pick(picker, reps, PickRequest("small", "first", _body("Where is parcel 1?", stream=False)))
    await asyncio.wait_for(_pick(picker, reps, PickRequest("small", "second", _body("Where is parcel 2?"))), 0.1)
    await asyncio.wait_for(_pick(picker, reps, PickRequest("small", "third", _body("Where is parcel 3?",
                                                                                stream=False))), 0.1)
    assert picker.holds == 0  # a stream does not wait on a whole answer's prefill, nor a whole answer on one


async def test_a_request_cancelled_while_held_leaves_no_lease_or_marks() -> None:
    reps = _replicas()
    store = MemoryAffinity(SystemClock())
    picker = CacheAwarePicker(store, lambda: Balance(prefill_wait_s=5))
    first_req = PickRequest("small", "first", _body("Where is parcel 1?"))
    first = await _pick(picker, reps, first_req)

    async def second_request() -> None:
        async with Slot(picker, PickRequest("small", "second", _body("Where is parcel 2?"))) as slot:
            await slot.pick(reps)

    second = asyncio.create_task(second_request())
    await asyncio.sleep(0.05)
    assert picker.holds == 1 and first.state.in_flight == 1  # held, and counted on its replica (by its slot)
    second.cancel()  # the client hung up while its request was held
    with pytest.raises(asyncio.CancelledError):
        await second
    await asyncio.sleep(0.01)  # the release runs in the background
    leases = store._leases.get(("small", first.key), {})  # noqa: SLF001 - white-box check of the store
    assert "second" not in leases and "first" in leases
    assert "second" not in picker._pending  # noqa: SLF001 - nothing left to renew
    assert first.state.in_flight == 0
