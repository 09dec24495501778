"""The Redis calls of the stores, built by pure functions that bench/redis_capacity.py replays: the stores
send exactly what those functions build, and a call built by them acts on the store's own state."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from redis.asyncio import Redis

from router.auth import Principal
from router.balance.affinity import AffinityParams
from router.balance.redis_affinity import SCRIPTS, RedisAffinity, choose_call, finish_call, key_prefix
from router.balance.rule import Candidate, RuleParams
from router.clock import FakeClock, SystemClock
from router.conversations import MemoryConversations, RedisConversations, redis_key, ttl_px
from router.limits import period
from router.policy.model import Budget
from router.redis_connect import redis_client
from router.redis_limits import SCRIPTS as LIMIT_SCRIPTS
from router.redis_limits import RedisLimits, admit_call, charge_call, redis_keys

PARAMS = AffinityParams(RuleParams(0.3, 16, 1.5), entry_ttl_s=600, lease_ttl_s=60, fill_ttl_s=1.0)
CANDS = [Candidate("r1", True, 64, 2, 1.0, 500), Candidate("r2", False, 0, 0, 1.5, 0)]
NOWHERE = "redis://127.0.0.1:1/0"  # never connected: the tests below record the calls instead
CHOICE = [b"r1", b"cache", b"2", b"5", b"9", b"0", b"r1", b"2", b"2", b"r2", b"0", b"0"]


async def test_affinity_sends_what_choose_call_and_finish_call_build(monkeypatch: pytest.MonkeyPatch) -> None:
    store = RedisAffinity(redis_client(NOWHERE), FakeClock(), max_entries=77)
    sent: list[tuple[str, list[str], list[Any]]] = []

    async def script(source: str, keys: list[str], args: Sequence[Any]) -> Any:
        sent.append((source, keys, list(args)))
        return CHOICE if source == SCRIPTS["choose"] else 1

    def script_soon(sha: str, source: str, keys: list[str], args: Sequence[Any]) -> asyncio.Future[Any]:
        sent.append((source, keys, list(args)))  # FINISH: sent without waiting (Calls.script_soon)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(1)
        return done

    monkeypatch.setattr(store, "_script", script)
    monkeypatch.setattr(store._calls, "script_soon", script_soon)  # noqa: SLF001
    try:
        choice = await store.choose("small", ["b1", "b2", "b3"], CANDS, "L1", PARAMS)
        assert choice is not None and choice.key == "r1"
        await store.finish("small", "r1", "L1", ["b3"], 12.5)
        await store.finish("small", "r2", "L2")
    finally:
        await store.aclose()
    keys, args = choose_call("small", ["b1", "b2", "b3"], CANDS, "L1", PARAMS, 77)
    assert sent[0] == (SCRIPTS["choose"], keys, args)
    p = "tierroute:{small}:"
    assert keys == [p + k + r for r in ("r1", "r2") for k in ("lru:", "lease:", "fill:")]  # all declared: one slot
    assert args[:9] == ["L1", 3, 2, 600, 60, 0.3, 16, 1.5, 1.0]
    assert args[9:12] == ["b1", "b2", "b3"]
    assert args[12:] == ["r1", "1", 64, 2, 1.0, 500, "r2", "0", 0, 0, 1.5, 77]  # unknown capacity: max_entries
    assert sent[1] == (SCRIPTS["finish"], *finish_call("small", "r1", "L1", ["b3"], 12.5))
    assert sent[1][1] == [p + "lease:r1", p + "lru:r1"]
    assert sent[1][2] == ["L1", "12500000", "b3"]
    assert sent[2][2] == ["L2", ""]


async def test_a_built_choose_call_acts_on_the_stores_keys(shared_redis: Redis, scope: str) -> None:
    """What the benchmark sends with EVALSHA lands where the store looks: the store then matches it."""
    store = RedisAffinity(shared_redis, SystemClock())
    try:
        keys, args = choose_call(scope, ["x1", "x2"], CANDS[:1], "L-bench", PARAMS)
        out = await shared_redis.eval(SCRIPTS["choose"], len(keys), *keys, *args)
        assert out[0] == b"r1"
        choice = await store.choose(scope, ["x1", "x2", "x3"], CANDS[:1], "L2", PARAMS)
        assert choice is not None and choice.matched == 2 and choice.loads["r1"] == 2  # external 2, 2 leases
        keys, args = finish_call(scope, "r1", "L-bench")
        await shared_redis.eval(SCRIPTS["finish"], len(keys), *keys, *args)
        assert await shared_redis.zscore(key_prefix(scope) + "lease:r1", "L-bench") is None
        assert store.status.errors == 0
    finally:
        found = [k async for k in shared_redis.scan_iter(match=key_prefix(scope) + "*")]
        if found:
            await shared_redis.delete(*found)


async def test_limits_send_what_admit_call_and_charge_call_build(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    store = RedisLimits(redis_client(NOWHERE), clock, prefix="t:")
    sent: list[tuple[str, list[str], list[Any]]] = []

    async def script(sha: str, source: str, keys: list[str], args: Sequence[Any]) -> Any:
        sent.append((source, list(keys), list(args)))
        return [b"ok", b"0", b"0", b"0", b"0"] if source == LIMIT_SCRIPTS["admit"] else [b"0.25", b"0.25"]

    monkeypatch.setattr(store._calls, "script", script)
    p = Principal("bot", None, requests_per_minute=60, tokens_per_minute=1000,
                  budget=Budget(usd_per_day=5.0, on_exhausted="refuse"))
    per = period(clock.wall())
    await store.admit(p)
    store.charge(p, 120, 0.25)
    await store.drain()
    assert sent[0] == (LIMIT_SCRIPTS["admit"], *admit_call(p, per, "t:"))
    assert sent[0][1] == redis_keys("bot", per, "t:") and sent[0][2] == [60, 1000, 5.0, 0, "1"]
    assert sent[1] == (LIMIT_SCRIPTS["charge"], *charge_call(p, 120, 0.25, per, "t:"))
    assert sent[1][2][:3] == [1000, 120, "0.25"]
    assert charge_call(Principal("free", None, tokens_per_minute=10), 5, 0.25, per)[1][2] == "0.0"  # no budget


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    async def get(self, name: str) -> bytes | None:
        self.calls.append(("GET", name))
        return b"small"

    async def set(self, name: str, value: str, *, px: int) -> None:
        self.calls.append(("SET", name, value, str(px)))


async def test_conversations_use_redis_key_and_ttl_px() -> None:
    kv = _Recorder()
    store = RedisConversations(kv, MemoryConversations(FakeClock()))  # type: ignore[arg-type]
    assert await store.get("abc") == "small"
    await store.put("abc", "large", 1800.0)
    await store.put("short", "small", 0.0001)
    await asyncio.gather(*store._pending)
    assert kv.calls == [("GET", redis_key("abc")), ("SET", redis_key("abc"), "large", str(ttl_px(1800.0))),
                        ("SET", redis_key("short"), "small", "1")]
    assert redis_key("abc") == "tierroute:conv:abc" and ttl_px(1800.0) == 1_800_000
