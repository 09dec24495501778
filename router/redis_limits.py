"""Per-key limits in Redis (:mod:`router.limits`): one limit per key for every proxy and worker process.

One Lua script call per admitted request (``ADMIT``), one per charge (``CHARGE``, sent in the
background), both through the process's pipelined connection (:class:`router.redis_client.RedisPipe`; on a Redis
Cluster redis-py's cluster client).
Keys, one hash tag per key name so that a key's three keys share a Redis Cluster slot:
``tierroute:limits:{<name>}:rate`` (hash: both buckets), ``…:usd:day:<YYYY-MM-DD>`` and
``…:usd:month:<YYYY-MM>`` (floats, expiring after their period). Times in the scripts are
Redis' own clock. When Redis fails (a command times out after the client's timeout; the breaker
of :mod:`router.redis_client` then stops trying for a while), this process's
:class:`router.limits.MemoryLimits` decides, with the last spend totals Redis reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from .auth import Principal
from .clock import Clock
from .limits import (
    ADMITTED,
    DAY_TTL_S,
    MAX_PENDING_CHARGES,
    MONTH_TTL_S,
    PREFIX,
    Admission,
    MemoryLimits,
    Period,
    key_view,
    refill,
)
from .redis_breaker import RedisBreaker
from .redis_client import calls_of, health_of

_ADMIT = """
-- KEYS: rate (hash), day spend, month spend
-- ARGV: rpm, tpm, usd_per_day, usd_per_month (0: none), refuse at the budget (1/0)
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local day_cap, month_cap, refuse = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1'
local function f(x) return string.format('%.17g', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local day = tonumber(redis.call('GET', KEYS[2]) or '0')
local month = tonumber(redis.call('GET', KEYS[3]) or '0')
local over = (day_cap > 0 and day >= day_cap) or (month_cap > 0 and month >= month_cap)
local verdict, wait = 'ok', 0
if over and refuse then
  verdict = 'budget'
elseif rpm > 0 or tpm > 0 then
  local h = redis.call('HMGET', KEYS[1], 'r', 'ra', 't', 'ta')
  local r, tk = rpm, tpm
  if h[1] then r = math.min(rpm, tonumber(h[1]) + math.max(0, now - tonumber(h[2])) * rpm / 60) end
  if h[3] then tk = math.min(tpm, tonumber(h[3]) + math.max(0, now - tonumber(h[4])) * tpm / 60) end
  if tpm > 0 and tk <= 0 then
    verdict, wait = 'tpm', (1 - tk) * 60 / tpm
  elseif rpm > 0 and r < 1 then
    verdict, wait = 'rpm', (1 - r) * 60 / rpm
  elseif rpm > 0 then
    r = r - 1
  end
  redis.call('HSET', KEYS[1], 'r', f(r), 'ra', f(now), 't', f(tk), 'ta', f(now))
  local ttl = 120
  if tpm > 0 and tk < 0 then ttl = ttl + math.ceil(-tk * 60 / tpm) end
  redis.call('EXPIRE', KEYS[1], ttl)
end
return {verdict, f(wait), f(day), f(month), over and '1' or '0'}
"""

_CHARGE = """
-- KEYS: rate (hash), day spend, month spend; ARGV: tpm (0: none), tokens, usd, day ttl, month ttl
local tpm, tokens, usd = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local function f(x) return string.format('%.17g', x) end
if tpm > 0 and tokens > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  local h = redis.call('HMGET', KEYS[1], 't', 'ta')
  local tk = tpm
  if h[1] then tk = math.min(tpm, tonumber(h[1]) + math.max(0, now - tonumber(h[2])) * tpm / 60) end
  tk = tk - tokens
  redis.call('HSET', KEYS[1], 't', f(tk), 'ta', f(now))
  local ttl = 120
  if tk < 0 then ttl = ttl + math.ceil(-tk * 60 / tpm) end
  redis.call('EXPIRE', KEYS[1], ttl)
end
local day, month
if usd > 0 then
  day = redis.call('INCRBYFLOAT', KEYS[2], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  month = redis.call('INCRBYFLOAT', KEYS[3], ARGV[3])
  redis.call('EXPIRE', KEYS[3], ARGV[5])
else
  day = redis.call('GET', KEYS[2]) or '0'
  month = redis.call('GET', KEYS[3]) or '0'
end
return {day, month}
"""


def redis_keys(name: str, per: Period, prefix: str = PREFIX) -> list[str]:
    """A key's three Redis keys, one hash tag (its name) so that they share a cluster slot."""
    base = f"{prefix}{{{name}}}:"
    return [base + "rate", f"{base}usd:day:{per.day}", f"{base}usd:month:{per.month}"]


SCRIPTS = {"admit": _ADMIT, "charge": _CHARGE}  # by name, for bench/redis_capacity.py


def admit_call(p: Principal, per: Period, prefix: str = PREFIX) -> tuple[list[str], list[int | float | str]]:
    """KEYS and ARGV of one ``ADMIT`` call for key ``p`` in period ``per``."""
    b = p.budget
    return redis_keys(p.name, per, prefix), [
        p.requests_per_minute or 0, p.tokens_per_minute or 0, (b.usd_per_day or 0) if b else 0,
        (b.usd_per_month or 0) if b else 0, "1" if b is not None and b.on_exhausted == "refuse" else "0"]


def charge_call(p: Principal, tokens: int, usd: float, per: Period,
                prefix: str = PREFIX) -> tuple[list[str], list[int | str]]:
    """KEYS and ARGV of one ``CHARGE`` call: ``tokens`` against the key's tpm, ``usd`` against its budget."""
    return redis_keys(p.name, per, prefix), [p.tokens_per_minute or 0, tokens, repr(usd if p.budget else 0.0),
                                             DAY_TTL_S, MONTH_TTL_S]


@dataclass
class _Pending:
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    local_only: int = 0  # charges not sent: MAX_PENDING_CHARGES were already on their way


class RedisLimits:
    """Limits shared by every proxy through Redis; this process's :class:`MemoryLimits` when it fails."""

    def __init__(self, redis: Redis | RedisCluster, clock: Clock, *, prefix: str = PREFIX,
                 local: MemoryLimits | None = None, breaker_failures: int = 3, breaker_cooldown_s: float = 5.0) -> None:
        self._redis = redis
        self._prefix = prefix
        self._local = local or MemoryLimits(clock)
        self._calls = calls_of(redis)
        self._health = health_of(redis)
        self._admit_sha, self._charge_sha = self._calls.register(_ADMIT), self._calls.register(_CHARGE)
        self._breaker = RedisBreaker(clock, "limits", failures=breaker_failures, cooldown_s=breaker_cooldown_s)
        self.status = self._breaker.status
        self._pending = _Pending()

    async def admit(self, p: Principal) -> Admission:
        if not p.limited:
            return ADMITTED
        if not self._breaker.usable():
            return await self._admit_locally(p)
        per = self._local.period()
        try:
            out = await self._calls.script(self._admit_sha, _ADMIT, *admit_call(p, per, self._prefix))
        except (TimeoutError, RedisError, OSError) as e:
            self._failed(e)
            return await self._admit_locally(p)
        self._breaker.succeeded()
        verdict, wait, day, month, over = (v.decode() if isinstance(v, bytes) else str(v) for v in out)
        spent = float(day), float(month)
        self._local.seen(p, per, *spent)
        return self._local.verdict(p, verdict, float(wait), spent, per, over == "1")

    async def _admit_locally(self, p: Principal) -> Admission:
        self.status.local_decisions += 1
        self._health.fallback("limits")
        return await self._local.admit(p)

    def _failed(self, e: BaseException) -> None:
        self._breaker.failed(e)
        self._health.error("limits")

    def charge(self, p: Principal, tokens: int, usd: float) -> None:
        if not (p.tokens_per_minute or p.budget) or (tokens <= 0 and usd <= 0):
            return
        self._local.charge(p, tokens, usd)  # at once: this process's figures stand in if Redis fails
        if not self._breaker.usable():
            return
        if len(self._pending.tasks) >= MAX_PENDING_CHARGES:
            self._pending.local_only += 1
            return
        task = asyncio.create_task(self._send(p, tokens, usd, self._local.period()))
        self._pending.tasks.add(task)
        task.add_done_callback(self._pending.tasks.discard)

    async def _send(self, p: Principal, tokens: int, usd: float, per: Period) -> None:
        try:
            day, month = await self._calls.script(self._charge_sha, _CHARGE, *charge_call(p, tokens, usd, per,
                                                                                                self._prefix))
        except (TimeoutError, RedisError, OSError) as e:
            self._failed(e)  # charged locally already
            return
        self._breaker.succeeded()
        self._local.seen(p, per, float(day), float(month))  # the totals include this process's charges

    async def usage(self, principals: Iterable[Principal]) -> dict[str, Any]:
        limited = [p for p in principals if p.limited]
        state = {"store": "redis", "redis": asdict(self.status), **self.bounds()}
        if not limited or not self._breaker.usable():
            return {**state, "source": "local", "keys": {p.name: self._local.view(p) for p in limited}}
        per = self._local.period()
        try:
            sec, usec = await self._redis.time()  # not in the pipeline: a cluster's pipeline refuses TIME
            async with self._redis.pipeline(transaction=False) as pipe:
                for p in limited:
                    rate, day, month = redis_keys(p.name, per, self._prefix)
                    pipe.hmget(rate, ["r", "ra", "t", "ta"])
                    pipe.get(day)
                    pipe.get(month)
                out = await pipe.execute()
        except (TimeoutError, RedisError, OSError) as e:
            self._failed(e)
            return {**state, "source": "local", "keys": {p.name: self._local.view(p) for p in limited}}
        now = sec + usec / 1e6
        keys = {}
        for i, p in enumerate(limited):
            (r, ra, t, ta), day, month = out[3 * i: 3 + 3 * i]
            rpm = p.requests_per_minute
            tpm = p.tokens_per_minute
            keys[p.name] = key_view(
                p, None if not rpm else rpm if r is None else refill(float(r), float(ra), rpm, now),
                None if not tpm else tpm if t is None else refill(float(t), float(ta), tpm, now),
                float(day or 0), float(month or 0), self._local.refused.get(p.name))
        return {**state, "source": "redis", "keys": keys}

    def bounds(self) -> dict[str, Any]:
        return {**self._local.bounds(), "pending_charges": len(self._pending.tasks),
                "max_pending_charges": MAX_PENDING_CHARGES, "charges_kept_local": self._pending.local_only}

    async def drain(self, timeout_s: float = 1.0) -> None:
        """Wait (at most ``timeout_s``) for the charges on their way to Redis to land."""
        if self._pending.tasks:
            await asyncio.wait(list(self._pending.tasks), timeout=timeout_s)

    async def aclose(self) -> None:
        await self.drain()
