"""Where prefix-cache affinity lives: one interface, an in-memory and a Redis implementation.

A store answers one question per request in one step: given the prompt's chain-hashed blocks
(:mod:`.fingerprint`) and the tier's replicas, which replica should serve it? It finds, per
replica, the longest prefix of blocks it holds and the requests in flight to it (leases), runs
the choice rule (:mod:`.rule`), and records the choice: the blocks now belong to the chosen
replica too, and a lease counts the request against it until ``finish``.

With ``fill_ttl_s`` > 0 the store also marks the blocks a request brings to its replica as
*being prefilled* until the caller reports its first token (:meth:`AffinityStore.filled`) or the
mark expires; :attr:`Choice.filling` tells a later request that the prefix it matched is such a
block, so the caller can hold it briefly (see :mod:`.cache_aware`). Redis shares the marks among
proxies like everything else.

Entries expire: a (block, replica) pair not used for ``entry_ttl_s`` no longer matches
(sliding TTL). Each replica's share is trimmed to the capacity the caller gives (about its KV
capacity), least recently used first, a prefix's deepest blocks before its head, as a radix
LRU evicts leaves first. Leases expire after ``lease_ttl_s`` unless renewed, so a proxy that
dies stops counting against replicas.

In memory, entries are also held to a hard cap whatever the replicas' capacities (unknown until
their server info is read, or never for some): at most ``max_entries`` (block, replica) entries in
all (default :data:`MAX_ENTRIES`), the oldest dropped first, whichever replica holds them; the
same cap bounds each replica's prefill marks. ``describe()`` shows the counts and the cap.

:class:`MemoryAffinity` is the single-process store (and the Redis store's fallback); the
Redis store (:mod:`.redis_affinity`) shares the same state among every proxy replica.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..clock import Clock
from .rule import Candidate, RuleParams, choose, load_of

MAX_ENTRIES = 500_000  # (block, replica) entries in memory, all replicas together: about 85 MB when full


@dataclass(frozen=True, slots=True)
class AffinityParams:
    rule: RuleParams = field(default_factory=RuleParams)
    entry_ttl_s: float = 600.0
    lease_ttl_s: float = 60.0
    fill_ttl_s: float = 0.0  # > 0: mark new blocks as being prefilled for at most this long


@dataclass(frozen=True, slots=True)
class Choice:
    key: str
    reason: str  # cache | balance | least_loaded
    matched: int  # blocks of this prompt the chosen replica holds
    matches: dict[str, int]
    loads: dict[str, float]
    matched_stamp: float | None = None  # when the chosen replica's deepest matched block was last used
    now: float = 0.0  # the store's clock at the decision (stamps are in this clock)
    filling: bool = False  # the deepest matched block is still being prefilled there (fill marks on)


class AffinityStore(Protocol):
    async def choose(self, scope: str, blocks: Sequence[str], candidates: Sequence[Candidate], lease: str,
                     params: AffinityParams) -> Choice | None:
        """Choose, record and lease in one step; None when no candidate is healthy."""
        ...

    async def finish(self, scope: str, replica: str, lease: str, forget: Sequence[str] = (),
                     forget_older_than: float | None = None) -> None:
        """Release the lease. Drop ``forget`` blocks from the replica (it never cached them), and
        with ``forget_older_than`` every entry it last used before that stamp (it evicted them)."""
        ...

    def finish_soon(self, scope: str, replica: str, lease: str, forget: Sequence[str] = (),
                    forget_older_than: float | None = None) -> None:
        """:meth:`finish` without making the caller wait (a request that ended): what is local is done
        at once, what goes to another server is sent in the background."""
        ...

    async def renew(self, leases: Sequence[tuple[str, str, str]], ttl_s: float) -> None:
        """Extend (scope, replica, lease) leases of requests still running."""
        ...

    async def filling(self, scope: str, replica: str, block: str) -> bool:
        """Is ``block`` still marked as being prefilled on ``replica``?"""
        ...

    async def filled(self, scope: str, replica: str, blocks: Sequence[str]) -> None:
        """The request that brought ``blocks`` to ``replica`` has its first token (or ended)."""
        ...

    def describe(self) -> dict[str, Any]:
        """Its state for ``/admin/stats``: sizes and caps (and a Redis store's breaker events)."""
        ...

    async def aclose(self) -> None: ...


class MemoryAffinity:
    """Per (scope, replica): held blocks in least-recently-used order, and leases."""

    def __init__(self, clock: Clock, max_entries: int = MAX_ENTRIES) -> None:
        self._clock = clock
        self.max_entries = max_entries
        self.evicted = 0  # entries dropped by the cap (not by capacity trimming or age)
        self._held: dict[tuple[str, str], OrderedDict[str, float]] = {}  # block -> stamp, oldest first
        self._leases: dict[tuple[str, str], dict[str, float]] = {}  # lease -> expiry
        self._lease_due: dict[tuple[str, str], float] = {}  # no lease there expires before this (a lower bound)
        self._fill: dict[tuple[str, str], dict[str, float]] = {}  # block -> mark's expiry, earliest first

    async def choose(self, scope: str, blocks: Sequence[str], candidates: Sequence[Candidate], lease: str,
                     params: AffinityParams) -> Choice | None:
        now = self._clock.now()
        fresh = now - params.entry_ttl_s
        held: dict[str, OrderedDict[str, float]] = {}
        leases: dict[str, int] = {}
        matches: dict[str, int] = {}
        cached: dict[str, int] = {}
        for c in candidates:
            k = c.key
            mine = held[k] = self._purged(scope, k, fresh)
            leases[k] = self._live_leases(scope, k, now)
            matches[k] = deepest_held(mine, blocks)
            cached[k] = len(mine)
        picked = choose(candidates, matches, leases, cached, len(blocks), params.rule)
        if picked is None:
            return None
        key, reason = picked
        cand = next(c for c in candidates if c.key == key)
        mine = held[key]
        stamp = mine.get(blocks[matches[key] - 1]) if matches[key] else None
        filling = self._mark(scope, key, blocks, matches[key], now, params.fill_ttl_s)
        for i in range(len(blocks), 0, -1):  # deeper blocks a little older: a prefix's tail goes first
            mine[blocks[i - 1]] = now - i * 1e-6
            mine.move_to_end(blocks[i - 1])
        while cand.capacity_blocks > 0 and len(mine) > cand.capacity_blocks:
            mine.popitem(last=False)
        self._cap()
        expiry = now + params.lease_ttl_s
        self._leases.setdefault((scope, key), {})[lease] = expiry
        if expiry < self._lease_due.get((scope, key), math.inf):
            self._lease_due[scope, key] = expiry
        loads = {c.key: load_of(c, leases[c.key]) for c in candidates}
        return Choice(key, reason, matches[key], matches, loads, stamp, now, filling)

    def _mark(self, scope: str, replica: str, blocks: Sequence[str], matched: int, now: float, ttl: float) -> bool:
        """Whether the matched prefix is being prefilled; then mark this prompt's new blocks."""
        if ttl <= 0:
            return False
        marks = self._fill.setdefault((scope, replica), {})
        for b in [b for b, exp in marks.items() if exp <= now]:
            del marks[b]
        filling = matched > 0 and blocks[matched - 1] in marks
        for b in blocks[matched:]:
            marks.setdefault(b, now + ttl)  # an earlier claim stands
        while len(marks) > self.max_entries:  # the same ttl for all: the first is the earliest to expire
            del marks[next(iter(marks))]
        return filling

    def _cap(self) -> None:
        """Drop the oldest entries, whichever replica holds them, down to ``max_entries`` in all."""
        total = sum(len(m) for m in self._held.values())
        while total > self.max_entries:
            oldest = min((m for m in self._held.values() if m), key=lambda m: next(iter(m.values())))
            oldest.popitem(last=False)
            total -= 1
            self.evicted += 1

    def describe(self) -> dict[str, Any]:
        """The store's size against its cap (``/admin/stats``)."""
        return {"store": "memory", "entries": sum(len(m) for m in self._held.values()),
                "max_entries": self.max_entries, "evicted": self.evicted,
                "prefill_marks": sum(len(m) for m in self._fill.values()),
                "leases": sum(len(m) for m in self._leases.values())}

    async def filling(self, scope: str, replica: str, block: str) -> bool:
        exp = self._fill.get((scope, replica), {}).get(block)
        return exp is not None and exp > self._clock.now()

    async def filled(self, scope: str, replica: str, blocks: Sequence[str]) -> None:
        marks = self._fill.get((scope, replica))
        if marks:
            for b in blocks:
                marks.pop(b, None)

    async def finish(self, scope: str, replica: str, lease: str, forget: Sequence[str] = (),
                     forget_older_than: float | None = None) -> None:
        self.finish_soon(scope, replica, lease, forget, forget_older_than)

    def finish_soon(self, scope: str, replica: str, lease: str, forget: Sequence[str] = (),
                    forget_older_than: float | None = None) -> None:
        """All of it at once: nothing here waits."""
        self._leases.get((scope, replica), {}).pop(lease, None)
        mine = self._held.get((scope, replica))
        if mine is None:
            return
        for b in forget:
            mine.pop(b, None)
        if forget_older_than is not None:
            self._purged(scope, replica, forget_older_than)

    async def renew(self, leases: Sequence[tuple[str, str, str]], ttl_s: float) -> None:
        expiry = self._clock.now() + ttl_s
        for scope, replica, lease in leases:
            held = self._leases.get((scope, replica))
            if held is not None and lease in held:
                held[lease] = expiry

    async def aclose(self) -> None:
        return None

    def _purged(self, scope: str, replica: str, fresh: float) -> OrderedDict[str, float]:
        """The replica's held blocks, after dropping those last used before ``fresh``."""
        mine = self._held.setdefault((scope, replica), OrderedDict())
        while mine:
            oldest = next(iter(mine.values()))
            if oldest >= fresh:
                break
            mine.popitem(last=False)
        return mine

    def _live_leases(self, scope: str, replica: str, now: float) -> int:
        """Leases in flight to the replica; expired ones are looked for only once one can have expired."""
        held = self._leases.get((scope, replica))
        if not held:
            return 0
        if now >= self._lease_due.get((scope, replica), math.inf):
            for lease in [k for k, exp in held.items() if exp <= now]:
                del held[lease]
            self._lease_due[scope, replica] = min(held.values(), default=math.inf)
        return len(held)


def deepest_held(held: Mapping[str, float], blocks: Sequence[str]) -> int:
    """1-based index of the deepest block of ``blocks`` in ``held`` (0: none).

    A replica's held blocks of one chain form a prefix (deeper blocks are always stamped older,
    and every removal is by age or drops a tail), so the deepest held block is the match.
    """
    for i in range(len(blocks), 0, -1):
        if blocks[i - 1] in held:
            return i
    return 0
