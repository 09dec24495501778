"""Per-key limits that hold across proxies: requests and tokens per minute, spend budgets.

A client key (``auth.client_keys`` in the policy) may have

- ``requests_per_minute``: a token bucket refilled at ``rpm / 60`` per second, a burst of one
  minute's allowance; each admitted request takes one;
- ``tokens_per_minute``: a bucket of ``tpm`` tokens refilled the same way; a request's prompt and
  completion tokens are taken when it ends (the level may go below zero), and a request is
  admitted only while the level is above zero;
- ``budget``: USD per UTC day and/or month, charged with the cost ``/admin/stats`` adds up (the
  replica's price × the request's tokens). At the cap ``on_exhausted: refuse`` answers 429
  ``budget_exceeded`` (OpenAI's ``insufficient_quota`` type) until the period ends;
  ``downgrade`` admits the request with :attr:`Admission.budget_exhausted` set, and the tier
  decision (:func:`router.policy.decide.decide`) sends it to the cheapest tier the key may use.

:meth:`Limits.admit` runs before a request's body is read (after its key is known);
:meth:`Limits.charge` after it ends, without waiting. :class:`MemoryLimits` keeps the state in
this process, at most ``MAX_KEYS`` keys (the least recently seen dropped beyond that).
:class:`RedisLimits` keeps it in Redis, so every proxy and worker process shares one limit per
key: one Lua script call per admitted request (``ADMIT``), one per charge (``CHARGE``). Keys,
one hash tag per key name so that a key's three keys share a Redis Cluster slot:
``tierroute:limits:{<name>}:rate`` (hash: both buckets), ``…:usd:day:<YYYY-MM-DD>`` and
``…:usd:month:<YYYY-MM>`` (floats, expiring after their period). Times in the scripts are
Redis' own clock. When Redis fails (a command times out after the client's timeout, 50 ms; the
breaker of :mod:`router.redis_client` then stops trying for a while), each process enforces the
same limits locally with the last spend totals it saw from Redis, so nothing waits on Redis and
no budget starts from zero; spend charged during the outage counts in that process only.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .auth import Principal
from .clock import Clock
from .errors import BudgetExceeded, RateLimited, TierrouteError
from .redis_client import RedisBreaker

log = logging.getLogger("tierroute.limits")
MAX_KEYS = 10_000  # keys whose usage one process keeps in memory (a policy names far fewer)
MAX_PENDING_CHARGES = 1024  # charges on their way to Redis; beyond that they count locally only
PREFIX = "tierroute:limits:"
DAY_TTL_S = 3 * 86_400
MONTH_TTL_S = 40 * 86_400


@dataclass(frozen=True, slots=True)
class Admission:
    budget_exhausted: bool = False  # the key's budget is used up and its policy says downgrade


ADMITTED = Admission()


class Limits(Protocol):
    async def admit(self, p: Principal) -> Admission:
        """Admit a request of ``p`` or raise RateLimited / BudgetExceeded (429); takes one request."""
        ...

    def charge(self, p: Principal, tokens: int, usd: float) -> None:
        """A request of ``p`` ended having used ``tokens`` and cost ``usd``; never waits."""
        ...

    async def usage(self, principals: Iterable[Principal]) -> dict[str, Any]:
        """Usage against limits per key, and the store's state (``/admin/stats`` ``limits``)."""
        ...

    def bounds(self) -> dict[str, Any]:
        """Keys tracked and charges in flight against their caps (``/admin/stats`` ``bounds``)."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Period:
    day: str  # YYYY-MM-DD, UTC
    month: str  # YYYY-MM
    day_left_s: float
    month_left_s: float


def period(wall: float) -> Period:
    now = datetime.datetime.fromtimestamp(wall, datetime.UTC)
    tomorrow = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    next_month = (now.replace(day=28) + datetime.timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0,
                                                                             microsecond=0)
    return Period(now.strftime("%Y-%m-%d"), now.strftime("%Y-%m"), (tomorrow - now).total_seconds(),
                  (next_month - now).total_seconds())


def refill(level: float, at: float, per_minute: int, now: float) -> float:
    return min(float(per_minute), level + max(0.0, now - at) * per_minute / 60.0)


def exhausted(p: Principal, day_usd: float, month_usd: float) -> str | None:
    """Which budget of ``p`` is used up ("day", "month"), or None."""
    b = p.budget
    if b is None:
        return None
    if b.usd_per_day is not None and day_usd >= b.usd_per_day:
        return "day"
    if b.usd_per_month is not None and month_usd >= b.usd_per_month:
        return "month"
    return None


def refusal(p: Principal, verdict: str, wait_s: float, spent: tuple[float, float], per: Period) -> TierrouteError:
    """The 429 of a refused request: which limit, how far, when to retry (``retry-after``)."""
    name = p.name
    if verdict == "budget":
        which = exhausted(p, *spent) or "day"
        assert p.budget is not None
        cap = p.budget.usd_per_day if which == "day" else p.budget.usd_per_month
        left = per.day_left_s if which == "day" else per.month_left_s
        when = "today (UTC)" if which == "day" else "this month (UTC)"
        used = spent[0] if which == "day" else spent[1]
        return BudgetExceeded(f"The spend budget of key {name!r} is used up: ${used:.4f} of ${cap:.4f} {when}. "
                              f"It resets in {left / 3600:.1f} h.", headers={"retry-after": str(max(1, round(left)))})
    if verdict == "tpm":
        what = f"{p.tokens_per_minute} tokens per minute"
    else:
        what = f"{p.requests_per_minute} requests per minute"
    return RateLimited(f"Rate limit of {what} reached for key {name!r}; retry in {wait_s:.1f} s.",
                       headers={"retry-after": str(max(1, round(wait_s)))})


@dataclass(slots=True)
class _Usage:
    """One key's state in this process."""

    requests: float
    requests_at: float
    tokens: float
    tokens_at: float
    day: str = ""
    day_usd: float = 0.0
    month: str = ""
    month_usd: float = 0.0

    def roll(self, per: Period) -> None:
        if self.day != per.day:
            self.day, self.day_usd = per.day, 0.0
        if self.month != per.month:
            self.month, self.month_usd = per.month, 0.0


@dataclass
class Refused:
    rpm: int = 0
    tpm: int = 0
    budget: int = 0
    downgraded: int = 0


class MemoryLimits:
    """Limits in this process (and :class:`RedisLimits`' fallback)."""

    def __init__(self, clock: Clock, max_keys: int = MAX_KEYS) -> None:
        self._clock = clock
        self.max_keys = max_keys
        self._keys: OrderedDict[str, _Usage] = OrderedDict()
        self.dropped_keys = 0
        self.refused: dict[str, Refused] = {}  # this process's refusals and downgrades per key

    def _usage(self, p: Principal) -> _Usage:
        u = self._keys.get(p.name)
        if u is None:
            now = self._clock.now()
            u = self._keys[p.name] = _Usage(float(p.requests_per_minute or 0), now,
                                            float(p.tokens_per_minute or 0), now)
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
                self.dropped_keys += 1
        else:
            self._keys.move_to_end(p.name)
        return u

    def period(self) -> Period:
        return period(self._clock.wall())

    def count(self, p: Principal, verdict: str) -> None:
        r = self.refused.get(p.name)
        if r is None:
            if len(self.refused) >= self.max_keys:
                self.refused.clear()  # counters only: starting them again beats growing without bound
            r = self.refused[p.name] = Refused()
        setattr(r, verdict, getattr(r, verdict) + 1)

    async def admit(self, p: Principal) -> Admission:
        if not p.limited:
            return ADMITTED
        u, per, now = self._usage(p), self.period(), self._clock.now()
        u.roll(per)
        over = exhausted(p, u.day_usd, u.month_usd) is not None
        verdict, wait = "ok", 0.0
        if over and p.budget is not None and p.budget.on_exhausted == "refuse":
            verdict = "budget"
        else:
            if p.tokens_per_minute:
                u.tokens, u.tokens_at = refill(u.tokens, u.tokens_at, p.tokens_per_minute, now), now
            if p.requests_per_minute:
                u.requests, u.requests_at = refill(u.requests, u.requests_at, p.requests_per_minute, now), now
            if p.tokens_per_minute and u.tokens <= 0:
                verdict, wait = "tpm", (1.0 - u.tokens) * 60.0 / p.tokens_per_minute
            elif p.requests_per_minute and u.requests < 1.0:
                verdict, wait = "rpm", (1.0 - u.requests) * 60.0 / p.requests_per_minute
            elif p.requests_per_minute:
                u.requests -= 1.0
        return self.verdict(p, verdict, wait, (u.day_usd, u.month_usd), per, over)

    def verdict(self, p: Principal, verdict: str, wait: float, spent: tuple[float, float], per: Period,
                over: bool) -> Admission:
        """The admission, or the refusal raised; counted either way."""
        if verdict != "ok":
            self.count(p, verdict)
            raise refusal(p, verdict, wait, spent, per)
        if over:
            self.count(p, "downgraded")
            return Admission(budget_exhausted=True)
        return ADMITTED

    def charge(self, p: Principal, tokens: int, usd: float) -> None:
        if not (p.tokens_per_minute or p.budget):
            return
        u, now = self._usage(p), self._clock.now()
        u.roll(self.period())
        if p.tokens_per_minute and tokens > 0:
            u.tokens = refill(u.tokens, u.tokens_at, p.tokens_per_minute, now) - tokens
            u.tokens_at = now
        if p.budget and usd > 0:
            u.day_usd += usd
            u.month_usd += usd

    def seen(self, p: Principal, per: Period, day_usd: float, month_usd: float) -> None:
        """Totals Redis reported: the floor of this process's figures if Redis goes away."""
        u = self._usage(p)
        u.roll(per)
        u.day_usd, u.month_usd = max(u.day_usd, day_usd), max(u.month_usd, month_usd)

    def view(self, p: Principal) -> dict[str, Any]:
        """``p``'s usage against its limits, as this process knows it."""
        u, now = self._usage(p), self._clock.now()
        u.roll(self.period())
        rpm = refill(u.requests, u.requests_at, p.requests_per_minute, now) if p.requests_per_minute else None
        tpm = refill(u.tokens, u.tokens_at, p.tokens_per_minute, now) if p.tokens_per_minute else None
        return key_view(p, rpm, tpm, u.day_usd, u.month_usd, self.refused.get(p.name))

    async def usage(self, principals: Iterable[Principal]) -> dict[str, Any]:
        return {"store": "memory", **self.bounds(),
                "keys": {p.name: self.view(p) for p in principals if p.limited}}

    def bounds(self) -> dict[str, Any]:
        return {"tracked_keys": len(self._keys), "max_keys": self.max_keys, "dropped_keys": self.dropped_keys}

    async def aclose(self) -> None:
        return None


def key_view(p: Principal, requests_left: float | None, tokens_left: float | None, day_usd: float,
             month_usd: float, refused: Refused | None) -> dict[str, Any]:
    b = p.budget
    return {
        "requests_per_minute": p.requests_per_minute,
        "requests_available": None if requests_left is None else round(requests_left, 3),
        "tokens_per_minute": p.tokens_per_minute,
        "tokens_available": None if tokens_left is None else round(tokens_left, 1),
        "spend_usd": {"day": round(day_usd, 8), "month": round(month_usd, 8)},
        "budget": None if b is None else {"usd_per_day": b.usd_per_day, "usd_per_month": b.usd_per_month,
                                          "on_exhausted": b.on_exhausted,
                                          "exhausted": exhausted(p, day_usd, month_usd)},
        "refused_here": asdict(refused or Refused()),
    }


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


@dataclass
class _Pending:
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    local_only: int = 0  # charges not sent: MAX_PENDING_CHARGES were already on their way


class RedisLimits:
    """Limits shared by every proxy through Redis; this process's :class:`MemoryLimits` when it fails."""

    def __init__(self, redis: Redis, clock: Clock, *, prefix: str = PREFIX, local: MemoryLimits | None = None,
                 breaker_failures: int = 3, breaker_cooldown_s: float = 5.0) -> None:
        self._redis = redis
        self._prefix = prefix
        self._local = local or MemoryLimits(clock)
        self._admit = redis.register_script(_ADMIT)
        self._charge = redis.register_script(_CHARGE)
        self._breaker = RedisBreaker(clock, "limits", failures=breaker_failures, cooldown_s=breaker_cooldown_s)
        self.status = self._breaker.status
        self._pending = _Pending()

    async def admit(self, p: Principal) -> Admission:
        if not p.limited:
            return ADMITTED
        if not self._breaker.usable():
            self.status.local_decisions += 1
            return await self._local.admit(p)
        per = self._local.period()
        b = p.budget
        args: list[int | float | str] = [
            p.requests_per_minute or 0, p.tokens_per_minute or 0, (b.usd_per_day or 0) if b else 0,
            (b.usd_per_month or 0) if b else 0, "1" if b is not None and b.on_exhausted == "refuse" else "0"]
        try:
            out = await self._admit(keys=redis_keys(p.name, per, self._prefix), args=args)
        except (TimeoutError, RedisError, OSError) as e:
            self._breaker.failed(e)
            self.status.local_decisions += 1
            return await self._local.admit(p)
        self._breaker.succeeded()
        verdict, wait, day, month, over = (v.decode() if isinstance(v, bytes) else str(v) for v in out)
        spent = float(day), float(month)
        self._local.seen(p, per, *spent)
        return self._local.verdict(p, verdict, float(wait), spent, per, over == "1")

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
        args: list[int | str] = [p.tokens_per_minute or 0, tokens, repr(usd if p.budget else 0.0), DAY_TTL_S,
                                 MONTH_TTL_S]
        try:
            day, month = await self._charge(keys=redis_keys(p.name, per, self._prefix), args=args)
        except (TimeoutError, RedisError, OSError) as e:
            self._breaker.failed(e)  # charged locally already
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
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.time()
                for p in limited:
                    rate, day, month = redis_keys(p.name, per, self._prefix)
                    pipe.hmget(rate, ["r", "ra", "t", "ta"])
                    pipe.get(day)
                    pipe.get(month)
                out = await pipe.execute()
        except (TimeoutError, RedisError, OSError) as e:
            self._breaker.failed(e)
            return {**state, "source": "local", "keys": {p.name: self._local.view(p) for p in limited}}
        sec, usec = out[0]
        now = sec + usec / 1e6
        keys = {}
        for i, p in enumerate(limited):
            (r, ra, t, ta), day, month = out[1 + 3 * i: 4 + 3 * i]
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
