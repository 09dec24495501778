"""Replicas per tier: identity, live state (health, in-flight, server info) and the route table.

A :class:`Replica` pairs what the policy says about a backend endpoint (frozen) with its live
:class:`ReplicaState`. States are kept in a :class:`ReplicaRegistry` keyed by endpoint identity,
so a policy reload that keeps a replica keeps its health and in-flight count. A
:class:`RouteTable` is an immutable snapshot (policy + replicas per tier) swapped atomically on
reload; a request holds the snapshot it started with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from ..clock import Clock
from ..policy.capabilities import Caps, combine
from ..policy.model import LiteLLMBackend, Policy, Price, SGLangBackend
from .breaker import Breaker

Kind = Literal["sglang", "litellm"]


@dataclass(slots=True)
class ReplicaState:
    """Mutable live state of one endpoint; touched only on the event loop.

    It takes requests (:attr:`healthy`) while its active health checks pass (``checks_ok``, SGLang
    only) and its circuit breaker admits them (:mod:`.breaker`, driven by what requests see)."""

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
    kind: Kind
    model: str
    price: Price
    url: str | None = None  # sglang base URL
    api_base: str | None = None  # litellm
    api_key_env: str | None = None  # the environment variable holding its key (litellm; sglang: --api-key)
    speculative: bool = False
    state: ReplicaState = field(default_factory=ReplicaState, compare=False)


class ReplicaRegistry:
    """Owns every ReplicaState; hands the same state to a replica across policy reloads. Also holds the
    replica URLs found by :mod:`.discovery`, per DNS name and port (:func:`discovery_key`)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._states: dict[str, ReplicaState] = {}
        self._clock = clock
        self.discovered: dict[str, tuple[str, ...]] = {}

    def state(self, key: str, *, checked: bool = True) -> ReplicaState:
        """``checked`` False: a new state takes no request until a health check passes (a discovered replica)."""
        st = self._states.get(key)
        if st is None:
            st = self._states[key] = ReplicaState(checks_ok=checked, breaker=Breaker(self._clock))
        return st

    def retain(self, keys: Iterable[str]) -> None:
        """Forget states of endpoints no longer in the policy (in-flight ones finish on their own)."""
        keep = set(keys)
        for k in [k for k in self._states if k not in keep]:
            del self._states[k]


@dataclass(frozen=True)
class RouteTable:
    policy: Policy
    tiers: dict[str, tuple[Replica, ...]]
    model_names: tuple[str, ...]  # every concrete model a client may ask for

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
        return {t: combine(self.policy.tier(t).capabilities, [r.state.caps for r in reps])
                for t, reps in self.tiers.items()}

    def replica_caps(self, replica: Replica) -> Caps:
        return combine(self.policy.tier(replica.tier).capabilities, [replica.state.caps])


def discovery_key(backend: SGLangBackend) -> str:
    """Where :attr:`ReplicaRegistry.discovered` keeps a discovering backend's URLs."""
    d = backend.discover
    assert d is not None
    return f"{d.scheme}://{d.dns.rstrip('.')}:{d.port}"


def build_route_table(policy: Policy, registry: ReplicaRegistry) -> RouteTable:
    """Snapshot the policy's backends as replicas, reusing live state from ``registry``."""
    tiers: dict[str, tuple[Replica, ...]] = {}
    names: list[str] = []
    for tier in policy.tiers:
        reps: list[Replica] = []
        for b in tier.backends:
            assert b.price is not None, "prices are resolved by the loader"
            names.append(b.model)
            if isinstance(b, SGLangBackend):
                listed = b.replica_urls()
                found = registry.discovered.get(discovery_key(b), ()) if b.discover else ()
                for url in dict.fromkeys([*listed, *found]):
                    key = f"sglang {url} {b.model}"
                    reps.append(Replica(key, f"{tier.name}/{len(reps)}", tier.name, "sglang", b.model, b.price,
                                        url=url, speculative=b.speculative, api_key_env=b.api_key_env,
                                        state=registry.state(key, checked=url in listed)))
            elif isinstance(b, LiteLLMBackend):
                if b.served_name != b.model:
                    names.append(b.served_name)
                api_base = str(b.api_base).rstrip("/") if b.api_base else None
                key = f"litellm {b.model} {api_base or ''}"
                reps.append(Replica(key, f"{tier.name}/{len(reps)}", tier.name, "litellm", b.model, b.price,
                                    api_base=api_base, api_key_env=b.api_key_env, state=registry.state(key)))
        tiers[tier.name] = tuple(reps)
    registry.retain(r.key for reps in tiers.values() for r in reps)
    return RouteTable(policy, tiers, tuple(dict.fromkeys(names)))
