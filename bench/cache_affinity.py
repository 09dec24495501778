"""Prefix-cache affinity benchmark: tierroute's cache-aware replica choice vs sgl-router's (issue 4).

Four simulated SGLang workers (``tierroute sim-worker``: radix prefix cache with LRU eviction,
TTFT = ``--ttft-ms`` + uncached prompt tokens / ``--prefill-tps``) serve two workloads
(:mod:`cache_affinity_workloads`): SGLang's generated-shared-prefix shape and multi-turn chats
that grow. Each worker's KV capacity (``--max-total-tokens``) holds well under all of the
workload's prefixes, while the four together hold them all. Policies, in one run, each on
freshly reset workers (``POST /sim/reset``) and freshly started routers:

* ``round_robin`` -- the client sends request *i* straight to worker *i mod 4*;
* ``least_loaded`` -- the client sends each request straight to the worker with the fewest of
  its requests in flight, ties rotating (the rule of tierroute's ``least_loaded`` policy,
  applied client-side: no proxy hop);
* ``tierroute_1`` -- one tierroute proxy, ``balance.policy: cache_aware``, in-memory store;
* ``tierroute_3`` -- three tierroute proxies sharing one Redis (``--redis-url``; a private
  ``redis-server`` on a free port); ``tierroute_6``, six (only when asked for: ``--policies``);
* ``sgl_router_1`` / ``sgl_router_3`` (/ ``sgl_router_6`` when asked for) -- one / three
  ``sglang_router.launch_router`` processes
  (PyPI ``sglang-router``, installed into ``bench/.venvs/sglang_router`` when missing) with
  ``--policy cache_aware`` and its defaults for every routing parameter;
* ``oracle`` -- computed, not run: the clairvoyant placement of
  :func:`cache_affinity_workloads.oracle` (each prefix group / conversation on one replica,
  the workers' own radix cache and capacity, one request at a time).

The 3-proxy and 3-router runs spread requests over their entry points round robin, as a load
balancer in front of them would. Requests pin the tier holding the four workers
(``model: "pool"``, the tier's name) so tierroute does no classification; sgl-router and the
direct policies get the served model name.

Measured per workload x policy: the cache-hit rate Σcached / Σprompt tokens from the workers'
``/sim/stats``; TTFT p50/p90 measured client-side as the time from sending the request to the
first streamed chunk (the simulated worker emits nothing before its prefill ends; through a
router it includes the router's hop); ``load_max_over_mean`` (the most requests one worker
served / the mean). For ``tierroute_3`` (and ``tierroute_6``) the private Redis' slow log (threshold 0: every
top-level command, not the calls inside scripts) counts the proxies' round trips per request
and times the CHOOSE script inside Redis. :mod:`affinity_latency` measures the decision itself:
``RedisAffinity.choose`` vs ``MemoryAffinity.choose`` on the same inputs. With ``--sweep`` (on
by default for the full run) hit rate vs per-worker cache size for ``round_robin``,
``tierroute_1``, ``tierroute_3`` and ``sgl_router_1`` (and the oracle).

Run: ``.venv/bin/python bench/cache_affinity.py --quick`` (under a minute on a quiet machine,
no sweep unless ``--sweep``) or without ``--quick`` for the full run. Results:
``docs/benchmarks/cache_affinity.{md,json}`` and ``cache_affinity.details.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (ROOT, HERE):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import aiohttp  # noqa: E402
import httpx  # noqa: E402
import orjson  # noqa: E402
import overhead_router  # noqa: E402
import yaml  # noqa: E402
from affinity_latency import measure as measure_latency  # noqa: E402
from cache_affinity_procs import Procs, free_port, install_signal_handlers, start_redis  # noqa: E402
from cache_affinity_workloads import (  # noqa: E402
    GSP,
    MULTI_TURN,
    OracleResult,
    SimParams,
    Tokens,
    Workload,
    footprint,
    generated_shared_prefix,
    load_max_over_mean,
    multi_turn,
    oracle,
    percentile,
    tokenize,
    upper_bound,
)

METRICS = ("hit_rate", "ttft_p50_ms", "ttft_p90_ms", "load_max_over_mean")
POLICIES = ("round_robin", "least_loaded", "tierroute_1", "tierroute_3", "tierroute_6", "sgl_router_1", "sgl_router_3",
            "sgl_router_6")
DEFAULT_POLICIES = ("round_robin", "least_loaded", "tierroute_1", "tierroute_3", "sgl_router_1", "sgl_router_3")
SWEEP_POLICIES = ("round_robin", "tierroute_1", "tierroute_3", "sgl_router_1")
MODEL = "sim-model"  # the workers' served model name
TIER = "pool"  # the tierroute tier holding the four workers
ADMIN_KEY = "bench-cache-affinity-admin"
WORKERS = 4


@dataclass
class Config:
    mode: str
    capacity: int  # per-worker KV capacity (tokens) of the main table
    gsp: dict[str, Any]
    mt: dict[str, Any]
    concurrency: int  # requests in flight from the client
    sweep: list[int]  # per-worker capacities for the hit-rate-vs-cache-size table
    latency_decisions: int
    sim: SimParams = field(default_factory=SimParams)
    decode_tps: float = 1000.0
    max_running_requests: int = 16
    seed: int = 0


def quick_config() -> Config:
    return Config("quick", 8192, dict(groups=16, per_group=6, system_tokens=1024, question_tokens=64, max_tokens=32),
                  dict(conversations=16, turns=4, first_tokens=384, question_tokens=96, max_tokens=32),
                  concurrency=16, sweep=[4096, 8192, 16384, 32768], latency_decisions=300)


def full_config() -> Config:
    return Config("full", 32768,
                  dict(groups=32, per_group=16, system_tokens=2048, question_tokens=128, max_tokens=32),
                  dict(conversations=48, turns=6, first_tokens=768, question_tokens=128, max_tokens=32),
                  concurrency=16, sweep=[16384, 32768, 65536, 131072], latency_decisions=3000)


# -- processes ---------------------------------------------------------------------------------

def ensure_sgl_router(python: str | None) -> str:
    """``python`` if given, else the one sgl-router venv the overhead benchmark uses too (installed if needed)."""
    return python or str(overhead_router.ensure_sgl_router())


def sgl_router_version(python: str) -> str:
    r = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('sglang-router'))"],
                       capture_output=True, text=True)
    return r.stdout.strip() or "unknown"


def worker_args(cfg: Config, capacity: int) -> list[str]:
    s = cfg.sim
    return ["--model", MODEL, "--ttft-ms", str(s.ttft_ms), "--prefill-tps", str(s.prefill_tps),
            "--decode-tps", str(cfg.decode_tps), "--max-running-requests", str(cfg.max_running_requests),
            "--max-total-tokens", str(capacity), "--seed", str(s.seed),
            "--min-output-tokens", str(s.min_output_tokens), "--max-output-tokens", str(s.max_output_tokens)]


def start_workers(procs: Procs, cfg: Config, capacity: int, tag: str) -> list[str]:
    names = [f"worker-{tag}-{i}" for i in range(WORKERS)]
    for name in names:
        procs.start_http(name, lambda p: [sys.executable, "-m", "router", "sim-worker", "--host", "127.0.0.1",
                                          "--port", str(p), *worker_args(cfg, capacity)], "/health")
    procs.wait_ready(names, timeout=60)
    return [procs.url(n) for n in names]


def policy_doc(worker_urls: Sequence[str], balance: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1,
            "tiers": [{"name": TIER, "description": "four simulated SGLang workers (cache-affinity benchmark)",
                       "context_tokens": 32768, "price": {"input_per_mtok": 0.1, "output_per_mtok": 0.2},
                       "backends": [{"kind": "sglang", "model": MODEL, "replicas": list(worker_urls)}]}],
            "routing": {"auto": [{"tier": TIER}]},
            "balance": {"policy": "cache_aware", **balance}}


@dataclass
class Router:
    name: str  # tierroute_N | sgl_router_N: N processes
    procs: list[str]
    urls: list[str]


def start_routers(procs: Procs, wanted: Sequence[str], worker_urls: Sequence[str], *, tag: str, balance: dict[str, Any],
                  redis_url: str, sgl_python: str | None, real_serve: bool) -> dict[str, Router]:
    """Start every router process the policies need at once, then wait until all answer."""
    policy_path = procs.log_dir / f"policy-{tag}.yaml"
    policy_path.write_text(yaml.safe_dump(policy_doc(worker_urls, balance), sort_keys=False))
    groups: dict[str, list[str]] = {}
    for name in wanted:
        n = processes(name)
        groups[name] = [f"{name}-{tag}-{i}" for i in range(n)]
        for pname in groups[name]:
            if name.startswith("tierroute"):
                redis = ["--redis-url", redis_url] if n > 1 else []

                def cmd(port: int, redis: list[str] = redis) -> list[str]:
                    head = [sys.executable, "-m", "router", "serve"] if real_serve else \
                        [sys.executable, str(HERE / "cache_affinity_proxy.py")]
                    return [*head, "--policy", str(policy_path), "--port", str(port), "--log-level", "warning", *redis]

                procs.start_http(pname, cmd, "/ready", env={"TIERROUTE_ADMIN_KEY": ADMIN_KEY})
            else:
                assert sgl_python is not None

                def sgl_cmd(port: int) -> list[str]:  # a fresh metrics port on every (re)start
                    return [sgl_python, "-m", "sglang_router.launch_router", "--host", "127.0.0.1", "--port", str(port),
                            "--worker-urls", *worker_urls, "--policy", "cache_aware", "--prometheus-host",
                            "127.0.0.1", "--prometheus-port", str(free_port()), "--log-level", "warn"]

                procs.start_http(pname, sgl_cmd, "/health")
    procs.wait_ready([p for ps in groups.values() for p in ps], timeout=300 if real_serve else 90)
    out = {name: Router(name, ps, [procs.url(p) for p in ps]) for name, ps in groups.items()}
    for r in out.values():
        if r.name.startswith("sgl_router"):
            for pname, url in zip(r.procs, r.urls, strict=True):
                wait_sgl_workers(procs, pname, url, len(worker_urls))
    return out


def wait_sgl_workers(procs: Procs, pname: str, url: str, n: int, timeout: float = 60.0) -> None:
    """sgl-router registers workers in the background: wait until it lists all of them healthy."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            doc = httpx.get(url + "/workers", timeout=2).json()
            last = doc
            ws = doc.get("workers", [])
            if len(ws) == n and all(w.get("is_healthy") for w in ws):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{pname} did not register {n} healthy workers: {last}; log:\n{procs.tail(pname)}")


# -- one run -----------------------------------------------------------------------------------

@dataclass
class Sent:
    rid: str
    key: str
    ok: bool
    status: int
    ttft_ms: float | None
    prompt_tokens: int = 0
    cached_tokens: int = 0
    text_ok: bool | None = None
    replica: str | None = None  # x-tierroute-replica, or the worker URL for direct policies
    error: str | None = None
    planned: int = -1  # position in the planned order
    dispatched: int = -1  # position in the order the requests were sent


class Dispatch:
    """Where the next request goes: round robin over entry points, or client-side least-loaded."""

    def __init__(self, urls: Sequence[str], mode: str, *, direct: bool = False) -> None:
        self.urls = list(urls)
        self.mode = mode  # "rr" | "least"
        self.direct = direct  # the URLs are the workers themselves
        self.turn = itertools.count()
        self.in_flight = dict.fromkeys(self.urls, 0)
        self._rot = 0

    def acquire(self) -> str:
        if self.mode == "rr":
            url = self.urls[next(self.turn) % len(self.urls)]
        else:
            low = min(self.in_flight.values())
            best = [u for u in self.urls if self.in_flight[u] == low]
            self._rot += 1
            url = best[self._rot % len(best)]
        self.in_flight[url] += 1
        return url

    def release(self, url: str) -> None:
        self.in_flight[url] -= 1


async def send(session: aiohttp.ClientSession, url: str, body: bytes, rid: str, key: str,
               expect: str | None) -> Sent:
    t0 = time.perf_counter()
    try:
        async with session.post(url + "/v1/chat/completions", data=body,
                                headers={"content-type": "application/json"}) as resp:
            replica = resp.headers.get("x-tierroute-replica")
            if resp.status != 200:
                return Sent(rid, key, False, resp.status, None, replica=replica, error=(await resp.text())[:300])
            ttft = None
            parts: list[str] = []
            usage: dict[str, Any] = {}
            async for raw in resp.content:
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    break
                obj = orjson.loads(payload)
                if ttft is None and obj.get("choices"):
                    ttft = (time.perf_counter() - t0) * 1000
                for ch in obj.get("choices") or []:
                    c = (ch.get("delta") or {}).get("content")
                    if c:
                        parts.append(c)
                if obj.get("usage"):
                    usage = obj["usage"]
    except (TimeoutError, aiohttp.ClientError) as e:
        return Sent(rid, key, False, 0, None, error=f"{type(e).__name__}: {e}"[:300])
    details = usage.get("prompt_tokens_details") or {}
    text = "".join(parts)
    return Sent(rid, key, True, 200, ttft, int(usage.get("prompt_tokens") or 0), int(details.get("cached_tokens") or 0),
                None if expect is None else text == expect, replica)


async def drive(wl: Workload, dispatch: Dispatch, model: str, concurrency: int) -> tuple[list[Sent], float]:
    """Send the workload in its planned order, at most ``concurrency`` in flight.

    A free slot takes the earliest planned request that is ready (its previous turn, if any, has
    finished), so the live order is the planned order except where a turn is still waiting for
    its predecessor -- and the oracle replays (nearly) what the routers saw.
    """
    waiting_on: dict[str, list[int]] = {}
    ready: list[int] = []
    for i, r in enumerate(wl.requests):
        if r.after:
            waiting_on.setdefault(r.after, []).append(i)
        else:
            ready.append(i)
    heapq.heapify(ready)
    results: list[Sent] = []
    seq = itertools.count()
    conn = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=300, sock_read=120)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        in_flight: set[asyncio.Task[None]] = set()

        async def one(i: int) -> None:
            req = wl.requests[i]
            position = next(seq)
            url = dispatch.acquire()
            try:
                res = await send(session, url, orjson.dumps(req.body(model)), req.rid, req.key, req.expect)
            finally:
                dispatch.release(url)
            res.planned, res.dispatched = i, position
            if dispatch.direct:
                res.replica = url
            results.append(res)
            for j in waiting_on.pop(req.rid, []):
                heapq.heappush(ready, j)

        t0 = time.perf_counter()
        while ready or in_flight:
            while ready and len(in_flight) < concurrency:
                t = asyncio.create_task(one(heapq.heappop(ready)))
                in_flight.add(t)
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                in_flight.discard(t)
                t.result()
        assert len(results) == len(wl.requests), f"{len(wl.requests) - len(results)} requests never became ready"
        return results, time.perf_counter() - t0


def worker_stats(urls: Sequence[str]) -> list[dict[str, Any]]:
    return [httpx.get(u + "/sim/stats", timeout=10).json() for u in urls]


def reset_workers(urls: Sequence[str]) -> None:
    for u in urls:
        st = httpx.get(u + "/sim/stats", timeout=10).json()
        if st["running"] or st["queued"]:
            raise RuntimeError(f"{u} still has requests running ({st['running']}) or queued ({st['queued']})")
        httpx.post(u + "/sim/reset", timeout=10).raise_for_status()


class RedisProbe:
    """Top-level commands the proxies send to the private Redis during a run (its slow log, threshold 0)."""

    def __init__(self, url: str) -> None:
        import redis

        self.r = redis.Redis.from_url(url)

    def start(self) -> None:
        self.r.flushall()
        self.r.config_set("slowlog-log-slower-than", 0)
        self.r.config_set("slowlog-max-len", 1_000_000)
        self.r.slowlog_reset()
        self.r.config_resetstat()

    def collect(self, requests: int, choose_sha: str | None) -> dict[str, Any]:
        entries = self.r.slowlog_get(1_000_000)
        mine = {"SLOWLOG", "CONFIG", "INFO", "FLUSHALL", "PING"}
        by_cmd: dict[str, int] = {}
        choose_us: list[float] = []
        shas: dict[str, int] = {}
        inside: dict[str, int] = {}
        clients: dict[str, int] = {}
        for e in entries:
            words = e["command"].split()
            name = words[0].decode().upper() if words else "?"
            if name in mine:
                continue
            if e.get("client_address") == b"?:0":  # run by a script, not sent by a client
                inside[name] = inside.get(name, 0) + 1
                continue
            by_cmd[name] = by_cmd.get(name, 0) + 1
            addr = (e.get("client_address") or b"").decode()
            clients[addr] = clients.get(addr, 0) + 1
            if name == "EVALSHA" and len(words) > 1:
                sha = words[1].decode()
                shas[sha] = shas.get(sha, 0) + 1
                if sha == choose_sha:
                    choose_us.append(float(e["duration"]))
        self.r.config_set("slowlog-log-slower-than", 10000)
        self.r.slowlog_reset()
        total = sum(by_cmd.values())
        stats = self.r.info("commandstats")
        return {"round_trips_per_request": total / requests if requests else None,
                "choose_calls_per_request": (shas.get(choose_sha or "", 0) / requests) if requests else None,
                "top_level_commands": by_cmd,
                "connections": len(clients),
                "commands_inside_scripts_per_request": (sum(inside.values()) / requests) if requests else None,
                "commands_inside_scripts": inside,
                "evalsha_by_script": shas,
                "choose_inside_redis_p50_us": percentile(choose_us, 50) if choose_us else None,
                "choose_inside_redis_p99_us": percentile(choose_us, 99) if choose_us else None,
                "evalsha_usec_per_call": (stats.get("cmdstat_evalsha") or {}).get("usec_per_call"),
                "keys_after": self.r.dbsize()}


def choose_script_sha() -> str:
    from router.balance.redis_affinity import SCRIPTS
    from router.redis_client import script_sha

    return script_sha(SCRIPTS["choose"])


def admin_stats(urls: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    for u in urls:
        try:
            doc = httpx.get(u + "/admin/stats", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10).json()
            out.append(doc.get("affinity") or {})
        except (httpx.HTTPError, ValueError) as e:
            out.append({"error": str(e)})
    return out


def run_policy(policy: str, wl: Workload, worker_urls: Sequence[str], routers: dict[str, Router], cfg: Config,
               redis_probe: RedisProbe | None) -> dict[str, Any]:
    reset_workers(worker_urls)
    if policy == "round_robin":
        dispatch, model = Dispatch(worker_urls, "rr", direct=True), MODEL
    elif policy == "least_loaded":
        dispatch, model = Dispatch(worker_urls, "least", direct=True), MODEL
    else:
        r = routers[policy]
        dispatch, model = Dispatch(r.urls, "rr"), TIER if policy.startswith("tierroute") else MODEL
    probe = redis_probe if policy.startswith("tierroute") and processes(policy) > 1 else None
    if probe:
        probe.start()
    load0 = os.getloadavg()[0]
    sent, wall = asyncio.run(drive(wl, dispatch, model, cfg.concurrency))
    stats = worker_stats(worker_urls)
    prompt = sum(s["prompt_tokens"] for s in stats)
    cached = sum(s["cached_tokens"] for s in stats)
    ttft = [s.ttft_ms for s in sent if s.ok and s.ttft_ms is not None]
    ok = [s for s in sent if s.ok]
    res: dict[str, Any] = {
        "hit_rate": cached / prompt if prompt else 0.0,
        "ttft_p50_ms": percentile(ttft, 50),
        "ttft_p90_ms": percentile(ttft, 90),
        "load_max_over_mean": load_max_over_mean([s["requests"] for s in stats]),
        "requests": len(sent), "errors": len(sent) - len(ok),
        "error_examples": [s.error for s in sent if not s.ok][:3],
        "requests_per_worker": [s["requests"] for s in stats],
        "prompt_tokens": prompt, "cached_tokens": cached,
        "client_hit_rate": (sum(s.cached_tokens for s in ok) / sum(s.prompt_tokens for s in ok)) if ok else None,
        "evicted_tokens": sum(s["cache_tokens_evicted"] for s in stats),
        "answer_mismatches": sum(1 for s in ok if s.text_ok is False),
        "wall_s": wall, "loadavg_1m_start": load0, "loadavg_1m_end": os.getloadavg()[0],
    }
    res["order_displacement_mean"] = sum(abs(s.planned - s.dispatched) for s in sent) / len(sent)
    replicas_per_key: dict[str, set[str]] = {}
    for s in ok:
        if s.replica:
            replicas_per_key.setdefault(s.key, set()).add(s.replica)
    if replicas_per_key:
        res["replicas_per_key_mean"] = sum(map(len, replicas_per_key.values())) / len(replicas_per_key)
    if policy.startswith("tierroute"):
        res["affinity"] = admin_stats(routers[policy].urls)
    if probe:
        res["redis"] = probe.collect(len(sent), choose_script_sha())
    return res


# -- the whole benchmark -----------------------------------------------------------------------

@dataclass
class Prepared:
    wl: Workload
    tokens: Tokens
    upper: OracleResult
    oracle_by_capacity: dict[int, OracleResult]
    footprint: dict[str, int]


def prepare(cfg: Config, capacities: Sequence[int]) -> dict[str, Prepared]:
    out = {}
    for wl in (generated_shared_prefix(seed=cfg.seed, **cfg.gsp),
               multi_turn(sim=cfg.sim, seed=cfg.seed, **cfg.mt)):
        tok = tokenize(wl, cfg.sim)
        out[wl.name] = Prepared(wl, tok, upper_bound(wl, tok, cfg.sim),
                                {c: oracle(wl, tok, replicas=WORKERS, capacity=c, sim=cfg.sim) for c in capacities},
                                footprint(tok, wl))
    return out


def oracle_row(o: OracleResult) -> dict[str, Any]:
    return {"hit_rate": o.hit_rate, "ttft_p50_ms": percentile(o.ttft_ms, 50), "ttft_p90_ms": percentile(o.ttft_ms, 90),
            "load_max_over_mean": o.load_max_over_mean}


def run(ns: argparse.Namespace) -> dict[str, Any]:
    cfg = quick_config() if ns.quick else full_config()
    if ns.capacity:
        cfg.capacity = ns.capacity
    if ns.concurrency:
        cfg.concurrency = ns.concurrency
    sweep = ns.sweep if ns.sweep is not None else not ns.quick
    capacities = [cfg.capacity] + ([c for c in cfg.sweep if c != cfg.capacity] if sweep else [])
    policies = [p for p in POLICIES if p in (ns.policies or DEFAULT_POLICIES)]
    balance = dict(parse_kv(kv) for kv in ns.balance or [])
    sgl_python = ensure_sgl_router(ns.sgl_router_python) if any(p.startswith("sgl") for p in policies) else None
    repeat = ns.repeat or (1 if ns.quick else 3)
    t_start = time.time()
    load_start = os.getloadavg()
    phases = {"prepare_s": 0.0, "latency_s": 0.0, "start_workers_s": 0.0, "start_routers_s": 0.0, "runs_s": 0.0,
              "stop_routers_s": 0.0}
    t_phase = time.perf_counter()
    prep = prepare(cfg, capacities)
    phases["prepare_s"] = time.perf_counter() - t_phase
    names = [n for n in (GSP, MULTI_TURN) if n in (ns.workloads or (GSP, MULTI_TURN))]
    table: dict[str, dict[str, Any]] = {n: {} for n in names}
    details: dict[str, Any] = {"runs": {n: {} for n in names}, "sweep": {n: {} for n in names}}
    log_dir = Path(ns.log_dir) if ns.log_dir else None
    with Procs(log_dir) as procs:
        print(f"logs: {procs.log_dir}", flush=True)
        redis_url = start_redis(procs)
        probe = RedisProbe(redis_url)
        print("decision latency (RedisAffinity vs MemoryAffinity) ...", flush=True)
        t_phase = time.perf_counter()
        latency = asyncio.run(measure_latency(redis_url, decisions=cfg.latency_decisions, capacity_tokens=cfg.capacity,
                                              private=True, balance=balance,
                                              inside_samples=100 if ns.quick else 300))
        phases["latency_s"] = time.perf_counter() - t_phase
        for ci, cap in enumerate(capacities):
            main = cap == cfg.capacity
            pols = policies if main else [p for p in SWEEP_POLICIES if p in policies]
            t_phase = time.perf_counter()
            worker_urls = start_workers(procs, cfg, cap, f"c{ci}")
            phases["start_workers_s"] += time.perf_counter() - t_phase
            for name in names:
                p = prep[name]
                runs: dict[str, list[dict[str, Any]]] = {pol: [] for pol in pols}
                for rep in range(repeat if main else 1):
                    tag = f"c{ci}-{name}-r{rep}"
                    t_phase = time.perf_counter()
                    routers = start_routers(procs, [x for x in pols if x not in ("round_robin", "least_loaded")],
                                            worker_urls, tag=tag, balance=balance, redis_url=redis_url,
                                            sgl_python=sgl_python, real_serve=ns.real_serve)
                    phases["start_routers_s"] += time.perf_counter() - t_phase
                    try:
                        for pol in pols:
                            t0 = time.perf_counter()
                            res = run_policy(pol, p.wl, worker_urls, routers, cfg, probe)
                            phases["runs_s"] += time.perf_counter() - t0
                            runs[pol].append(res)
                            print(f"  cap {cap:>6} {name:<24} {pol:<13} hit {res['hit_rate']:.3f}  ttft p50 "
                                  f"{res['ttft_p50_ms']:6.1f} p90 {res['ttft_p90_ms']:6.1f} ms  max/mean "
                                  f"{res['load_max_over_mean']:.2f}  errors {res['errors']}  "
                                  f"({time.perf_counter() - t0:.1f} s, load {res['loadavg_1m_end']:.1f})", flush=True)
                    finally:
                        t_phase = time.perf_counter()
                        procs.stop([pn for r in routers.values() for pn in r.procs])
                        phases["stop_routers_s"] += time.perf_counter() - t_phase
                for pol, reps in runs.items():
                    agg = {k: sum(r[k] for r in reps) / len(reps) for k in METRICS}
                    if main:
                        table[name][pol] = agg
                        details["runs"][name][pol] = {**reps[-1], "repeats": [{k: r[k] for k in METRICS} for r in reps]}
                    if pol in SWEEP_POLICIES:
                        details["sweep"][name].setdefault(str(cap), {})[pol] = agg["hit_rate"]
                if main:
                    table[name]["oracle"] = oracle_row(p.oracle_by_capacity[cap])
                details["sweep"][name].setdefault(str(cap), {})["oracle"] = p.oracle_by_capacity[cap].hit_rate
            procs.stop([f"worker-c{ci}-{i}" for i in range(WORKERS)])
    details.update({
        "mode": cfg.mode,
        "command": " ".join([".venv/bin/python", "bench/cache_affinity.py", *sys.argv[1:]]),
        "config": {**{k: v for k, v in asdict(cfg).items() if k != "sim"}, "sim": asdict(cfg.sim),
                   "worker_flags": worker_args(cfg, cfg.capacity), "balance_overrides": balance,
                   "proxy": "tierroute serve" if ns.real_serve else "bench/cache_affinity_proxy.py (create_app, "
                   "constant classifier)"},
        "sgl_router": {"version": sgl_router_version(sgl_python) if sgl_python else None,
                       "flags": "--policy cache_aware --prometheus-host 127.0.0.1 --prometheus-port Q "
                                "--log-level warn (routing parameters at their defaults: --cache-threshold 0.3 "
                                "--balance-abs-threshold 64 --balance-rel-threshold 1.5 --eviction-interval-secs 60 "
                                "--max-tree-size 67108864)"},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "loadavg_start": load_start, "loadavg_end": os.getloadavg()},
        "wall_s": time.time() - t_start,
        "phases": phases,
        "repeat": repeat,
        "latency": latency,
        "workloads": {n: {"params": prep[n].wl.params, "requests": len(prep[n].wl.requests),
                          "footprint": prep[n].footprint, "upper_bound_hit_rate": prep[n].upper.hit_rate,
                          "prompt_tokens": prep[n].upper.prompt_tokens} for n in names},
    })
    details["targets"] = targets(table, latency)
    return {"table": table, "details": details}


def processes(policy: str) -> int:
    """Router processes of a policy: tierroute_N / sgl_router_N run N; the direct policies none."""
    head, _, n = policy.rpartition("_")
    return int(n) if head in ("tierroute", "sgl_router") else 0


def parse_kv(kv: str) -> tuple[str, Any]:
    k, _, v = kv.partition("=")
    if not _:
        raise SystemExit(f"--balance expects KEY=VALUE, got {kv!r}")
    return k, yaml.safe_load(v)


# -- targets and reports -----------------------------------------------------------------------

def targets(table: dict[str, dict[str, Any]], latency: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, rows in table.items():
        t1, s1 = rows.get("tierroute_1"), rows.get("sgl_router_1")
        if t1 and s1:
            ok = t1["hit_rate"] >= s1["hit_rate"] and t1["load_max_over_mean"] <= s1["load_max_over_mean"]
            out.append({"workload": name, "target": "tierroute_1 hit rate >= sgl_router_1, load_max_over_mean no worse",
                        "pass": ok, "detail": f"hit {t1['hit_rate']:.3f} vs {s1['hit_rate']:.3f}; max/mean "
                        f"{t1['load_max_over_mean']:.2f} vs {s1['load_max_over_mean']:.2f}"})
        for n in (3, 6):
            tn, sn = rows.get(f"tierroute_{n}"), rows.get(f"sgl_router_{n}")
            if t1 and tn:
                gap = t1["hit_rate"] - tn["hit_rate"]
                out.append({"workload": name, "target": f"tierroute_{n} within 2 points of tierroute_1",
                            "pass": gap <= 0.02, "detail": f"{tn['hit_rate']:.3f} vs {t1['hit_rate']:.3f} "
                            f"({-gap * 100:+.1f} points)"})
            if tn and sn:
                lead = tn["hit_rate"] - sn["hit_rate"]
                out.append({"workload": name, "target": f"tierroute_{n} >= sgl_router_{n} + 10 points",
                            "pass": lead >= 0.10, "detail": f"{tn['hit_rate']:.3f} vs {sn['hit_rate']:.3f} "
                            f"({lead * 100:+.1f} points)"})
    added = latency.get("added_p99_us")
    out.append({"workload": "-", "target": "Redis decision adds <= 1 ms p99 (choose, Redis - memory)",
                "pass": added is not None and added <= 1000.0,
                "detail": f"added p99 {added:.0f} µs (Redis choose p99 {latency['redis']['choose_p99_us']:.0f} µs, "
                          f"memory {latency['memory']['choose_p99_us']:.0f} µs; PING p99 "
                          f"{latency['ping']['p99_us']:.0f} µs)"})
    return out


def fmt(x: Any, spec: str) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return "–"
    return format(x, spec)


def main_tables(table: dict[str, dict[str, Any]], details: dict[str, Any]) -> str:
    lines = []
    for name, rows in table.items():
        lines += [f"### {name}", "", "| policy | hit rate | (min–max over runs) | TTFT p50 (ms) | TTFT p90 (ms) | "
                  "load max/mean | errors |", "|---|---:|---:|---:|---:|---:|---:|"]
        for pol in (*POLICIES, "oracle"):
            r = rows.get(pol)
            if r is None:
                continue
            run = details["runs"][name].get(pol, {})
            hits = [x["hit_rate"] for x in run.get("repeats", [])]
            spread = f"{min(hits):.3f}–{max(hits):.3f}" if len(hits) > 1 else "–"
            lines.append(f"| {pol} | {fmt(r['hit_rate'], '.3f')} | {spread} | {fmt(r['ttft_p50_ms'], '.1f')} | "
                         f"{fmt(r['ttft_p90_ms'], '.1f')} | {fmt(r['load_max_over_mean'], '.2f')} | "
                         f"{run.get('errors', '–') if pol != 'oracle' else '–'} |")
        lines.append("")
    return "\n".join(lines)


def sweep_table(details: dict[str, Any]) -> str:
    lines = []
    for name, by_cap in details["sweep"].items():
        caps = sorted(by_cap, key=int)
        if len(caps) < 2:
            continue
        pols = [p for p in (*SWEEP_POLICIES, "oracle") if any(p in by_cap[c] for c in caps)]
        lines += [f"### {name}", "", "| per-worker cache (tokens) | " + " | ".join(pols) + " |",
                  "|---:|" + "---:|" * len(pols)]
        for c in caps:
            lines.append(f"| {int(c):,} | " + " | ".join(fmt(by_cap[c].get(p), ".3f") for p in pols) + " |")
        lines.append("")
    return "\n".join(lines)


def redis_table(details: dict[str, Any]) -> str:
    lines = ["| workload | policy | round trips / request | CHOOSE calls / request | commands sent | "
             "calls inside scripts / request | CHOOSE inside Redis p50 / p99 (µs) |",
             "|---|---|---:|---:|---|---:|---:|"]
    for name, runs in details["runs"].items():
        for pol, run in runs.items():
            r = run.get("redis")
            if not r:
                continue
            cmds = ", ".join(f"{k} {v}" for k, v in sorted(r["top_level_commands"].items()))
            lines.append(f"| {name} | {pol} | {fmt(r['round_trips_per_request'], '.2f')} | "
                         f"{fmt(r['choose_calls_per_request'], '.2f')} | {cmds} | "
                         f"{fmt(r.get('commands_inside_scripts_per_request'), '.0f')} | "
                         f"{fmt(r['choose_inside_redis_p50_us'], '.0f')} / "
                         f"{fmt(r['choose_inside_redis_p99_us'], '.0f')} |")
    return "\n".join(lines)


def latency_table(lat: dict[str, Any]) -> str:
    m, r = lat["memory"], lat["redis"]
    return "\n".join([
        "| store | choose p50 (µs) | choose p99 (µs) | choose max (µs) |", "|---|---:|---:|---:|",
        f"| MemoryAffinity | {m['choose_p50_us']:.0f} | {m['choose_p99_us']:.0f} | {m['choose_max_us']:.0f} |",
        f"| RedisAffinity | {r['choose_p50_us']:.0f} | {r['choose_p99_us']:.0f} | {r['choose_max_us']:.0f} |",
        f"| added by Redis | {lat['added_p50_us']:.0f} | {lat['added_p99_us']:.0f} | |",
        f"| (PING round trip) | {lat['ping']['p50_us']:.0f} | {lat['ping']['p99_us']:.0f} | |",
        f"| (CHOOSE script inside Redis) | {fmt(r.get('server_choose_p50_us'), '.0f')} | "
        f"{fmt(r.get('server_choose_p99_us'), '.0f')} | |",
    ])


def targets_table(ts: list[dict[str, Any]]) -> str:
    lines = ["| workload | target | result | figures |", "|---|---|---|---|"]
    for t in ts:
        lines.append(f"| {t['workload']} | {t['target']} | {'PASS' if t['pass'] else 'FAIL'} | {t['detail']} |")
    return "\n".join(lines)


def extras_table(details: dict[str, Any]) -> str:
    lines = ["| workload | policy | evicted tokens | replicas per key | client-side hit rate | wall (s) | "
             "load avg (1 min) | decisions |", "|---|---|---:|---:|---:|---:|---:|---|"]
    for name, runs in details["runs"].items():
        for pol, r in runs.items():
            dec = ""
            if r.get("affinity"):
                merged: dict[str, int] = {}
                for a in r["affinity"]:
                    for k, v in (a.get("decisions") or {}).items():
                        merged[k] = merged.get(k, 0) + v
                dec = ", ".join(f"{k} {v}" for k, v in sorted(merged.items()))
            spread, client = fmt(r.get("replicas_per_key_mean"), ".2f"), fmt(r["client_hit_rate"], ".3f")
            lines.append(f"| {name} | {pol} | {r['evicted_tokens']:,} | {spread} | {client} | "
                         f"{r['wall_s']:.1f} | {r['loadavg_1m_end']:.1f} | {dec} |")
    return "\n".join(lines)


def write_outputs(out_prefix: Path, result: dict[str, Any], notes: str | None) -> None:
    table, details = result["table"], result["details"]
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    clean = {w: {p: {k: (None if isinstance(v, float) and v != v else round(v, 4)) for k, v in row.items()}
                 for p, row in rows.items()} for w, rows in table.items()}
    out_prefix.with_suffix(".json").write_text(json.dumps(clean, indent=2) + "\n")
    detail_path = out_prefix.with_name(out_prefix.name + ".details.json")
    detail_path.write_text(json.dumps(details, indent=2, default=str) + "\n")
    out_prefix.with_suffix(".md").write_text(render_md(table, details, notes, out_prefix.name))


def render_md(table: dict[str, dict[str, Any]], details: dict[str, Any], notes: str | None,
              prefix_name: str = "cache_affinity") -> str:
    """The markdown report; ``prefix_name``: the output prefix's file name (the details and notes files'
    names start with it)."""
    cfg, m, lat = details["config"], details["machine"], details["latency"]
    wls = details["workloads"]
    wl_lines = []
    for name, w in wls.items():
        wl_lines.append(f"- **{name}**: {w['requests']} requests, parameters `{json.dumps(w['params'])}`; distinct "
                        f"tokens to cache {w['footprint']['total_tokens']:,} (largest group/conversation "
                        f"{w['footprint']['largest_key_tokens']:,}); Σ prompt tokens {w['prompt_tokens']:,}; "
                        f"upper bound (one unlimited cache, in order) {w['upper_bound_hit_rate']:.3f}.")
    parts = [
        "# Prefix-cache affinity: tierroute vs sgl-router",
        "",
        f"Generated by `bench/cache_affinity.py` ({details['mode']} run). Command: `{details['command']}`",
        "",
        f"Machine: {m['cpus']} CPUs, {m['platform']}, Python {m['python']}; load average (1/5/15 min) "
        f"{'/'.join(f'{x:.1f}' for x in m['loadavg_start'])} at the start and "
        f"{'/'.join(f'{x:.1f}' for x in m['loadavg_end'])} at the end; wall time {details['wall_s']:.0f} s.",
        "",
        f"Workers: four `tierroute sim-worker` processes `{' '.join(cfg['worker_flags'])}` (TTFT = "
        f"{cfg['sim']['ttft_ms']} ms + uncached prompt tokens / {cfg['sim']['prefill_tps']:.0f} per s). "
        f"Client: at most {cfg['concurrency']} requests in flight, streaming. tierroute proxy: {cfg['proxy']}; "
        f"balance overrides: `{json.dumps(cfg['balance_overrides'])}` (empty: the policy defaults). "
        f"sgl-router {details['sgl_router']['version']}: {details['sgl_router']['flags']}.",
        "",
        "Workloads:",
        "",
        *wl_lines,
        "",
        "## Results",
        "",
        "hit rate = Σ cached / Σ prompt tokens over the four workers' `/sim/stats`; TTFT measured client-side "
        "(request sent → first streamed chunk; through a router it includes the router's hop; round_robin and "
        "least_loaded go straight to the workers); load max/mean = the most requests one worker served / the mean. "
        "round_robin and least_loaded are chosen client-side (least_loaded: fewest of the client's requests in "
        "flight, ties rotating -- the rule of tierroute's `least_loaded`). Every live policy ran "
        f"{details.get('repeat', 1)} time(s) at the main capacity, each time on freshly reset workers and freshly "
        f"started routers; the table shows the mean (per-run figures in `{prefix_name}.details.json`). "
        "Sweep points ran once.",
        "",
        main_tables(table, details),
        "**oracle**: a clairvoyant router computed offline from the same requests and the workers' own radix cache "
        "(`fleet.sim.radix.RadixCache`, LRU, the per-worker capacity): every prefix group / conversation stays on "
        "one replica, groups spread largest-first onto the replica with the fewest requests (then prompt tokens); "
        "each replica serves its requests one at a time in the planned order (match the prompt less its last token, "
        "then cache prompt + answer). Its TTFT is modelled (base + uncached / prefill rate; no queueing, no "
        "network), its load is the request split of that placement. It is what ideal placement reaches with the "
        "real cache size and no concurrency; the workload's upper bound above (one unlimited cache) ignores "
        "capacity too.",
        "",
        "## Targets",
        "",
        targets_table(details["targets"]),
        "",
        "## Hit rate vs per-worker cache size",
        "",
        sweep_table(details) or "(no sweep in this run: `--sweep`)",
        "",
        "## Redis",
        "",
        "Round trips per request of `tierroute_3` / `tierroute_6` (three / six proxies, one private Redis), from "
        "Redis' slow log with "
        "threshold 0: every command a client sent counts as a round trip; the calls a script makes (logged with "
        "client `?:0`) are counted in their own column:",
        "",
        redis_table(details),
        "",
        f"Decision latency, `bench/affinity_latency.py` ({lat['decisions']} decisions after {lat['warmup']} warm-up, "
        f"one at a time, same inputs for both stores: fingerprints of generated-shared-prefix prompts, "
        f"{lat['blocks_per_prompt_mean']:.0f} blocks each on average, {lat['candidates']} replicas):",
        "",
        latency_table(lat),
        "",
        "## Per-run details",
        "",
        extras_table(details),
        "",
        "replicas per key: distinct replicas that served one prefix group / conversation (tierroute: from "
        "`x-tierroute-replica`; direct policies: the worker); decisions: tierroute's rule outcomes from "
        f"`/admin/stats` (summed over proxies). Everything else is in `{prefix_name}.details.json`.",
        "",
    ]
    if notes:
        parts += ["## Notes", "", f"*Hand-written (`docs/benchmarks/{prefix_name}.notes.md`), not regenerated by the "
                  "run: check them against the tables above.*", "", notes.strip(), ""]
    return "\n".join(parts)


def print_summary(result: dict[str, Any]) -> None:
    table, details = result["table"], result["details"]
    print()
    print(main_tables(table, details))
    print(targets_table(details["targets"]))
    print()
    s = sweep_table(details)
    if s:
        print(s)
    print(redis_table(details))
    print()
    print(latency_table(details["latency"]))
    print()
    print(extras_table(details))
    print(f"\nwall {details['wall_s']:.0f} s; load average {details['machine']['loadavg_start']} -> "
          f"{details['machine']['loadavg_end']}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="prefix-cache affinity benchmark (issue 4)")
    p.add_argument("--quick", action="store_true", help="small workloads, no sweep: under a minute")
    p.add_argument("--sweep", dest="sweep", action="store_true", default=None, help="run the cache-size sweep")
    p.add_argument("--no-sweep", dest="sweep", action="store_false")
    p.add_argument("--capacity", type=int, help="per-worker KV tokens of the main table (default by mode)")
    p.add_argument("--concurrency", type=int, help="requests in flight (default 16)")
    p.add_argument("--repeat", type=int, help="runs per policy at the main capacity, averaged (default: quick 1, "
                   "full 3); sweep points run once")
    p.add_argument("--policies", nargs="*", choices=POLICIES,
                   help=f"which to run (default: {' '.join(DEFAULT_POLICIES)}; the _6 ones only when named)")
    p.add_argument("--workloads", nargs="*", choices=(GSP, MULTI_TURN), help="a subset (default: both)")
    p.add_argument("--balance", action="append", metavar="KEY=VALUE",
                   help="tierroute policy balance.* override, e.g. match_threshold=0.1 (repeatable)")
    p.add_argument("--real-serve", action="store_true", help="start `tierroute serve` (loads the classifier)")
    p.add_argument("--sgl-router-python", help="an interpreter with sglang_router (default: bench/.venvs)")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "cache_affinity"),
                   help="output prefix: PREFIX.md, PREFIX.json, PREFIX.details.json")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--notes", help="a file whose text goes under 'Notes' in the markdown (default: "
                   "PREFIX.notes.md when it exists, e.g. docs/benchmarks/cache_affinity.notes.md)")
    p.add_argument("--log-dir", help="child process logs (default: a temporary directory)")
    p.add_argument("--render-from", metavar="PREFIX",
                   help="run nothing: re-render PREFIX.json + PREFIX.details.json (e.g. with new notes) into --out")
    ns = p.parse_args(argv)
    install_signal_handlers()
    if ns.render_from:
        src = Path(ns.render_from)
        result = {"table": json.loads(src.with_suffix(".json").read_text()),
                  "details": json.loads(src.with_name(src.name + ".details.json").read_text())}
    else:
        result = run(ns)
    print_summary(result)
    if not ns.no_write:
        notes_path = Path(ns.notes) if ns.notes else Path(ns.out + ".notes.md")  # hand-written, kept across runs
        notes = notes_path.read_text() if notes_path.exists() else None
        write_outputs(Path(ns.out), result, notes)
        print(f"wrote {ns.out}.md, {ns.out}.json, {ns.out}.details.json" + (f" (notes: {notes_path})" if notes else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
