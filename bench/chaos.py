"""``make chaos``: the proxy under faults, fuzzing and a soak, on the path users run (issue 10, point 8).

One fleet on loopback: a Redis, two proxies (``tierroute serve``) sharing it, a ``small`` and a
``large`` SGLang tier of two simulated replicas each (``balance.policy: cache_aware``), and a
``frontier`` tier reached through litellm (``tierroute fake-provider``). Traffic is
``model: auto`` throughout, so the classifier, the conversation store and the affinity store
are all on the path.

1. **Phases** under steady load through both proxies (a closed loop of ``--concurrency``
   clients; half streamed, half conversations with a session header): baseline; kill one small
   replica (SIGKILL); restart it; kill Redis; restart it; a replica that hangs after its
   headers; a replica that sends malformed SSE; the litellm provider answering 429, then 500;
   a policy reload mid-load (a valid change, then an invalid file, then the original back).
   A request fails when the client sees anything but a complete answer: a non-200 status, a
   body that is not a completion, a stream without ``data: [DONE]`` or with an error event, a
   timeout. Each request counts in the phase it started in.
2. **Fuzzing** (:mod:`chaos_fuzz`): requests generated with hypothesis from
   ``docs/openapi.yaml`` (bodies that follow the schemas, bodies that break them, arbitrary
   headers and keys), plus hand-written hostile cases; every 5xx counts.
3. **Soak**: ``--soak-requests`` ``auto`` requests with distinct prompts and conversations;
   the proxies' RSS (their process groups) after a warm-up and at the end. The policy caps the
   requests remembered for feedback at :data:`REMEMBERED` so the warm-up fills that cache.

After the phases and after the soak, once the load stopped and a lease's TTL passed: requests
still in flight at each proxy (``/admin/stats``) and leases still alive in Redis (a lease
outlives its TTL only when a proxy keeps renewing it for a request that ended).

Writes ``docs/benchmarks/chaos.json`` (``--out``) and prints a summary; ``--md`` also writes
the Markdown report. Exit status 1 when a target is missed (a client-visible failure in a
replica or Redis phase, a 5xx from fuzzing, a leak, RSS growth of 5 % or more).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
for _p in (_HERE, _HERE.parent):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import aiohttp  # noqa: E402
import httpx  # noqa: E402
import redis  # noqa: E402
import yaml  # noqa: E402
from cache_affinity_procs import Procs, install_signal_handlers, start_redis  # noqa: E402
from chaos_fuzz import fuzz  # noqa: E402
from loadgen import check_stream  # noqa: E402

from router.balance.redis_affinity import REDIS_EPOCH  # noqa: E402
from router.procs import tierroute_cmd  # noqa: E402

CLIENT_KEY = "sk-chaos-client"
ADMIN_KEY = "sk-chaos-admin"
PROVIDER_KEY = "sk-chaos-provider"
LEASE_TTL_S = 3.0
READ_TIMEOUT_S = 2.0  # a replica silent this long after its headers is given up on (and retried)
CLIENT_TIMEOUT_S = 30.0
# Phases where another healthy replica or tier exists throughout: the target is 0 failures.
MUST_NOT_FAIL = ("baseline", "kill_replica", "restart_replica", "kill_redis", "restart_redis", "hang_after_headers",
                 "malformed_sse", "provider_429_500", "policy_reload")
PHASES = MUST_NOT_FAIL
RSS_TARGET_PCT = 5.0
# Requests each proxy remembers for feedback (~1.1 KB each; the default is 100,000): small enough
# that the soak's warm-up fills it, so RSS growth after it shows leaks, not a cache filling up.
REMEMBERED = 5_000
WORDS = (
    'alpha', 'bravo', 'cargo', 'delta', 'engine', 'fabric', 'garden', 'harbor', 'island', 'jungle', 'kernel',
    'ladder', 'market', 'nectar', 'orbit', 'planet', 'quartz', 'river', 'signal', 'timber', 'umbrella', 'valley',
    'window', 'yellow', 'zenith', 'account', 'balance', 'circuit', 'density', 'element', 'formula', 'gradient',
    'hydrogen', 'integral', 'journal', 'keyboard', 'lattice', 'momentum', 'neutron', 'operator', 'particle',
    'quantum', 'reactor', 'spectrum', 'theorem', 'uniform', 'vector', 'wavelength',
)
SYSTEMS = [f"You are assistant number {i} of a {kind} company. Answer briefly and precisely. " * 12
           for i, kind in enumerate(("shipping", "insurance", "software", "travel", "energy", "retail", "bank",
                                     "hospital", "school", "museum", "airline", "garage"))]


def policy_doc(ports: dict[str, int], labels: Path, *, match_threshold: float = 0.3) -> dict[str, Any]:
    def reps(*names: str) -> list[str]:
        return [f"http://127.0.0.1:{ports[n]}" for n in names]

    return {
        "version": 1,
        "tiers": [
            {"name": "small", "context_tokens": 32768, "price": {"input_per_mtok": 0.04, "output_per_mtok": 0.12},
             "backends": [{"kind": "sglang", "model": "sim-small", "replicas": reps("small0", "small1")}]},
            {"name": "large", "context_tokens": 131072, "price": {"input_per_mtok": 0.35, "output_per_mtok": 0.9},
             "backends": [{"kind": "sglang", "model": "sim-large", "speculative": True,
                           "replicas": reps("large0", "large1")}]},
            {"name": "frontier", "context_tokens": 200000,
             "backends": [{"kind": "litellm", "model": "anthropic/claude-sonnet-4-20250514",
                           "api_base": f"http://127.0.0.1:{ports['provider']}", "api_key_env": "CHAOS_PROVIDER_KEY",
                           "price": {"input_per_mtok": 3.0, "output_per_mtok": 15.0}}]},
        ],
        "routing": {"auto": [{"tier": "small", "share": 0.5}, {"tier": "large", "share": 0.35},
                             {"tier": "frontier", "share": 0.15}],
                    "min_samples": 16, "on_unhealthy": "up"},
        "balance": {"policy": "cache_aware", "match_threshold": match_threshold, "lease_ttl_s": LEASE_TTL_S,
                    "prefill_wait_s": 0.2},
        "health": {"interval_s": 0.5, "timeout_s": 1.0, "unhealthy_after": 2},
        "breaker": {"failures": 3, "window_s": 10, "open_s": 2},
        "upstream": {"connect_timeout_s": 1.0, "read_timeout_s": READ_TIMEOUT_S, "retries": 2},
        "learning": {"labels": {"path": str(labels)}, "feedback": {"max_remembered": REMEMBERED}},
    }


# -- the fleet -------------------------------------------------------------------------------------

SIM = ["--ttft-ms", "5", "--prefill-tps", "400000", "--decode-tps", "4000", "--min-output-tokens", "4",
       "--max-output-tokens", "16", "--max-running-requests", "64", "--max-total-tokens", "200000"]
WORKERS = {"small0": ["--model", "sim-small"], "small1": ["--model", "sim-small"],
           "large0": ["--model", "sim-large", "--speculative"], "large1": ["--model", "sim-large", "--speculative"]}


class Fleet:
    def __init__(self, procs: Procs, work: Path) -> None:
        self.procs, self.work = procs, work
        self.policy_path = work / "policy.yaml"
        self.labels = work / "labels.jsonl"
        self.ports: dict[str, int] = {}
        self.redis_url = ""

    # start / stop -------------------------------------------------------------------------------

    def start(self) -> None:
        p = self.procs
        self.redis_url = start_redis(p)
        self.ports["redis"] = int(self.redis_url.rsplit(":", 1)[1].split("/")[0])
        for name, args in WORKERS.items():
            p.start_http(name, lambda port, a=args: tierroute_cmd("sim-worker", "--port", str(port), *SIM, *a),
                         "/health")
        p.start_http("provider", lambda port: tierroute_cmd("fake-provider", "--port", str(port), "--api-key",
                                                             PROVIDER_KEY, "--latency-ms", "5", "--tokens-per-s", "0"),
                     "/v1/models")
        p.wait_ready([*WORKERS, "provider"])
        self.ports.update({n: p.port(n) for n in (*WORKERS, "provider")})
        self.write_policy(policy_doc(self.ports, self.labels))
        env = {"TIERROUTE_API_KEYS": CLIENT_KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY,
               "CHAOS_PROVIDER_KEY": PROVIDER_KEY}
        for name in ("proxy0", "proxy1"):
            p.start_http(name, lambda port: tierroute_cmd("serve", "--policy", str(self.policy_path), "--port",
                                                          str(port), "--redis-url", self.redis_url,
                                                          "--log-level", "warning"), "/ready", env=env)
        p.wait_ready(["proxy0", "proxy1"], timeout=180)
        self.ports.update({n: p.port(n) for n in ("proxy0", "proxy1")})

    def write_policy(self, doc: dict[str, Any] | str) -> None:
        text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False)
        tmp = self.policy_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.policy_path)  # the watcher never sees half a file

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def proxies(self) -> list[str]:
        return [self.url("proxy0"), self.url("proxy1")]

    def kill(self, name: str) -> None:
        """SIGKILL, no goodbye (a crashed replica or Redis)."""
        proc = self.procs._procs[name]  # noqa: SLF001 - the benchmark's own child
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        self.procs.stop([name], grace=0.1)

    def restart_worker(self, name: str) -> None:
        port = self.ports[name]
        self.procs.start(name, tierroute_cmd("sim-worker", "--port", str(port), *SIM, *WORKERS[name]))
        self._wait_ok(f"{self.url(name)}/health", name)

    def restart_redis(self) -> None:
        start_redis(self.procs, port=self.ports["redis"])

    def _wait_ok(self, url: str, name: str, timeout: float = 30) -> None:
        self.procs_wait(lambda: _ok(url), timeout, f"{name} to answer {url}")

    def procs_wait(self, pred: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:.0f} s for {what}")
            time.sleep(0.1)

    # what the proxies say -----------------------------------------------------------------------

    def admin(self, proxy: str, path: str) -> dict[str, Any]:
        r = httpx.get(proxy + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10)
        r.raise_for_status()
        return dict(r.json())

    def healthy_everywhere(self, replica_url: str) -> bool:
        try:
            return all(any(r["url"] == replica_url and r["healthy"] for r in self.admin(p, "/admin/stats")
                           ["replicas"].values()) for p in self.proxies)
        except httpx.HTTPError:
            return False

    def in_flight(self) -> dict[str, int]:
        return {p: sum(int(r["in_flight"]) for r in self.admin(p, "/admin/stats")["replicas"].values())
                for p in self.proxies}

    def live_leases(self) -> int:
        """Lease entries in Redis whose expiry is still ahead (the affinity script's clock)."""
        client = redis.Redis.from_url(self.redis_url)
        try:
            secs, micros = client.time()
            now = (secs - REDIS_EPOCH) * 1_000_000 + micros
            return sum(int(client.zcount(k, f"({now}", "+inf")) for k in client.scan_iter("tierroute:*:lease:*"))
        finally:
            client.close()

    def bounds(self) -> dict[str, Any]:
        """What grows with traffic, size against cap, at each proxy (``/admin/stats`` → ``bounds``)."""
        return {n: self.admin(self.url(n), "/admin/stats").get("bounds") for n in ("proxy0", "proxy1")}

    def rss_kb(self, name: str) -> int:
        """Resident memory of a proxy's process group (the server and any children), in kB."""
        return group_rss_kb(self.procs._procs[name].pid)  # noqa: SLF001


def group_rss_kb(pgid: int) -> int:
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getpgid(int(pid)) != pgid:
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# -- the load --------------------------------------------------------------------------------------

@dataclass
class Tally:
    requests: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    tiers: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[str]] = field(default_factory=dict)

    def fail(self, phase: str, why: str) -> None:
        self.failures[phase] += 1
        kept = self.samples.setdefault(phase, [])
        if len(kept) < 5:
            kept.append(why[:300])


class Conversations:
    """Live conversations: each a system prompt shared with others, then turns of distinct text."""

    def __init__(self, rng: random.Random, live: int = 64, max_turns: int = 5) -> None:
        self.rng, self.live, self.max_turns = rng, live, max_turns
        self.started = 0
        self._pool: list[dict[str, Any]] = []

    def _words(self, n: int) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(n))

    def next(self) -> dict[str, Any]:
        """A conversation to send the next turn of (taken out of the pool until :meth:`done`)."""
        if len(self._pool) < self.live or self.rng.random() < 0.1:
            self.started += 1
            conv = {"id": f"c{self.started}-{self.rng.getrandbits(32):08x}", "session": self.rng.random() < 0.5,
                    "messages": [{"role": "system", "content": self.rng.choice(SYSTEMS)}], "turns": 0}
        else:
            conv = self._pool.pop(self.rng.randrange(len(self._pool)))
        hard = self.rng.random() < 0.3
        ask = ("Prove carefully, step by step, and discuss the edge cases: " if hard else "Briefly: ")
        conv["messages"].append({"role": "user", "content": f"{ask}{self._words(self.rng.randint(4, 40))} "
                                                            f"({conv['id']} turn {conv['turns']})"})
        return conv

    def done(self, conv: dict[str, Any], answer: str) -> None:
        conv["messages"].append({"role": "assistant", "content": answer or "ok"})
        conv["turns"] += 1
        if conv["turns"] < self.max_turns:
            self._pool.append(conv)


class Load:
    """A closed loop of ``concurrency`` clients sending ``auto`` chat requests to both proxies."""

    def __init__(self, proxies: list[str], concurrency: int, seed: int) -> None:
        self.proxies, self.concurrency = proxies, concurrency
        self.rng = random.Random(seed)
        self.convs = Conversations(self.rng)
        self.tally = Tally()
        self.phase = "warmup"
        self.limit: int | None = None  # stop after this many requests (None: until stop())
        self.sent = 0
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as s:
            await asyncio.gather(*(self._client(s, i) for i in range(self.concurrency)))

    async def _client(self, s: aiohttp.ClientSession, i: int) -> None:
        while not self._stop.is_set() and (self.limit is None or self.sent < self.limit):
            self.sent += 1
            await self.one(s, self.proxies[self.sent % len(self.proxies)])

    async def one(self, s: aiohttp.ClientSession, proxy: str) -> None:
        phase = self.phase
        conv = self.convs.next()
        stream = self.rng.random() < 0.5
        body: dict[str, Any] = {"model": "auto", "messages": conv["messages"], "max_tokens": 16, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
        if conv["session"]:
            headers["x-tierroute-session"] = conv["id"]
        self.tally.requests[phase] += 1
        answer = ""
        try:
            async with s.post(proxy + "/v1/chat/completions", json=body, headers=headers) as r:
                data = await r.read()
                if r.status != 200:
                    self.tally.fail(phase, f"HTTP {r.status}: {data[:200]!r}")
                    return
                self.tally.tiers[r.headers.get("x-tierroute-tier", "?")] += 1
                answer = self._check(phase, data, stream)
        except (TimeoutError, aiohttp.ClientError) as e:
            self.tally.fail(phase, f"{type(e).__name__}: {e}")
            return
        finally:
            self.convs.done(conv, answer)

    def _check(self, phase: str, data: bytes, stream: bool) -> str:
        """The answer's text, or "" after counting a failure."""
        try:
            if not stream:
                doc = json.loads(data)
                return str(doc["choices"][0]["message"]["content"])
            done, _, _ = check_stream(data)
            if not done:
                self.tally.fail(phase, f"stream without [DONE]: {data[-200:]!r}")
                return ""
            text = []
            for event in data.replace(b"\r\n", b"\n").split(b"\n\n"):
                if not event.strip() or event.strip() == b"data: [DONE]":
                    continue
                chunk = json.loads(event.removeprefix(b"data: "))
                if "error" in chunk:
                    self.tally.fail(phase, f"error event: {event[:200]!r}")
                    return ""
                text += [c["delta"].get("content") or "" for c in chunk["choices"]]
            return "".join(text)
        except (ValueError, KeyError, IndexError, TypeError) as e:
            self.tally.fail(phase, f"not a completion ({type(e).__name__}): {data[:200]!r}")
            return ""


# -- the phases ------------------------------------------------------------------------------------

async def run_phases(fleet: Fleet, load: Load, phase_s: float, phases: list[str]) -> dict[str, Any]:
    notes: dict[str, Any] = {}
    task = asyncio.create_task(load.run())
    load.phase = "warmup"
    await asyncio.sleep(max(2.0, phase_s / 3))
    try:
        for name in phases:
            t0 = time.monotonic()
            load.phase = name
            print(f"  phase {name} ...", flush=True)
            await asyncio.to_thread(PHASE_ACTIONS[name], fleet, phase_s, notes)
            rest = phase_s - (time.monotonic() - t0)
            if rest > 0:
                await asyncio.sleep(rest)
            load.phase = f"{name}:after"  # requests started during the clean-up are not this phase's
            await asyncio.to_thread(PHASE_CLEANUP.get(name, lambda f, n: None), fleet, notes)
    finally:
        load.stop()
        await task
    return notes


def _sleep(s: float) -> None:
    time.sleep(max(0.0, s))


def _baseline(fleet: Fleet, phase_s: float, notes: dict[str, Any]) -> None:
    pass


def _kill_replica(fleet: Fleet, phase_s: float, notes: dict[str, Any]) -> None:
    fleet.kill("small0")


def _restart_replica(fleet: Fleet, phase_s: float, notes: dict[str, Any]) -> None:
    t0 = time.monotonic()
    fleet.restart_worker("small0")
    fleet.procs_wait(lambda: fleet.healthy_everywhere(fleet.url("small0")), 30, "small0 healthy at both proxies")
    notes["replica_back_s"] = round(time.monotonic() - t0, 2)


def _kill_redis(fleet: Fleet, phase_s: float, notes: dict[str, Any]) -> None:
    fleet.kill("redis")


def _restart_redis(fleet: Fleet, phase_s: float, notes: dict[str, Any]) -> None:
    fleet.restart_redis()


def _fault(fleet: Fleet, replica: str, mode: str | None) -> None:
    httpx.post(fleet.url(replica) + "/sim/fault", json={"mode": mode}, timeout=5).raise_for_status()


def _provider(fleet: Fleet, phase_s: float, notes: dict[str, Any]) -> None:
    fail = fleet.url("provider") + "/fake/fail"
    httpx.post(fail, json={"status": 429, "count": 1_000_000}, timeout=5).raise_for_status()
    _sleep(phase_s / 2)
    httpx.post(fail, json={"status": 500, "count": 1_000_000}, timeout=5).raise_for_status()
    stats = httpx.get(fleet.url("provider") + "/fake/stats", timeout=5).json()
    notes["provider_failed_requests"] = stats["failed"]


def _policy_reload(fleet: Fleet, phase_s: float, notes: dict[str, Any]) -> None:
    def reload_state() -> list[dict[str, Any]]:
        return [fleet.admin(p, "/admin/policy") for p in fleet.proxies]

    fleet.write_policy(policy_doc(fleet.ports, fleet.labels, match_threshold=0.35))
    try:
        fleet.procs_wait(lambda: all(d["policy"]["balance"]["match_threshold"] == 0.35 for d in reload_state()),
                         10, "the valid reload at both proxies")
        notes["valid_reload_applied"] = True
    except TimeoutError:
        notes["valid_reload_applied"] = False
    _sleep(phase_s / 3)
    fleet.write_policy("version: 1\ntiers: [{name: small, backends: []}]\nrouting: {auto: [{tier: nowhere}]}\n")
    _sleep(min(3.0, phase_s / 3))
    states = reload_state()
    notes["invalid_reload_refused"] = all(d["policy"]["balance"]["match_threshold"] == 0.35 for d in states)
    notes["invalid_reload_reported"] = [_reload_error(d) for d in states]


def _reload_error(doc: dict[str, Any]) -> str | None:
    return None if doc.get("last_error") is None else str(doc["last_error"])[:200]


PHASE_ACTIONS = {
    "baseline": _baseline, "kill_replica": _kill_replica, "restart_replica": _restart_replica,
    "kill_redis": _kill_redis, "restart_redis": _restart_redis,
    "hang_after_headers": lambda f, s, n: _fault(f, "small1", "hang_after_headers"),
    "malformed_sse": lambda f, s, n: _fault(f, "small0", "malformed_sse"),
    "provider_429_500": _provider, "policy_reload": _policy_reload,
}
PHASE_CLEANUP = {
    "hang_after_headers": lambda f, n: _fault(f, "small1", None),
    "malformed_sse": lambda f, n: _fault(f, "small0", None),
    "provider_429_500": lambda f, n: httpx.post(f.url("provider") + "/fake/fail", json={"status": 500, "count": 0},
                                                timeout=5).raise_for_status(),
    "policy_reload": lambda f, n: f.write_policy(policy_doc(f.ports, f.labels)),
}


# -- leaks and the soak ----------------------------------------------------------------------------

def leaks(fleet: Fleet) -> dict[str, Any]:
    """In flight and live leases once the load stopped and a lease's TTL passed (Redis must be up)."""
    time.sleep(LEASE_TTL_S + 1.5)
    inflight = fleet.in_flight()
    return {"in_flight": inflight, "leaked_inflight": sum(inflight.values()), "leaked_leases": fleet.live_leases()}


async def run_soak(fleet: Fleet, requests: int, concurrency: int, seed: int) -> dict[str, Any]:
    load = Load(fleet.proxies, concurrency, seed)
    warm = max(50, requests // 10)
    load.phase, load.limit = "soak_warmup", warm
    t0 = time.perf_counter()
    await load.run()
    await asyncio.sleep(1.0)
    start = {n: fleet.rss_kb(n) for n in ("proxy0", "proxy1")}
    bounds_start = fleet.bounds()
    load.phase, load.limit = "soak", warm + requests
    progress = asyncio.create_task(_progress(load, warm + requests))
    await load.run()
    progress.cancel()
    elapsed = time.perf_counter() - t0
    await asyncio.sleep(1.0)
    end = {n: fleet.rss_kb(n) for n in ("proxy0", "proxy1")}
    bounds_end = fleet.bounds()
    growth = {n: round(100.0 * (end[n] - start[n]) / start[n], 2) for n in start}
    return {"requests": load.tally.requests["soak"], "warmup_requests": load.tally.requests["soak_warmup"],
            "failed": load.tally.failures["soak"] + load.tally.failures["soak_warmup"],
            "failure_samples": load.tally.samples, "conversations": load.convs.started,
            "tiers": dict(load.tally.tiers), "rss_kb_start": start, "rss_kb_end": end, "rss_growth_pct": growth,
            "bounds_start": bounds_start, "bounds_end": bounds_end,
            "elapsed_s": round(elapsed, 1), "requests_per_s": round((warm + requests) / elapsed, 1)}


async def _progress(load: Load, total: int) -> None:
    while True:
        await asyncio.sleep(30)
        print(f"    soak: {load.sent}/{total} sent", flush=True)


# -- report ----------------------------------------------------------------------------------------

def summary(result: dict[str, Any]) -> str:
    lines = [f"{'phase':<20} {'requests':>9} {'failed':>7}"]
    for phase, n in result["requests"].items():
        lines.append(f"{phase:<20} {n:>9} {result['failed_requests'][phase]:>7}")
    lines += [
        f"fuzz: {result['fuzz_cases']} cases ({result['fuzz']['generated']} generated from docs/openapi.yaml, "
        f"{result['fuzz']['hostile']} hostile), {result['fuzz_5xx']} answered 5xx",
        f"soak: {result['soak_requests']} auto requests, RSS growth {result['rss_growth_pct']:.2f} % "
        f"(worst proxy, after warm-up), {result['soak']['failed']} failed",
        f"leaks: {result['leaked_inflight']} in flight, {result['leaked_leases']} live leases",
        f"targets: {'met' if not result['missed'] else 'MISSED: ' + '; '.join(result['missed'])}",
    ]
    return "\n".join(lines)


def missed_targets(result: dict[str, Any]) -> list[str]:
    out = [f"{p}: {n} client-visible failures" for p, n in result["failed_requests"].items()
           if n and p in MUST_NOT_FAIL]
    if result["fuzz_5xx"]:
        out.append(f"fuzz: {result['fuzz_5xx']} 5xx")
    if result["leaked_inflight"] or result["leaked_leases"]:
        out.append(f"leaks: {result['leaked_inflight']} in flight, {result['leaked_leases']} leases")
    if result["rss_growth_pct"] >= RSS_TARGET_PCT:
        out.append(f"RSS grew {result['rss_growth_pct']:.2f} %")
    return out


def render_md(result: dict[str, Any], command: str) -> str:
    rows = "\n".join(f"| {p} | {n} | {result['failed_requests'][p]} |" for p, n in result["requests"].items())
    fz = result["fuzz"]
    def statuses(c: dict[str, Any]) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(c["statuses"].items()))

    ops = "\n".join(f"| {op} | {c['cases']} | {c['5xx']} | {statuses(c)} |" for op, c in fz["by_operation"].items())
    soak = result["soak"]
    rss = ", ".join(f"{n} {soak['rss_kb_start'][n] / 1024:.1f} → {soak['rss_kb_end'][n] / 1024:.1f} MB "
                    f"({soak['rss_growth_pct'][n]:+.2f} %)" for n in soak["rss_kb_start"])
    faults = "\n".join(f"- {f}" for f in result["known_faults"]) or "- none"
    ap, aso = result["after_phases"], result["after_soak"]
    return f"""# Chaos run, fuzzing and soak (issue 10, point 8)

`{command}` ({result['machine']}, {result['elapsed_s'] / 60:.1f} min). Written by `bench/chaos.py`; the numbers
are in `chaos.json`. Fleet: two proxies sharing one Redis; `small` and `large` SGLang tiers of two
simulated replicas each (`balance.policy: cache_aware`), a `frontier` tier through litellm (fake
provider). All traffic `model: auto`, {result['concurrency']} clients, half streamed, multi-turn
conversations (half with `x-tierroute-session`). A failure is anything but a complete answer
(status, body, stream without `[DONE]` or with an error event, timeout).

## Phases ({result['phase_s']:.0f} s each, under load)

| phase | requests | client-visible failures |
|---|---|---|
{rows}

Notes: {json.dumps(result['phase_notes'])}

## Fuzzing

{result['fuzz_cases']} requests: {fz['generated']} generated with hypothesis from `docs/openapi.yaml` (bodies that
follow the schemas, bodies that break them, random keys and headers) and {fz['hostile']} hand-written hostile
cases (huge headers, slow and abandoned bodies, invalid UTF-8, deeply nested JSON, 10 MB strings,
wrong content types, bad framing). **{result['fuzz_5xx']} answered 5xx.**

| operation | cases | 5xx | statuses |
|---|---|---|---|
{ops}

Hostile cases: {json.dumps(fz['hostile_results'])}

## Soak

{result['soak_requests']} `auto` requests after {soak['warmup_requests']} of warm-up,
{soak['conversations']} conversations,
{soak['requests_per_s']} requests/s, {soak['failed']} failed; tiers {json.dumps(soak['tiers'])}.
RSS (each proxy's process group): {rss}.

## Leaks (after the load stopped and a lease TTL passed)

After the phases: {ap['leaked_inflight']} in flight, {ap['leaked_leases']} live leases.
After the soak: {aso['leaked_inflight']} in flight, {aso['leaked_leases']} live leases.

## Targets

{'All met.' if not result['missed'] else 'Missed: ' + '; '.join(result['missed'])}

## Known faults

{faults}
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--phase-s", type=float, default=20.0, help="seconds of load per phase")
    ap.add_argument("--phases", default=",".join(PHASES), help="comma-separated subset, in order")
    ap.add_argument("--concurrency", type=int, default=8, help="clients in the closed loop")
    ap.add_argument("--fuzz-cases", type=int, default=2000, help="generated fuzz requests (plus the hostile ones)")
    ap.add_argument("--soak-requests", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(_HERE.parent / "docs/benchmarks/chaos.json"))
    ap.add_argument("--md", default=None, help="also write the Markdown report here")
    ap.add_argument("--known-fault", action="append", default=[], help="a fault found and not fixed (for the report)")
    ns = ap.parse_args(argv)
    phases = [p for p in ns.phases.split(",") if p]
    unknown = set(phases) - set(PHASES)
    if unknown:
        ap.error(f"unknown phases: {sorted(unknown)}")
    install_signal_handlers()
    t0 = time.perf_counter()
    work = Path(os.environ.get("CHAOS_WORK_DIR") or Path(__import__("tempfile").mkdtemp(prefix="tierroute-chaos-")))
    print(f"chaos: starting the fleet (logs in {work}) ...", flush=True)
    with Procs(work) as procs:
        fleet = Fleet(procs, work)
        timings: dict[str, float] = {}

        def lap(what: str) -> None:
            timings[what] = round(time.perf_counter() - t0 - sum(timings.values()), 1)

        fleet.start()
        lap("start")
        load = Load(fleet.proxies, ns.concurrency, ns.seed)
        print(f"chaos: {len(phases)} phases of {ns.phase_s:.0f} s under load ...", flush=True)
        notes = asyncio.run(run_phases(fleet, load, ns.phase_s, phases))
        after_phases = leaks(fleet)
        lap("phases")
        print(f"chaos: fuzzing ({ns.fuzz_cases} generated cases + hostile ones) ...", flush=True)
        fz = fuzz(fleet.url("proxy0"), CLIENT_KEY, ADMIN_KEY, ns.fuzz_cases, ns.seed)
        alive = _ok(fleet.url("proxy0") + "/ready") and _ok(fleet.url("proxy1") + "/ready")
        lap("fuzz")
        print(f"chaos: soak ({ns.soak_requests} requests) ...", flush=True)
        soak = asyncio.run(run_soak(fleet, ns.soak_requests, ns.concurrency, ns.seed + 1))
        after_soak = leaks(fleet)
        lap("soak")
    result: dict[str, Any] = {
        "failed_requests": {p: load.tally.failures[p] for p in phases},
        "requests": {p: load.tally.requests[p] for p in phases},
        "fuzz_cases": fz["generated"] + fz["hostile"], "fuzz_5xx": fz["5xx"],
        "soak_requests": soak["requests"], "rss_growth_pct": max(soak["rss_growth_pct"].values()),
        "leaked_inflight": after_phases["leaked_inflight"] + after_soak["leaked_inflight"],
        "leaked_leases": after_phases["leaked_leases"] + after_soak["leaked_leases"],
        "failure_samples": {p: s for p, s in load.tally.samples.items()},
        "outside_phases": {p: {"requests": n, "failed": load.tally.failures[p]}
                           for p, n in load.tally.requests.items() if p not in phases},
        "phase_notes": notes, "phase_s": ns.phase_s, "concurrency": ns.concurrency, "fuzz": fz,
        "proxies_ready_after_fuzz": alive, "soak": soak, "after_phases": after_phases, "after_soak": after_soak,
        "known_faults": ns.known_fault, "machine": f"{os.cpu_count()} cores, {platform.python_version()}",
        "elapsed_s": round(time.perf_counter() - t0, 1), "timings_s": timings,
    }
    if not alive:
        result["fuzz_5xx"] += 1  # a proxy that stopped answering is worse than a 5xx
    result["missed"] = missed_targets(result)
    out = Path(ns.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(summary(result))
    if ns.md:
        command = "make chaos" if argv is None and len(sys.argv) == 1 else "python bench/chaos.py " + " ".join(
            sys.argv[1:] if argv is None else argv)
        Path(ns.md).write_text(render_md(result, command))
    return 1 if result["missed"] else 0


if __name__ == "__main__":
    sys.exit(main())
