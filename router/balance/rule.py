"""The cache-aware choice rule, as a pure function (the Redis store runs the same rule in Lua).

Inputs per candidate replica: health, the longest prefix of this prompt it holds (``match``,
in blocks), requests in flight to it from every proxy (``leases``), what SGLang itself reports
running + queued (``external``), a load ``weight`` (speculative replicas with low acceptance
weigh more), how many blocks it caches (``cached``) and its limits.

1. Eligible: healthy and not full (in flight, or running + queued, below
   ``max_running_requests`` when known). If every healthy replica is full, all healthy ones are
   eligible (the request will queue somewhere); if none is healthy: no choice.
2. load = max(leases, external) × weight.
3. Imbalanced (max load − min load > ``abs_threshold`` and max load > min load ×
   ``rel_threshold``): choose among the least-loaded, preferring the longest match.
4. Otherwise, if the longest match covers at least ``match_threshold`` of the prompt's blocks
   (and at least one block): choose among the replicas with that match the least-loaded.
5. Otherwise: the least-loaded.
Ties go to the replica caching fewer blocks (room for a new prefix), then to the smaller key,
so every proxy breaks them the same way.

Returns the chosen key and why: ``balance``, ``cache`` or ``least_loaded``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    key: str
    healthy: bool = True
    max_running: int = 0  # 0: unknown
    external: int = 0  # running + queued as SGLang reports it
    weight: float = 1.0
    capacity_blocks: int = 0  # 0: unknown (no trimming)


@dataclass(frozen=True, slots=True)
class RuleParams:
    match_threshold: float = 0.3
    abs_threshold: float = 16.0
    rel_threshold: float = 1.5


def load_of(c: Candidate, leases: int) -> float:
    return max(leases, c.external) * c.weight


def choose(candidates: Sequence[Candidate], matches: Mapping[str, int], leases: Mapping[str, int],
           cached: Mapping[str, int], n_blocks: int, params: RuleParams) -> tuple[str, str] | None:
    """The replica to use and why, or None when no candidate is healthy."""
    healthy = [c for c in candidates if c.healthy]
    if not healthy:
        return None
    eligible = [c for c in healthy
                if c.max_running <= 0 or max(leases.get(c.key, 0), c.external) < c.max_running] or healthy
    load = {c.key: load_of(c, leases.get(c.key, 0)) for c in eligible}
    lo, hi = min(load.values()), max(load.values())

    def tie(c: Candidate) -> tuple[int, str]:
        return (cached.get(c.key, 0), c.key)

    if hi - lo > params.abs_threshold and hi > lo * params.rel_threshold:
        least = [c for c in eligible if load[c.key] == lo]
        best = min(least, key=lambda c: (-matches.get(c.key, 0), *tie(c)))
        return best.key, "balance"
    top = max(matches.get(c.key, 0) for c in eligible)
    if top >= 1 and top >= params.match_threshold * n_blocks:
        holders = [c for c in eligible if matches.get(c.key, 0) == top]
        return min(holders, key=lambda c: (load[c.key], *tie(c))).key, "cache"
    return min(eligible, key=lambda c: (load[c.key], *tie(c))).key, "least_loaded"
