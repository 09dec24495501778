"""Replica discovery from DNS: SGLang replicas named by a DNS name (a Kubernetes headless Service).

For every SGLang backend with ``discover: {dns, port, interval_s}`` the name's A/AAAA records are
re-resolved every ``interval_s`` in a background loop, never on a request's path; each address is one
replica at ``scheme://address:port`` (next to the backend's listed ``replicas``, if any). When the set
changes, the addresses go to :attr:`ReplicaRegistry.discovered` and the route table is rebuilt
(``on_change``), then a round of health checks runs at once (``check``):

- an address that appears becomes a replica whose state starts unchecked: it takes no request until
  a health check has passed;
- an address that disappears leaves the table, so no new request picks it, while the requests
  already on it finish (each holds its replica); it is kept in :attr:`ReplicaDiscovery.draining` until
  its last request has ended, then forgotten.

A lookup that fails (timeout, server failure) keeps the last known set: a DNS outage must not empty
a tier. A name that does not exist or has no address is an empty set (in Kubernetes: no ready pod;
a headless Service publishes only ready pods unless ``publishNotReadyAddresses``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Protocol

from ..clock import Clock
from ..domain import Replica, RouteTable
from ..policy.model import Discover, SGLangBackend
from .pool import ReplicaRegistry, discovery_key

log = logging.getLogger("tierroute.discovery")

# getaddrinfo's "no such name" and "no address for it": an empty set, not a failed lookup.
_NO_ADDRESS = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
MAX_SLEEP_S = 1.0  # how soon a policy reload's new `discover` entries are first resolved


class Resolver(Protocol):
    async def resolve(self, name: str) -> list[str]:
        """The name's IPv4 and IPv6 addresses ([] when it has none); raises OSError when the lookup fails."""
        ...


class SystemResolver:
    """The system's resolver (``getaddrinfo`` in a thread: /etc/hosts, then the cluster DNS with the
    pod's search path), as every other lookup of the process."""

    async def resolve(self, name: str) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            if e.errno in _NO_ADDRESS:
                return []
            raise
        return sorted({str(info[4][0]) for info in infos})


def replica_url(spec: Discover, address: str) -> str:
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    return f"{spec.scheme}://{host}:{spec.port}"


class ReplicaDiscovery:
    """Keeps every discovering backend's replicas equal to what its DNS name answers."""

    def __init__(self, table: Callable[[], RouteTable], registry: ReplicaRegistry, on_change: Callable[[], None],
                 check: Callable[[], Awaitable[None]], resolver: Resolver, clock: Clock) -> None:
        self._table = table
        self._registry = registry
        self._on_change = on_change
        self._check = check
        self._resolver = resolver
        self._clock = clock
        self._next_due: dict[str, float] = {}
        self.last_error: dict[str, str] = {}  # per discovery key: why the last lookup failed
        self.draining: dict[str, Replica] = {}  # gone from DNS, requests still in flight
        self.changes = 0

    def specs(self) -> dict[str, Discover]:
        out: dict[str, Discover] = {}
        for tier in self._table().policy.tiers:
            for b in tier.backends:
                if isinstance(b, SGLangBackend) and b.discover is not None:
                    out[discovery_key(b)] = b.discover
        return out

    async def run(self) -> None:
        while True:
            await self.refresh(due_only=True)
            now = self._clock.now()
            wait = min([due - now for due in self._next_due.values()] + [MAX_SLEEP_S])
            await asyncio.sleep(max(wait, 0.01))

    async def refresh(self, *, due_only: bool = False) -> bool:
        """Resolve the (due) names; rebuild the table when an answer changed. Returns whether one did."""
        specs = self.specs()
        now = self._clock.now()
        due = {k: d for k, d in specs.items() if not due_only or self._next_due.get(k, 0.0) <= now}
        answers = await asyncio.gather(*(self._lookup(k, d) for k, d in due.items()))
        found = self._registry.discovered
        changed = False
        for (key, spec), urls in zip(due.items(), answers, strict=True):
            self._next_due[key] = now + spec.interval_s
            if urls is not None and found.get(key) != urls:
                log.info("discovered replicas changed", extra={
                    "dns_name": spec.dns, "added": sorted(set(urls) - set(found.get(key, ()))),
                    "removed": sorted(set(found.get(key, ())) - set(urls))})
                found[key] = urls
                changed = True
        for key in [k for k in found if k not in specs]:  # a reload dropped that `discover`
            del found[key]
            changed = True
        for key in [k for k in self._next_due if k not in specs]:
            del self._next_due[key]
        if changed:
            self._apply()
            await self._check()  # new replicas: checked now, not at the next health round
        self._forget_drained()
        return changed

    async def _lookup(self, key: str, spec: Discover) -> tuple[str, ...] | None:
        try:
            addresses = await self._resolver.resolve(spec.dns)
        except OSError as e:
            if self.last_error.get(key) is None:
                log.warning("replica discovery lookup failed; keeping the last answer",
                            extra={"dns_name": spec.dns, "error": f"{type(e).__name__}: {e}"[:200]})
            self.last_error[key] = f"{type(e).__name__}: {e}"[:200]
            return None
        self.last_error.pop(key, None)
        return tuple(sorted(replica_url(spec, a) for a in addresses))

    def _apply(self) -> None:
        before = {r.key: r for r in self._table().all_replicas()}
        self._on_change()
        after = {r.key for r in self._table().all_replicas()}
        self.changes += 1
        for key in after:  # back before its drain ended: it serves again (under a fresh state)
            self.draining.pop(key, None)
        for key, replica in before.items():
            if key not in after:
                self.draining[key] = replica
                log.info("replica draining", extra={"replica": replica.url, "in_flight": replica.state.in_flight})

    def _forget_drained(self) -> None:
        for key, replica in list(self.draining.items()):
            if replica.state.in_flight <= 0:
                del self.draining[key]
                log.info("replica drained and forgotten", extra={"replica": replica.url})

    def describe(self) -> dict[str, object]:
        return {"names": {k: {"replicas": list(self._registry.discovered.get(k, ())),
                              "last_error": self.last_error.get(k)} for k in self.specs()},
                "draining": {r.url: r.state.in_flight for r in self.draining.values()},
                "changes": self.changes}
