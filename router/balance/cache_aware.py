"""``cache_aware``: send a prompt to the replica whose prefix cache already holds its prefix.

Per request: fingerprint the prompt (:mod:`.fingerprint`), describe each replica as a rule
candidate (health; ``max_running_requests`` and KV capacity from ``/get_server_info``; running +
queued and, for speculative replicas, the acceptance length from ``/metrics``), and let the
affinity store choose, record and lease in one step (:mod:`.affinity`, rule in :mod:`.rule`).

Capacity: a replica's share of the store is trimmed to ``max_total_num_tokens`` converted to
blocks with the characters per token *learned* from its answers (``usage.prompt_tokens`` against
the prompt's length; 4 until known), times ``CAPACITY_SLACK``. The slack is deliberate: a store
entry the replica has already evicted costs one miss, but sends the prefix back to the same
replica, which caches it again; trimming too eagerly scatters a prefix's requests over replicas
that all miss (measured in docs/benchmarks/cache_affinity.md).

Speculative replicas: decoding pays only while the draft's acceptance stays high, so a
replica's load is weighed by ``mean acceptance of its tier / its acceptance`` (clamped to
[0.5, 2]): one that accepts fewer draft tokens counts as busier.

Feedback when the request ends (:meth:`done`, sent to the store in the background so that no
answer waits for it; the decision is the request's only store round trip):
- the lease is released;
- the replica reported under half the cached tokens the store predicted, and the matched
  entry was older than ``PREFILL_GRACE_S`` (younger ones may still be in another request's
  prefill, which SGLang caches only when it ends): the replica evicted that prefix. Its LRU
  evicted everything it used even longer ago too, so those entries are forgotten there;
- the replica never processed the request (it failed before the first token): the blocks
  recorded for it beyond the prefix the replica already had are forgotten there.
Prefill hold (``balance.prefill_wait_s`` > 0; streamed requests only). SGLang caches a prompt's prefix when that
prompt's prefill ends; a request with the same prefix that reaches the replica earlier computes
it again (the replica does the work twice, and the request's first token comes no sooner). So
the store marks the blocks each request brings to its replica as being prefilled until its first
token (or its end, or twice ``prefill_wait_s``); a request whose matched prefix is still marked polls
the mark every ``HOLD_POLL_S`` and is sent when it clears, at most ``prefill_wait_s`` later. With
Redis the marks are shared, so every proxy holds alike.

External (litellm) tiers have no prefix cache to aim at: they use least-in-flight.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ..domain import Replica
from ..errors import NoHealthyReplica
from ..policy.model import Balance
from ..usage import Usage
from .affinity import AffinityParams, AffinityStore, Choice
from .fingerprint import canonical_text, fingerprint_text
from .pick import LeastInFlight, PickRequest, healthy_or_fail
from .rule import Candidate, RuleParams

CAPACITY_SLACK = 2.0
HOLD_POLL_S = 0.01
PREFILL_GRACE_S = 5.0
DEFAULT_CHARS_PER_TOKEN = 4.0


@dataclass(slots=True)
class _Pending:
    scope: str
    replica: str
    blocks: list[str]
    matched: int
    matched_age: float | None  # seconds since the matched entry was last used, at the decision
    matched_stamp: float | None
    chars: int  # the canonical prompt's length
    marked: bool = False  # its new blocks carry prefill marks until its first token
    wait_for: str | None = None  # the matched block another request is still prefilling there (hold until done)


class CacheAwarePicker:
    def __init__(self, store: AffinityStore, settings: Callable[[], Balance]) -> None:
        self._store = store
        self._settings = settings
        self._fallback = LeastInFlight()
        self._pending: dict[str, _Pending] = {}  # PickRequest.key -> what was predicted and leased
        self._chars_per_token: dict[str, float] = {}  # replica key -> learned from its answers
        self.reasons: dict[str, int] = {}
        self.evictions_seen = 0
        self._finishing: set[asyncio.Task[None]] = set()
        self.holds = 0  # requests held for a prefix still being prefilled
        self.holds_timed_out = 0
        self._params_of: tuple[Balance, AffinityParams, AffinityParams] | None = None  # built once per policy

    def _params(self, b: Balance, *, stream: bool) -> AffinityParams:
        """The store's parameters under ``b`` (whole answers, streams: prefill marks outlive a hold)."""
        if self._params_of is None or self._params_of[0] is not b:
            rule = RuleParams(b.match_threshold, b.balance_abs_threshold, b.balance_rel_threshold)
            self._params_of = (b, AffinityParams(rule, b.entry_ttl_s, b.lease_ttl_s, 0.0),
                               AffinityParams(rule, b.entry_ttl_s, b.lease_ttl_s, 2 * b.prefill_wait_s))
        return self._params_of[2] if stream else self._params_of[1]

    async def pick(self, candidates: Sequence[Replica], request: PickRequest) -> Replica:
        if any(r.kind != "sglang" for r in candidates):
            return await self._fallback.pick(candidates, request)
        healthy = healthy_or_fail(candidates, request.tier)
        if len(healthy) == 1:
            return healthy[0]  # nothing to choose: no fingerprint, no store round trip
        b = self._settings()
        text = canonical_text(request.body)
        blocks = fingerprint_text(text, candidates[0].model, block_chars=b.block_chars, max_blocks=b.max_blocks)
        # Prefill marks only for streams: a stream's first token says when its prefill ended; a whole
        # answer would keep its marks (and hold others) until it is complete.
        params = self._params(b, stream=request.body.get("stream") is True)
        choice = await self._store.choose(request.tier, blocks, self._candidates(candidates, b), request.key, params)
        if choice is None:
            raise NoHealthyReplica(f"no healthy replica in tier {request.tier!r}")
        replica = _by_key(candidates, choice)
        self.reasons[choice.reason] = self.reasons.get(choice.reason, 0) + 1
        age = choice.now - choice.matched_stamp if choice.matched_stamp is not None else None
        p = self._pending[request.key] = _Pending(request.tier, choice.key, blocks, choice.matched, age,
                                                  choice.matched_stamp, len(text))
        if params.fill_ttl_s > 0:
            p.marked = choice.matched < len(blocks)
            if choice.filling:
                p.wait_for = blocks[choice.matched - 1]
        return replica

    def hold(self, replica: Replica, request: PickRequest) -> Awaitable[None] | None:
        """The wait until the prefix the request matched is no longer being prefilled there, or None."""
        p = self._pending.get(request.key)
        return None if p is None or p.wait_for is None else self._hold(p.scope, p.replica, p.wait_for)

    async def _hold(self, scope: str, replica: str, block: str) -> None:
        """At most ``prefill_wait_s``; cancelled while held (the client left), its slot releases it."""
        self.holds += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings().prefill_wait_s
        while loop.time() < deadline:
            await asyncio.sleep(HOLD_POLL_S)
            if not await self._store.filling(scope, replica, block):
                return
        self.holds_timed_out += 1

    def started(self, replica: Replica, request: PickRequest) -> None:
        p = self._pending.get(request.key)
        if p is not None and p.marked:
            self._clear_marks(p)

    def _clear_marks(self, p: _Pending) -> None:
        p.marked = False
        task = asyncio.create_task(self._store.filled(p.scope, p.replica, p.blocks[p.matched:]))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def done(self, replica: Replica, request: PickRequest, usage: Usage | None, *, served: bool) -> None:
        p = self._pending.pop(request.key, None)
        if p is not None and p.marked:
            self._clear_marks(p)
        if p is None:
            if replica.kind != "sglang":
                await self._fallback.done(replica, request, usage, served=served)
            return
        if not served:
            self._finish(p, request.key, p.blocks[p.matched:], None)
            return
        older_than = None
        if usage is not None and usage.prompt_tokens > 0:
            learned = self._chars_per_token.get(p.replica, p.chars / usage.prompt_tokens)
            cpt = min(8.0, max(1.5, 0.9 * learned + 0.1 * p.chars / usage.prompt_tokens))
            self._chars_per_token[p.replica] = cpt
            predicted = p.matched * self._settings().block_chars / cpt
            if (p.matched and usage.cached_tokens < 0.5 * predicted and p.matched_age is not None
                    and p.matched_age > PREFILL_GRACE_S):
                older_than = p.matched_stamp  # evicted: so is everything it last used before
                self.evictions_seen += 1
        self._finish(p, request.key, (), older_than)

    def _finish(self, p: _Pending, lease: str, forget: Sequence[str], older_than: float | None) -> None:
        """Release and feed back without waiting: the answer does not wait for the store."""
        self._store.finish_soon(p.scope, p.replica, lease, forget, older_than)

    async def run(self) -> None:
        """Renew the leases of requests still running, every third of the lease TTL."""
        while True:
            ttl = self._settings().lease_ttl_s
            await asyncio.sleep(ttl / 3)
            active = [(p.scope, p.replica, rid) for rid, p in self._pending.items()]
            await self._store.renew(active, ttl)

    def _candidates(self, replicas: Sequence[Replica], b: Balance) -> list[Candidate]:
        mean_accept = None
        if any(r.speculative for r in replicas):
            known = [a for r in replicas if r.speculative and (a := r.state.metric("spec_accept_length")) and a > 0]
            mean_accept = sum(known) / len(known) if known else None
        learned = self._chars_per_token
        out = []
        for r in replicas:
            st = r.state
            metrics = st.metrics
            weight = 1.0
            if mean_accept and r.speculative:
                accept = metrics.get("spec_accept_length")
                if accept and accept > 0:
                    weight = min(2.0, max(0.5, mean_accept / accept))
            cpt = learned.get(r.key, DEFAULT_CHARS_PER_TOKEN)
            cap = capacity_blocks(st.max_total_tokens, b.block_chars, chars_per_token=cpt * CAPACITY_SLACK)
            load = (metrics.get("num_running_reqs") or 0.0) + (metrics.get("num_queue_reqs") or 0.0)
            out.append(Candidate(r.key, st.healthy, _int(st.server_info, "max_running_requests"), int(load), weight,
                                 cap))
        return out


def _by_key(candidates: Sequence[Replica], choice: Choice) -> Replica:
    for r in candidates:
        if r.key == choice.key:
            return r
    raise NoHealthyReplica(f"the affinity store chose an unknown replica {choice.key!r}")


def _int(info: dict[str, object] | None, name: str) -> int:
    v = (info or {}).get(name)
    return v if isinstance(v, int) else 0


def capacity_blocks(max_total_tokens: int | None, block_chars: int, *, chars_per_token: float = 4.0) -> int:
    """Blocks of ``block_chars`` characters that fit a KV cache of ``max_total_tokens`` (0: unknown)."""
    if not max_total_tokens:
        return 0
    return max(1, math.floor(max_total_tokens * chars_per_token / block_chars))
