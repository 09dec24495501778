"""Replica choice within a tier, behind one interface; one policy per class.

``LeastInFlight`` — the default:
  1. keep healthy candidates (if none is healthy, fail with 503 ``no_healthy_replica``);
  2. take those with the fewest requests in flight from this proxy;
  3. break ties by rotating through them, so idle replicas share work evenly.

The prefix-cache-affinity policy (shared through Redis) implements the same
:class:`ReplicaPicker` interface; ``PickRequest`` carries what it needs. What a pick holds is
released through :class:`.slot.Slot`, on every exit path of a request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..domain import Replica
from ..errors import NoHealthyReplica
from ..usage import Usage


@dataclass(frozen=True, slots=True)
class PickRequest:
    tier: str
    key: str  # unique per request, made by the proxy (never the client's x-request-id): leases use it
    body: dict[str, Any]  # the request as forwarded (messages / prompt), for affinity policies


class ReplicaPicker(Protocol):
    async def pick(self, candidates: Sequence[Replica], request: PickRequest) -> Replica:
        """Choose one replica (and record what the choice holds) or raise NoHealthyReplica."""
        ...

    def hold(self, replica: Replica, request: PickRequest) -> Awaitable[None] | None:
        """What to wait for before the request is sent (the prefill hold), or None: send now."""
        ...

    def started(self, replica: Replica, request: PickRequest) -> None:
        """The replica sent the request's first token (its prompt is prefilled)."""
        ...

    async def done(self, replica: Replica, request: PickRequest, usage: Usage | None, *, served: bool) -> None:
        """The request ended; ``served`` False: the replica never processed it."""
        ...


def healthy_or_fail(candidates: Sequence[Replica], tier: str) -> list[Replica]:
    healthy = [r for r in candidates if r.state.healthy]
    if not healthy:
        raise NoHealthyReplica(f"no healthy replica in tier {tier!r} "
                               f"({len(candidates)} configured, all failing health checks)")
    return healthy


class LeastInFlight:
    def __init__(self) -> None:
        self._turn = 0

    async def pick(self, candidates: Sequence[Replica], request: PickRequest) -> Replica:
        healthy = healthy_or_fail(candidates, request.tier)
        if len(healthy) == 1:
            return healthy[0]
        low = min(r.state.in_flight for r in healthy)
        best = [r for r in healthy if r.state.in_flight == low]
        self._turn += 1
        return best[self._turn % len(best)]

    def hold(self, replica: Replica, request: PickRequest) -> Awaitable[None] | None:
        return None

    def started(self, replica: Replica, request: PickRequest) -> None:
        return None

    async def done(self, replica: Replica, request: PickRequest, usage: Usage | None, *, served: bool) -> None:
        return None
