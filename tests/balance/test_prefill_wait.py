"""Holding a request whose prefix another request is still prefilling on the same replica."""

from __future__ import annotations

import asyncio

import yaml

from router.balance.affinity import MemoryAffinity
from router.balance.cache_aware import CacheAwarePicker
from router.balance.pick import PickRequest
from router.balance.pool import ReplicaRegistry, build_route_table
from router.balance.prefill_wait import PrefillTracker
from router.clock import FakeClock
from router.policy.loader import parse_policy
from router.policy.model import Balance
from tests.support import policy_dict

SYSTEM = "You are a careful assistant for a shipping company. " * 60  # ~3,000 characters: many blocks


def _body(question: str) -> dict:
    return {"model": "small", "messages": [{"role": "system", "content": SYSTEM},
                                           {"role": "user", "content": question}]}


def _replicas():
    policy = parse_policy(yaml.safe_dump(policy_dict(small=["http://127.0.0.1:1", "http://127.0.0.1:2"])), env={})
    return build_route_table(policy.policy, ReplicaRegistry()).candidates("small")


async def test_tracker_holds_until_the_first_request_is_prefilled() -> None:
    t = PrefillTracker()
    await asyncio.wait_for(t.wait("r0", "b1", cap=5), 0.1)  # nothing in flight: no wait
    t.begin("first", "r0", ["b1", "b2"])
    waiter = asyncio.create_task(t.wait("r0", "b2", cap=5))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    t.end("first")
    await asyncio.wait_for(waiter, 0.5)
    assert t.waits == 1 and t.waits_timed_out == 0 and t.in_flight() == 0


async def test_tracker_wait_is_capped_and_other_replicas_do_not_wait() -> None:
    t = PrefillTracker()
    t.begin("first", "r0", ["b1"])
    await asyncio.wait_for(t.wait("r1", "b1", cap=5), 0.1)  # another replica: nothing to wait for
    loop = asyncio.get_running_loop()
    started = loop.time()
    await t.wait("r0", "b1", cap=0.1)
    assert 0.08 <= loop.time() - started < 1.0 and t.waits_timed_out == 1
    await asyncio.wait_for(t.wait("r0", "b1", cap=0), 0.1)  # 0: off


async def test_blocks_stay_with_the_request_that_claimed_them_first() -> None:
    t = PrefillTracker()
    t.begin("first", "r0", ["b1"])
    t.begin("second", "r0", ["b1", "b2"])  # b1 is still first's; second adds b2
    t.end("second")
    waiter = asyncio.create_task(t.wait("r0", "b1", cap=5))
    await asyncio.sleep(0.05)
    assert not waiter.done()  # ending second did not release first's block
    t.end("first")
    await asyncio.wait_for(waiter, 0.5)
    t.end("never-began")  # harmless


async def test_same_prefix_waits_for_the_first_token_then_goes_to_the_same_replica() -> None:
    reps = _replicas()
    picker = CacheAwarePicker(MemoryAffinity(FakeClock()), lambda: Balance(prefill_wait_s=5))
    first_req = PickRequest("small", "first", _body("Where is parcel 1?"))
    first = await picker.pick(reps, first_req)
    second = asyncio.create_task(picker.pick(reps, PickRequest("small", "second", _body("Where is parcel 2?"))))
    await asyncio.sleep(0.05)
    assert not second.done()  # the shared system prompt is still being prefilled by the first
    picker.started(first, first_req)
    assert (await asyncio.wait_for(second, 0.5)) is first
    assert picker.prefills.waits == 1


async def test_a_first_request_that_ends_without_a_token_releases_the_wait() -> None:
    reps = _replicas()
    picker = CacheAwarePicker(MemoryAffinity(FakeClock()), lambda: Balance(prefill_wait_s=5))
    first_req = PickRequest("small", "first", _body("Where is parcel 1?"))
    first = await picker.pick(reps, first_req)
    second = asyncio.create_task(picker.pick(reps, PickRequest("small", "second", _body("Where is parcel 2?"))))
    await asyncio.sleep(0.05)
    await picker.done(first, first_req, None, served=False)  # failed before its first token
    await asyncio.wait_for(second, 0.5)


async def test_off_when_prefill_wait_is_zero() -> None:
    reps = _replicas()
    picker = CacheAwarePicker(MemoryAffinity(FakeClock()), lambda: Balance(prefill_wait_s=0))
    await picker.pick(reps, PickRequest("small", "first", _body("Where is parcel 1?")))
    await asyncio.wait_for(picker.pick(reps, PickRequest("small", "second", _body("Where is parcel 2?"))), 0.1)
    assert picker.prefills.waits == 0
