"""``cache_aware``: send a prompt to the replica whose prefix cache already holds its prefix.

Per request: fingerprint the prompt (:mod:`.fingerprint`), describe each replica as a rule
candidate (health; ``max_running_requests`` and KV capacity from ``/get_server_info``; running +
queued and, for speculative replicas, the acceptance length from ``/metrics``), and let the
affinity store choose, record and lease in one step (:mod:`.affinity`, rule in :mod:`.rule`).

Speculative replicas: decoding pays only while the draft's acceptance stays high, so a
replica's load is weighed by ``mean acceptance of its tier / its acceptance`` (clamped to
[0.5, 2]): one that accepts fewer draft tokens counts as busier.

Feedback when the request ends (:meth:`done`):
- the lease is released;
- the replica reported fewer cached tokens than the store predicted: it evicted more than the
  store assumed, so this proxy shrinks its estimate of the replica's capacity by 10% (the store
  then trims that replica's least recently used entries); correct predictions grow it back
  by 1% up to the nominal size;
- the replica never processed the request (it failed before the first token): the blocks
  recorded for it beyond the prefix the replica already had are forgotten there.
External (litellm) tiers have no prefix cache to aim at: they use least-in-flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import NoHealthyReplica
from ..policy.model import Balance
from ..usage import Usage
from .affinity import AffinityParams, AffinityStore, Choice
from .fingerprint import blocks_for_tokens, fingerprint
from .pick import LeastInFlight, PickRequest, healthy_or_fail
from .pool import Replica
from .redis_affinity import capacity_blocks
from .rule import Candidate, RuleParams


@dataclass(slots=True)
class _Pending:
    scope: str
    replica: str
    blocks: list[str]
    matched: int


class CacheAwarePicker:
    def __init__(self, store: AffinityStore, settings: Callable[[], Balance]) -> None:
        self._store = store
        self._settings = settings
        self._fallback = LeastInFlight()
        self._pending: dict[str, _Pending] = {}  # request id -> what was predicted and leased
        self._capacity_factor: dict[str, float] = {}
        self.reasons: dict[str, int] = {}

    async def pick(self, candidates: Sequence[Replica], request: PickRequest) -> Replica:
        if any(r.kind != "sglang" for r in candidates):
            return await self._fallback.pick(candidates, request)
        healthy_or_fail(candidates, request.tier)
        b = self._settings()
        blocks = fingerprint(request.body, candidates[0].model, block_chars=b.block_chars, max_blocks=b.max_blocks)
        params = AffinityParams(RuleParams(b.match_threshold, b.balance_abs_threshold, b.balance_rel_threshold),
                                b.entry_ttl_s, b.lease_ttl_s)
        choice = await self._store.choose(request.tier, blocks, self._candidates(candidates, b), request.request_id,
                                          params)
        if choice is None:
            raise NoHealthyReplica(f"no healthy replica in tier {request.tier!r}")
        self.reasons[choice.reason] = self.reasons.get(choice.reason, 0) + 1
        self._pending[request.request_id] = _Pending(request.tier, choice.key, blocks, choice.matched)
        return _by_key(candidates, choice)

    async def done(self, replica: Replica, request: PickRequest, usage: Usage | None, *, served: bool) -> None:
        p = self._pending.pop(request.request_id, None)
        if p is None:
            if replica.kind != "sglang":
                await self._fallback.done(replica, request, usage, served=served)
            return
        forget: list[str] = []
        block_chars = self._settings().block_chars
        if not served:
            forget = p.blocks[p.matched:]
        elif usage is not None:
            factor = self._capacity_factor.get(p.replica, 1.0)
            # Tokens per character differ by model; under half the predicted prefix is an eviction.
            if 2 * blocks_for_tokens(usage.cached_tokens, block_chars) < p.matched:
                self._capacity_factor[p.replica] = max(0.1, factor * 0.9)
            else:
                self._capacity_factor[p.replica] = min(1.0, factor * 1.01)
        await self._store.finish(p.scope, p.replica, request.request_id, forget)

    async def run(self) -> None:
        """Renew the leases of requests still running, every third of the lease TTL."""
        while True:
            ttl = self._settings().lease_ttl_s
            await asyncio.sleep(ttl / 3)
            active = [(p.scope, p.replica, rid) for rid, p in self._pending.items()]
            await self._store.renew(active, ttl)

    def _candidates(self, replicas: Sequence[Replica], b: Balance) -> list[Candidate]:
        accepts = [r.state.metric("spec_accept_length") for r in replicas if r.speculative]
        known = [a for a in accepts if a and a > 0]
        mean_accept = sum(known) / len(known) if known else None
        out = []
        for r in replicas:
            st = r.state
            weight = 1.0
            accept = st.metric("spec_accept_length")
            if r.speculative and mean_accept and accept and accept > 0:
                weight = min(2.0, max(0.5, mean_accept / accept))
            cap = capacity_blocks(st.max_total_tokens, b.block_chars)
            cap = int(cap * self._capacity_factor.get(r.key, 1.0)) if cap else 0
            running = st.metric("num_running_reqs") or 0.0
            queued = st.metric("num_queue_reqs") or 0.0
            out.append(Candidate(r.key, st.healthy, _int(st.server_info, "max_running_requests"),
                                 int(running + queued), weight, cap))
        return out


def _by_key(candidates: Sequence[Replica], choice: Choice) -> Replica:
    for r in candidates:
        if r.key == choice.key:
            return r
    raise NoHealthyReplica(f"the affinity store chose an unknown replica {choice.key!r}")


def _int(info: dict[str, object] | None, name: str) -> int:
    v = (info or {}).get(name)
    return v if isinstance(v, int) else 0
