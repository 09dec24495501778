"""The proxy's nouns, shared by the parser, the balancer and the backends.

- :class:`Endpoint`: which OpenAI API a request came in on (chat or legacy completions; the
  Anthropic and Responses surfaces are translated into chat).
- :data:`BackendKind`: how a replica is reached (``sglang`` over HTTP, ``litellm`` for providers).
- :class:`Replica`: what the policy says about one backend endpoint (frozen), paired with its
  live :class:`ReplicaState` (health, in-flight, server info). The states are kept by
  :class:`router.balance.pool.ReplicaRegistry`, so a policy reload that keeps a replica keeps them.
- :class:`RouteTable`: an immutable snapshot (policy + replicas per tier) swapped atomically on
  reload (:func:`router.balance.pool.build_route_table`); a request holds the one it started with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from .balance.breaker import Breaker
from .policy.capabilities import Caps, combine
from .policy.model import Policy, Price

BackendKind = Literal["sglang", "litellm"]


class Endpoint(StrEnum):
    CHAT = "chat"
    COMPLETIONS = "completions"

    @property
    def path(self) -> str:
        return "/v1/chat/completions" if self is Endpoint.CHAT else "/v1/completions"


@dataclass(slots=True)
class ReplicaState:
    """Mutable live state of one endpoint; touched only on the event loop.

    It takes requests (:attr:`healthy`) while its active health checks pass (``checks_ok``, SGLang
    only) and its circuit breaker admits them (:mod:`router.balance.breaker`, driven by what requests see)."""

    checks_ok: bool = True
    breaker: Breaker = field(default_factory=Breaker)
    in_flight: int = 0
    consecutive_failures: int = 0
    last_check: float | None = None
    last_error: str | None = None
    server_info: dict[str, object] | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # from SGLang's /metrics, "sglang:" dropped
    caps: Caps | None = None  # what its model reports it can do (router.policy.capabilities); None: not known yet

    @property
    def healthy(self) -> bool:
        return self.checks_ok and (self.breaker.closed or self.breaker.admits())

    @healthy.setter
    def healthy(self, ok: bool) -> None:  # the health checks' verdict
        self.checks_ok = ok

    def metric(self, name: str) -> float | None:
        return self.metrics.get(name)

    @property
    def max_total_tokens(self) -> int | None:
        v = (self.server_info or {}).get("max_total_num_tokens")
        return v if isinstance(v, int) else None


@dataclass(frozen=True, slots=True)
class Replica:
    key: str  # stable identity across reloads
    id: str  # short display id: "<tier>/<n>"
    tier: str
    kind: BackendKind
    model: str
    price: Price
    url: str | None = None  # sglang base URL
    api_base: str | None = None  # litellm
    api_key_env: str | None = None  # the environment variable holding its key (litellm; sglang: --api-key)
    speculative: bool = False
    state: ReplicaState = field(default_factory=ReplicaState, compare=False)


@dataclass(frozen=True)
class RouteTable:
    policy: Policy
    tiers: dict[str, tuple[Replica, ...]]
    model_names: tuple[str, ...]  # every concrete model a client may ask for
    # combined capabilities, by tier ("tier:<name>") or replica key, with the reports they were combined from
    _caps_memo: dict[str, tuple[tuple[Caps | None, ...], Caps]] = field(
        default_factory=dict, init=False, compare=False, repr=False)

    def candidates(self, tier: str, model: str | None = None) -> tuple[Replica, ...]:
        reps = self.tiers[tier]
        return reps if model is None else tuple(r for r in reps if r.model == model)

    def all_replicas(self) -> Iterable[Replica]:
        for reps in self.tiers.values():
            yield from reps

    def healthy_tiers(self) -> frozenset[str]:
        return frozenset(t for t, reps in self.tiers.items() if any(r.state.healthy for r in reps))

    def capabilities(self) -> dict[str, Caps]:
        """Each tier's capabilities: the policy's declaration over what its replicas report."""
        return {t: self._combined("tier:" + t, t, tuple(r.state.caps for r in reps)) for t, reps in self.tiers.items()}

    def replica_caps(self, replica: Replica) -> Caps:
        return self._combined(replica.key, replica.tier, (replica.state.caps,))

    def _combined(self, name: str, tier: str, reported: tuple[Caps | None, ...]) -> Caps:
        """:func:`combine`, computed again only when a replica's report is another object (reports are
        replaced, never changed: ``Caps`` is frozen) or for a new route table (a reload)."""
        hit = self._caps_memo.get(name)
        if hit is not None and len(hit[0]) == len(reported) \
                and all(a is b for a, b in zip(hit[0], reported, strict=True)):
            return hit[1]
        caps = combine(self.policy.tier(tier).capabilities, reported)
        self._caps_memo[name] = (reported, caps)
        return caps
