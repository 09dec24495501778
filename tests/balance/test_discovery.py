"""Replica discovery from DNS (router/balance/discovery.py) against a real DNS server on loopback.

A dnslib server answers A/AAAA queries from a zone the test changes while it runs; the proxy resolves
through dnspython pointed at it (real queries over UDP; the production resolver is the system's
getaddrinfo, checked against `localhost`). Under continuous load replicas are added (one of them not
up yet: health-checked before it takes traffic), removed (drained, then stopped) and the DNS server
goes away (the last answer is kept) -- with upstream retries off, so any request sent to a replica
that cannot serve it would fail: the count of failed requests must be zero.
"""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.resolver
import httpx
import pytest
from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from classifiers.fake import ConstantClassifier
from fleet.sim import worker
from router.app import create_app
from router.balance.discovery import SystemResolver, replica_url
from router.errors import PolicyError
from router.policy.loader import load_policy
from router.policy.model import Discover
from router.procs import free_port
from router.settings import Settings
from tests.support import ServerThread, policy_dict, write_policy

NAME = "sglang-small.tierroute.svc.cluster.local"
KEY, ADMIN = "sk-disc", "sk-disc-admin"
ENV = {"TIERROUTE_API_KEYS": KEY, "TIERROUTE_ADMIN_KEY": ADMIN}
FAST: dict[str, Any] = dict(ttft_ms=5.0, prefill_tokens_per_s=1e6, decode_tokens_per_s=2000.0)


class Zone(BaseResolver):  # type: ignore[misc]
    """What the DNS server answers: name -> addresses (IPv4 and IPv6); an absent name is NXDOMAIN."""

    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self.queries = 0

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        self.queries += 1
        reply = request.reply()
        qname = request.q.qname
        addresses = self.records.get(str(qname).rstrip("."))
        if addresses is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for a in addresses:
            if ":" in a and request.q.qtype == QTYPE.AAAA:
                reply.add_answer(RR(qname, QTYPE.AAAA, rdata=AAAA(a), ttl=1))
            elif ":" not in a and request.q.qtype == QTYPE.A:
                reply.add_answer(RR(qname, QTYPE.A, rdata=A(a), ttl=1))
        return reply


class LocalDns:
    """The test's resolver: dnspython asking the local server (A and AAAA), as the proxy's Resolver."""

    def __init__(self, port: int) -> None:
        self._r = dns.asyncresolver.Resolver(configure=False)
        self._r.nameservers = ["127.0.0.1"]
        self._r.port = port
        self._r.lifetime = 1.0

    async def resolve(self, name: str) -> list[str]:
        out: list[str] = []
        for rdtype in ("A", "AAAA"):
            try:
                answer = await self._r.resolve(name, rdtype, search=False)
            except dns.resolver.NXDOMAIN:
                return []
            except dns.resolver.NoAnswer:
                continue
            except dns.exception.DNSException as e:
                raise OSError(f"{type(e).__name__}: {e}") from e
            out += [r.address for r in answer]
        return sorted(out)


class DnsServer:
    def __init__(self, zone: Zone) -> None:
        self.port = free_port()
        self._server = DNSServer(zone, address="127.0.0.1", port=self.port, logger=DNSLogger(logf=lambda *a: None))

    def __enter__(self) -> DnsServer:
        self._server.start_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._server.isAlive():
            self._server.stop()
            self._server.server.server_close()


def _worker_at(host: str, port: int) -> ServerThread:
    t = ServerThread(worker.create_app(worker.WorkerConfig(model="sim-small", **FAST)), port=port)
    t.server.config.host = host
    return t


def _served(host: str, port: int) -> int:
    stats = httpx.get(f"http://{host}:{port}/sim/stats", timeout=5).json()
    return int(stats["requests"])


# ---------------------------------------------------------------------------------------------------


def test_local_dns_answers_change_and_resolvers_read_them() -> None:
    zone = Zone()
    with DnsServer(zone) as server:
        r = LocalDns(server.port)
        zone.records[NAME] = ["10.0.0.2", "10.0.0.1", "fd00::7"]
        assert asyncio.run(r.resolve(NAME)) == ["10.0.0.1", "10.0.0.2", "fd00::7"]
        zone.records[NAME] = ["10.0.0.3"]
        assert asyncio.run(r.resolve(NAME)) == ["10.0.0.3"]
        zone.records[NAME] = []
        assert asyncio.run(r.resolve(NAME)) == []  # the name, no address (no ready pod)
        assert asyncio.run(r.resolve("nothing.example.test")) == []  # NXDOMAIN
        server.stop()
        with pytest.raises(OSError):  # a lookup that fails is not "no replicas"
            asyncio.run(r.resolve(NAME))
    assert "127.0.0.1" in asyncio.run(SystemResolver().resolve("localhost"))


def test_replica_urls_bracket_ipv6() -> None:
    spec = Discover(dns=NAME, port=30000)
    assert replica_url(spec, "10.1.2.3") == "http://10.1.2.3:30000"
    assert replica_url(spec, "fd00::7") == "http://[fd00::7]:30000"


def test_policy_takes_discover_next_to_or_instead_of_replicas(tmp_path: Path) -> None:
    pol = policy_dict(small=["http://127.0.0.1:1"])
    pol["tiers"][0]["backends"][0]["discover"] = {"dns": NAME, "port": 30000, "interval_s": 10}
    load_policy(write_policy(tmp_path / "both.yaml", pol))
    del pol["tiers"][0]["backends"][0]["replicas"]
    loaded = load_policy(write_policy(tmp_path / "dns.yaml", pol))
    b = loaded.policy.tiers[0].backends[0]
    assert b.kind == "sglang" and b.discover is not None and b.discover.interval_s == 10
    del pol["tiers"][0]["backends"][0]["discover"]
    with pytest.raises(PolicyError, match="replicas"):
        load_policy(write_policy(tmp_path / "none.yaml", pol))
    pol["tiers"][0]["backends"][0]["discover"] = {"dns": "bad name!", "port": 30000}
    with pytest.raises(PolicyError):
        load_policy(write_policy(tmp_path / "bad.yaml", pol))


class Load:
    """Client threads sending requests without pause; counts answers and failures."""

    def __init__(self, base: str, threads: int = 6) -> None:
        self.base, self.ok, self.failures = base, 0, []  # type: ignore[var-annotated]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {KEY}"}, timeout=20) as c:
            i = 0
            while not self._stop.is_set():
                i += 1
                body = {"model": "sim-small", "max_tokens": 4,
                        "messages": [{"role": "user", "content": f"client {n} question {i}"}]}
                try:
                    r = c.post("/v1/chat/completions", json=body)
                    failed = None if r.status_code == 200 else f"HTTP {r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as e:
                    failed = f"{type(e).__name__}: {e}"
                with self._lock:
                    if failed is None:
                        self.ok += 1
                    else:
                        self.failures.append(failed)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)


def _wait(pred: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.05)


def test_replicas_added_and_removed_through_dns_under_load_without_a_failed_request(tmp_path: Path) -> None:
    port = free_port()
    zone = Zone()
    zone.records[NAME] = ["127.0.0.1"]
    pol = policy_dict(small=[])
    pol["tiers"][0]["backends"][0] = {"kind": "sglang", "model": "sim-small",
                                      "discover": {"dns": NAME, "port": port, "interval_s": 0.2}}
    pol["upstream"]["retries"] = 0  # a request sent to a replica that cannot serve it fails: nothing hides it
    path = write_policy(tmp_path / "policy.yaml", pol)
    urls = {i: f"http://127.0.0.{i}:{port}" for i in (1, 2, 3)}
    with ExitStack() as stack:
        dns_server = stack.enter_context(DnsServer(zone))
        w1 = stack.enter_context(_worker_at("127.0.0.1", port))
        w2 = stack.enter_context(_worker_at("127.0.0.2", port))
        w3 = _worker_at("127.0.0.3", port)
        app = create_app(Settings(policy_path=str(path)), classifier=ConstantClassifier(0.1), env=ENV,
                         resolver=LocalDns(dns_server.port))
        proxy = stack.enter_context(ServerThread(app))
        admin = httpx.Client(base_url=proxy.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)

        def discovery() -> dict[str, Any]:
            return admin.get("/admin/stats").json()["discovery"]

        def replicas() -> dict[str, dict[str, Any]]:
            return {v["url"]: v for v in admin.get("/admin/stats").json()["replicas"].values() if v.get("url")}

        assert admin.get("/ready").status_code == 200
        assert set(replicas()) == {urls[1]}  # resolved before the first health round: ready at once
        with Load(proxy.url) as load:
            _wait(lambda: load.ok >= 20, "traffic on the first replica")
            # 1. A replica appears (and is up): it is checked, then takes traffic.
            zone.records[NAME] = ["127.0.0.1", "127.0.0.2"]
            _wait(lambda: _served("127.0.0.2", port) >= 5, "the second replica taking traffic")
            # 2. One appears that is not serving yet: checked first, it never takes a request.
            zone.records[NAME] = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
            _wait(lambda: urls[3] in replicas(), "the third replica in the table")
            time.sleep(1.0)  # five discovery rounds and health rounds, under load
            assert replicas()[urls[3]]["healthy"] is False
            stack.enter_context(w3)  # it comes up: the next health check admits it
            _wait(lambda: _served("127.0.0.3", port) >= 5, "the third replica taking traffic")
            # 3. One disappears: no new request, the in-flight ones finish, then it is forgotten and stops.
            zone.records[NAME] = ["127.0.0.2", "127.0.0.3"]
            _wait(lambda: urls[1] not in replicas() and urls[1] not in discovery()["draining"],
                  "the first replica drained and forgotten")
            before = _served("127.0.0.1", port)
            time.sleep(0.5)
            assert _served("127.0.0.1", port) == before, "a removed replica got new requests"
            w1.__exit__(None, None, None)  # the pod terminates
            # 4. The DNS server goes away: lookups fail, the last answer keeps serving.
            dns_server.stop()
            _wait(lambda: discovery()["names"][f"http://{NAME}:{port}"]["last_error"] is not None,
                  "a failed lookup")
            served = load.ok
            _wait(lambda: load.ok >= served + 50, "traffic while DNS is down")
            assert set(replicas()) == {urls[2], urls[3]}
        assert w2 and load.ok > 200
        total = load.ok + len(load.failures)
        assert load.failures == [], f"{len(load.failures)} failed of {total}: {load.failures[:5]}"
        assert zone.queries > 10
        admin.close()
