"""What one request holds on the replica serving it, released once, on every exit path.

A :class:`Slot` is opened (``async with``) by the pipeline where the replica is picked and closed
when the request is over, however it ends: answered, failed, retried elsewhere, cancelled while
held by the prefill hold, or the client hung up before, during or after the response headers.
It holds:

- the replica's in-flight count (this proxy's view of its load);
- the picker's per-request state: the cache-aware pending entry, its lease in the affinity store
  (renewed while the entry exists, so a forgotten one would inflate the replica's load for every
  proxy) and the prefill marks of the blocks it brings;
- the upstream stream, closed so that SGLang stops generating for a client that left.

Pickers key that state by :attr:`PickRequest.key`, which the proxy makes unique per request; a
client's ``x-request-id`` is only echoed, so two requests sending the same one cannot collide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from types import TracebackType
from typing import Protocol

from ..domain import Replica
from ..usage import Usage
from .pick import PickRequest, ReplicaPicker


class Closable(Protocol):
    async def aclose(self) -> None: ...


class Slot:
    __slots__ = ("request", "replica", "served", "usage", "upstream", "_picker")

    def __init__(self, picker: ReplicaPicker, request: PickRequest) -> None:
        self.request = request
        self._picker = picker
        self.replica: Replica | None = None  # set by pick, None again once released
        self.served = False  # the replica processed the request (its answer or first token came)
        self.usage: Usage | None = None  # fed back to the picker
        self.upstream: Closable | None = None  # an open upstream stream

    async def __aenter__(self) -> Slot:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        upstream, self.upstream = self.upstream, None
        try:
            await self.release()
        finally:
            if upstream is not None:
                await upstream.aclose()

    async def pick(self, candidates: Sequence[Replica]) -> Replica:
        """Choose a replica and take its place: in flight, leased, marked; then wait out the prefill
        hold (a request cancelled while held releases like any other)."""
        replica = self.replica = await self._picker.pick(candidates, self.request)
        replica.state.in_flight += 1
        replica.state.breaker.picked(self.request.key)  # on a half-open breaker: this request is the probe
        held = self._picker.hold(replica, self.request)
        if held is not None:
            await held
        return replica

    def move(self, tier: str) -> None:
        """Retry in another tier (after :meth:`release`): the picker keys its state by tier."""
        assert self.replica is None, "release the replica first"
        self.request = replace(self.request, tier=tier)

    def started(self) -> None:
        """The replica sent the first token: its prompt is prefilled (prefill marks can go)."""
        assert self.replica is not None
        self.served = True
        self._picker.started(self.replica, self.request)

    async def release(self) -> None:
        """Give the replica back (before a retry elsewhere, and when the request ends)."""
        replica, self.replica = self.replica, None
        if replica is None:
            return
        replica.state.in_flight -= 1
        replica.state.breaker.released(self.request.key)
        usage, self.usage = self.usage, None
        served, self.served = self.served, False
        await self._picker.done(replica, self.request, usage, served=served)
