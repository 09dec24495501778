"""Where prefix-cache affinity lives: one interface, an in-memory and a Redis implementation.

A store answers one question per request in one step: given the prompt's chain-hashed blocks
(:mod:`.fingerprint`) and the tier's replicas, which replica should serve it? It finds, per
replica, the longest prefix of blocks it holds and the requests in flight to it (leases), runs
the choice rule (:mod:`.rule`), and records the choice: the blocks now belong to the chosen
replica too, and a lease counts the request against it until ``finish``.

Entries expire: a (block, replica) pair not used for ``entry_ttl_s`` no longer matches
(sliding TTL). Each replica's share is trimmed to about its KV capacity
(``max_total_num_tokens`` / tokens per block), least recently used first. Leases expire after
``lease_ttl_s`` unless renewed, so a proxy that dies stops counting against replicas.

:class:`MemoryAffinity` is the single-process store (and the Redis store's fallback); the
Redis store (:mod:`.redis_affinity`) shares the same state among every proxy replica.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..clock import Clock
from .rule import Candidate, RuleParams, choose, load_of


@dataclass(frozen=True, slots=True)
class AffinityParams:
    rule: RuleParams = field(default_factory=RuleParams)
    entry_ttl_s: float = 600.0
    lease_ttl_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Choice:
    key: str
    reason: str  # cache | balance | least_loaded | fallback
    matched: int  # blocks of this prompt the chosen replica holds
    matches: dict[str, int]
    loads: dict[str, float]


class AffinityStore(Protocol):
    async def choose(self, scope: str, blocks: Sequence[str], candidates: Sequence[Candidate], lease: str,
                     params: AffinityParams) -> Choice | None:
        """Choose, record and lease in one step; None when no candidate is healthy."""
        ...

    async def finish(self, scope: str, replica: str, lease: str, forget: Sequence[str]) -> None:
        """Release the lease; drop ``forget`` blocks from the replica (it evicted them)."""
        ...

    async def renew(self, leases: Sequence[tuple[str, str, str]], ttl_s: float) -> None:
        """Extend (scope, replica, lease) leases of requests still running."""
        ...

    async def aclose(self) -> None: ...


class MemoryAffinity:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._holders: dict[tuple[str, str], dict[str, float]] = {}  # (scope, block) -> replica -> last use
        self._lru: dict[tuple[str, str], OrderedDict[str, float]] = {}  # (scope, replica) -> block -> last use
        self._leases: dict[tuple[str, str], dict[str, float]] = {}  # (scope, replica) -> lease -> expiry

    async def choose(self, scope: str, blocks: Sequence[str], candidates: Sequence[Candidate], lease: str,
                     params: AffinityParams) -> Choice | None:
        now = self._clock.now()
        keys = [c.key for c in candidates]
        cached = {k: self._purge_lru(scope, k, now - params.entry_ttl_s) for k in keys}
        leases = {k: self._live_leases(scope, k, now) for k in keys}
        matches = self._matches(scope, blocks, keys, now - params.entry_ttl_s)
        picked = choose(candidates, matches, leases, cached, len(blocks), params.rule)
        if picked is None:
            return None
        key, reason = picked
        cand = next(c for c in candidates if c.key == key)
        self._record(scope, blocks, cand, now)
        self._leases.setdefault((scope, key), {})[lease] = now + params.lease_ttl_s
        loads = {c.key: load_of(c, leases[c.key]) for c in candidates}
        return Choice(key, reason, matches.get(key, 0), {k: matches.get(k, 0) for k in keys}, loads)

    async def finish(self, scope: str, replica: str, lease: str, forget: Sequence[str]) -> None:
        self._leases.get((scope, replica), {}).pop(lease, None)
        lru = self._lru.get((scope, replica))
        for b in forget:
            holders = self._holders.get((scope, b))
            if holders is not None:
                holders.pop(replica, None)
            if lru is not None:
                lru.pop(b, None)

    async def renew(self, leases: Sequence[tuple[str, str, str]], ttl_s: float) -> None:
        expiry = self._clock.now() + ttl_s
        for scope, replica, lease in leases:
            held = self._leases.get((scope, replica))
            if held is not None and lease in held:
                held[lease] = expiry

    async def aclose(self) -> None:
        return None

    def _matches(self, scope: str, blocks: Sequence[str], keys: list[str], fresh_after: float) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in range(len(blocks), 0, -1):  # the deepest block held wins: its hash stands for the prefix
            holders = self._holders.get((scope, blocks[i - 1]))
            if not holders:
                continue
            for k in keys:
                if k not in out and holders.get(k, -1.0) >= fresh_after:
                    out[k] = i
            if len(out) == len(keys):
                break
        return out

    def _record(self, scope: str, blocks: Sequence[str], cand: Candidate, now: float) -> None:
        lru = self._lru.setdefault((scope, cand.key), OrderedDict())
        for i in range(len(blocks), 0, -1):  # deeper blocks a little older: trimming drops a prefix's tail first
            b, stamp = blocks[i - 1], now - i * 1e-6
            self._holders.setdefault((scope, b), {})[cand.key] = stamp
            lru[b] = stamp
            lru.move_to_end(b)
        while cand.capacity_blocks > 0 and len(lru) > cand.capacity_blocks:
            old, _ = lru.popitem(last=False)
            holders = self._holders.get((scope, old))
            if holders is not None:
                holders.pop(cand.key, None)
                if not holders:
                    del self._holders[(scope, old)]

    def _purge_lru(self, scope: str, replica: str, fresh_after: float) -> int:
        lru = self._lru.get((scope, replica))
        if lru is None:
            return 0
        while lru:
            b, ts = next(iter(lru.items()))
            if ts >= fresh_after:
                break
            lru.popitem(last=False)
            holders = self._holders.get((scope, b))
            if holders is not None and holders.get(replica) == ts:
                del holders[replica]
                if not holders:
                    del self._holders[(scope, b)]
        return len(lru)

    def _live_leases(self, scope: str, replica: str, now: float) -> int:
        held = self._leases.get((scope, replica))
        if not held:
            return 0
        for lease in [k for k, exp in held.items() if exp <= now]:
            del held[lease]
        return len(held)
