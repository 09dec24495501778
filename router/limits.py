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
:class:`router.redis_limits.RedisLimits` keeps it in Redis, so every proxy and worker process
shares one limit per key (one script call per admission and per charge). When Redis fails (a
command times out after the client's timeout, 50 ms; the breaker of :mod:`router.redis_client`
then stops trying for a while), each process enforces the same limits locally with the last
spend totals it saw from Redis, so nothing waits on Redis and no budget starts from zero; spend
charged during the outage counts in that process only.
"""

from __future__ import annotations

import datetime
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from .auth import Principal
from .clock import Clock
from .errors import BudgetExceeded, RateLimited, TierrouteError

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
