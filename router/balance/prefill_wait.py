"""Hold a request whose cached prefix is still being computed on its replica, briefly.

SGLang puts a prompt's prefix in its radix cache when that prompt's prefill ends. A second
request with the same prefix that reaches the replica before then finds nothing cached and
computes the whole prefix again: the replica does the work twice and the second request's first
token comes no sooner (with the default FCFS scheduler both prefills share the GPU). This happens
when a group of requests sharing a long system prompt starts at once.

Rule: when the cache-aware choice sends a request to a replica for the prefix it matched there,
and that prefix's last block was recorded by a request of this proxy that has not produced its
first token yet, wait until it has (or has ended), at most ``cap`` seconds. Then send: the
prefix is cached and only the rest is computed. Each request registers the blocks it brings to
the replica (those past its own match) when it is routed and releases them at its first token
(streams) or when it ends.

The registry is per process. Proxies sharing a Redis do not see each other's prefills in flight;
each still holds its own.

Off by default (``balance.prefill_wait_s: 0``), because the registry is not yet shared through
Redis, so N proxies hold less than one does. Measured with the cache-affinity benchmark
(docs/benchmarks/cache_affinity.md, notes): at 0.5 s, one proxy's hit rate on shared prefixes went
from 0.843 to 0.879 (the workload's upper bound) with 32k tokens of cache per worker, and from
0.664 to 0.687 with 16k (3 runs each).
"""

from __future__ import annotations

import asyncio
import contextlib


class PrefillTracker:
    def __init__(self) -> None:
        self._filling: dict[tuple[str, str], asyncio.Future[None]] = {}  # (replica, block) -> until prefilled
        self._by_request: dict[str, tuple[asyncio.Future[None], list[tuple[str, str]]]] = {}
        self.waits = 0  # requests held
        self.waits_timed_out = 0

    async def wait(self, replica: str, block: str, cap: float) -> None:
        """Until the request prefilling ``block`` on ``replica`` has its first token, at most ``cap`` s."""
        fut = self._filling.get((replica, block))
        if fut is None or fut.done() or cap <= 0:
            return
        self.waits += 1
        try:
            await asyncio.wait_for(asyncio.shield(fut), cap)
        except TimeoutError:
            self.waits_timed_out += 1

    def begin(self, request_id: str, replica: str, blocks: list[str]) -> None:
        """``request_id`` is about to prefill ``blocks`` on ``replica`` (blocks already claimed stay with
        the earlier request)."""
        if not blocks:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        keys = []
        for block in blocks:
            key = (replica, block)
            held = self._filling.get(key)
            if held is None or held.done():
                self._filling[key] = fut
                keys.append(key)
        if keys:
            self._by_request[request_id] = (fut, keys)

    def end(self, request_id: str) -> None:
        """``request_id`` has its first token, or ended: whoever waits on its blocks may go."""
        entry = self._by_request.pop(request_id, None)
        if entry is None:
            return
        fut, keys = entry
        for key in keys:
            if self._filling.get(key) is fut:
                del self._filling[key]
        with contextlib.suppress(asyncio.InvalidStateError):
            fut.set_result(None)

    def in_flight(self) -> int:
        return len(self._by_request)
