"""Replicas per tier, built from the policy: live state that survives reloads, and the route table.

The nouns (:class:`router.domain.Replica`, its :class:`~router.domain.ReplicaState`,
:class:`~router.domain.RouteTable`) live in :mod:`router.domain`. Here: states are kept in a
:class:`ReplicaRegistry` keyed by endpoint identity, so a policy reload that keeps a replica keeps
its health and in-flight count; :func:`build_route_table` snapshots a policy's backends as replicas.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..clock import Clock
from ..domain import Replica, ReplicaState, RouteTable
from ..policy.model import LiteLLMBackend, Policy, SGLangBackend
from .breaker import Breaker


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
