"""What one Redis primary sustains with tierroute's own scripts (issue 14, point 4).

A private ``redis-server`` (no persistence) on a free port, pinned to the last core with ``taskset``;
this script, ``redis-benchmark`` and the mix driver on the first. The calls are the stores' own:
the Lua comes from the modules (``router.balance.redis_affinity.SCRIPTS``, ``router.redis_limits.SCRIPTS``)
and every KEYS/ARGV list from the stores' builders (``choose_call``, ``finish_call``, ``admit_call``,
``charge_call``, ``conversations.redis_key``/``ttl_px``), on inputs shaped like the project's two
benchmarks:

* ``short`` -- the auto path of ``bench/overhead.py`` (``tierroute_auto_redis``): unique one-turn prompts
  (``loadgen.prompt``), two replicas per tier whose capacity is unknown (each replica's zset bounded
  by ``affinity.MAX_ENTRIES``), whole answers (no prefill marks);
* ``long`` -- the generated-shared-prefix workload of ``bench/cache_affinity.py`` (32 groups x 16
  questions, 2,048-token system prompts, ~46 blocks a prompt), four replicas of 32,768 KV tokens
  (capacity in blocks as ``cache_aware`` computes it before it has learnt the characters per token),
  streamed (prefill marks on, cleared by a ``ZREM`` after the first token).

Two measurements, each at a few connection counts x pipeline depths (a proxy process holds one
pipelined connection: ``router.redis_client.RedisPipe``; N proxy processes are N connections):

1. **redis-benchmark, one command at a time**: ``redis-benchmark -p P -n N -c C -P D -r R --csv EVALSHA sha
   numkeys keys... args...``. ``__rand_int__`` stands for what changes per request: the blocks a
   prompt does not share (all of a short prompt's, the question's of a long one; a real chain hash's
   first 4 hex digits + 12 random digits), the conversation key; the lease is one per replica (a
   lease per call would pile up without the ``FINISH`` that releases it, which redis-benchmark cannot
   pair). ``N`` is sized from a short calibration run so that a run lasts ``--seconds``.
2. **the per-request mix**, paired as the proxy pairs it: per request ``CHOOSE`` + the conversation's
   ``SET`` in one write, then, with the next write, the ``FINISH`` of the lease ``CHOOSE`` returned (and
   for ``long`` the ``ZREM`` of the prefill marks it set); with ``+limits`` also ``ADMIT`` before and
   ``CHARGE`` after. A connection writes ``depth`` requests, reads their replies, and so on (closed
   loop); every reply is checked (an error reply fails the run). ``long`` cycles the workload for four
   seeds (128 prefix groups: the replicas' capacities are exceeded, so entries are trimmed as in
   production); ``short`` prompts are all distinct.

Per run: requests (or calls) per second; Redis' CPU (``/proc/<pid>/task/*/schedstat``: nanoseconds on
CPU, all threads) over the run divided by the calls/requests: **Redis CPU µs per call/request**, and
``1e6 / that`` = what one fully busy Redis core would sustain; the shares of the wall time Redis was on CPU
and runnable but waiting for its core (schedstat's run delay: the machine is shared);
for the mix also the driver's own CPU share (near 100 %: the client, not Redis, was the limit) and the
Redis commands per request (``INFO commandstats``, which counts the calls scripts make too). The machine
is shared: the load average is kept with every run, runs are repeated (``--rounds``) and reported as
median and min-max.

Run: ``.venv/bin/python bench/redis_capacity.py [--quick] [--rounds N] [--seconds S]``. Results:
``docs/benchmarks/redis_capacity.{md,json}`` (``--out PREFIX``; ``--no-write`` prints only).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (ROOT, HERE):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import hiredis  # noqa: E402
import redis  # noqa: E402
import uvloop  # noqa: E402
from cache_affinity_procs import Procs, free_port, install_signal_handlers  # noqa: E402
from cache_affinity_workloads import generated_shared_prefix  # noqa: E402
from loadgen import prompt as short_prompt  # noqa: E402
from overhead_router import redis_server_cmd, wait_redis  # noqa: E402

from router.api.http import RequestIds  # noqa: E402
from router.auth import Principal  # noqa: E402
from router.balance.affinity import AffinityParams  # noqa: E402
from router.balance.cache_aware import CAPACITY_SLACK, DEFAULT_CHARS_PER_TOKEN, capacity_blocks  # noqa: E402
from router.balance.fingerprint import fingerprint  # noqa: E402
from router.balance.redis_affinity import SCRIPTS as AFFINITY_SCRIPTS  # noqa: E402
from router.balance.redis_affinity import choose_call, finish_call, key_prefix  # noqa: E402
from router.balance.rule import Candidate, RuleParams  # noqa: E402
from router.conversations import conversation_keys, redis_key, ttl_px  # noqa: E402
from router.limits import period  # noqa: E402
from router.policy.model import Balance, Budget  # noqa: E402
from router.policy.routing import Sticky  # noqa: E402
from router.redis_client import _pack, script_sha  # noqa: E402
from router.redis_limits import SCRIPTS as LIMIT_SCRIPTS  # noqa: E402
from router.redis_limits import admit_call, charge_call  # noqa: E402

Arg = str | bytes | int | float
T = TypeVar("T")
TIER = "small"  # the scope of the affinity keys (a tier's name)
LONG_MODEL = "sim-model"
SHORT_MODEL = "mock-model"
LONG_KV_TOKENS = 32_768  # per replica, as bench/cache_affinity.py's full run
LONG_SEEDS = 4  # workload seeds cycled by the long mix: 128 prefix groups, more than the replicas hold
RAND = "__rand_int__"
RANDOM_SPACE = 1_000_000_000  # redis-benchmark -r: 12-digit numbers below this
PRINCIPAL = Principal("bench-key", None, requests_per_minute=10_000_000, tokens_per_minute=1_000_000_000,
                      budget=Budget(usd_per_day=1e6, usd_per_month=1e7, on_exhausted="refuse"))
CHARGE_TOKENS, CHARGE_USD = 480, 0.00042  # one answer's tokens and cost
GRID_FULL = ((1, 1), (1, 8), (4, 1), (4, 8), (16, 1), (16, 8))  # (connections, pipeline depth)
GRID_QUICK = ((1, 1), (4, 8))
SCRIPT_SOURCES = {**{f"affinity.{k}": v for k, v in AFFINITY_SCRIPTS.items()},
                  **{f"limits.{k}": v for k, v in LIMIT_SCRIPTS.items()}}


def wire(a: Arg) -> str:
    """An argument as the proxy's pipe writes it (``router.redis_client._pack``)."""
    return a if isinstance(a, str) else a.decode() if isinstance(a, bytes) else repr(a) if isinstance(a, float) \
        else str(a)


def evalsha(source: str, keys: Sequence[str], args: Sequence[Arg]) -> list[Arg]:
    return ["EVALSHA", script_sha(source), len(keys), *keys, *args]


def randomized(block: str) -> str:
    """A chain hash that redis-benchmark makes new on every call: 4 real hex digits + 12 random ones."""
    return block[:4] + RAND


# -- the inputs ---------------------------------------------------------------------------------

@dataclass
class Req:
    """One request's calls: packed as the proxy's pipe packs them, plus what the after-calls need."""

    blocks: list[str]
    lease: str
    choose: bytes
    conv_set: bytes


@dataclass
class Shape:
    name: str  # short | long
    what: str
    candidates: list[Candidate]
    params: AffinityParams
    requests: list[Req]
    shared_blocks: int  # blocks the redis-benchmark CHOOSE keeps fixed (a prefix group's head)
    example: Req  # the request whose call redis-benchmark sends (its unshared blocks randomized)

    @property
    def blocks_mean(self) -> float:
        return sum(len(r.blocks) for r in self.requests) / len(self.requests)


def candidates(n: int, model: str, max_running: int, capacity: int) -> list[Candidate]:
    """As ``cache_aware`` builds them: the replica's key, its server info, nothing running or queued."""
    return [Candidate(f"sglang http://127.0.0.1:{30000 + i} {model}", True, max_running, 0, 1.0, capacity)
            for i in range(n)]


def params(stream: bool) -> AffinityParams:
    """As ``cache_aware`` builds them from the policy's defaults."""
    b = Balance()
    return AffinityParams(RuleParams(b.match_threshold, b.balance_abs_threshold, b.balance_rel_threshold),
                          b.entry_ttl_s, b.lease_ttl_s, 2 * b.prefill_wait_s if stream else 0.0)


def make_req(messages: list[dict[str, str]], model: str, cands: list[Candidate], p: AffinityParams,
             ids: RequestIds, sticky_ttl_s: float) -> Req:
    b = Balance()
    blocks = fingerprint({"messages": messages}, model, block_chars=b.block_chars, max_blocks=b.max_blocks)
    lease = ids.new()
    conv = conversation_keys(messages, {}, f"{PRINCIPAL.name}|auto")
    return Req(blocks, lease, _pack(evalsha(AFFINITY_SCRIPTS["choose"], *choose_call(TIER, blocks, cands, lease, p))),
               _pack(["SET", redis_key(conv.store), TIER, "PX", ttl_px(sticky_ttl_s)]))


def short_shape(count: int) -> Shape:
    cands, p, ids = candidates(2, SHORT_MODEL, 4096, 0), params(stream=False), RequestIds()  # the mock's info
    tag = os.urandom(4).hex()
    reqs = [make_req([{"role": "user", "content": short_prompt(tag, i)}], SHORT_MODEL, cands, p, ids, Sticky().ttl_s)
            for i in range(count)]
    return Shape("short", f"{count:,} distinct one-turn prompts (bench/loadgen.py), 2 replicas, capacity unknown "
                 "(zsets bounded by MAX_ENTRIES), whole answers", cands, p, reqs, 0, reqs[0])


def long_shape(seeds: int = LONG_SEEDS) -> Shape:
    b = Balance()
    cap = capacity_blocks(LONG_KV_TOKENS, b.block_chars, chars_per_token=DEFAULT_CHARS_PER_TOKEN * CAPACITY_SLACK)
    cands, p, ids = candidates(4, LONG_MODEL, 16, cap), params(stream=True), RequestIds()  # sim-worker's
    reqs: list[Req] = []
    first_group: list[Req] = []
    for seed in range(seeds):
        wl = generated_shared_prefix(groups=32, per_group=16, system_tokens=2048, question_tokens=128, max_tokens=32,
                                     seed=seed)
        for r in wl.requests:
            req = make_req(r.messages, LONG_MODEL, cands, p, ids, Sticky().ttl_s)
            reqs.append(req)
            if seed == 0 and r.key == wl.requests[0].key:
                first_group.append(req)
    shared = len(os.path.commonprefix([r.blocks for r in first_group]))  # element-wise: the group's shared blocks
    return Shape("long", f"generated shared prefix, {seeds} seeds x 32 groups x 16 questions (2,048-token "
                 f"system prompts), 4 replicas of {LONG_KV_TOKENS:,} KV tokens = {cap:,} blocks each, streamed "
                 "(prefill marks)", cands, p, reqs, shared, first_group[0])


# -- redis-benchmark ------------------------------------------------------------------------------

@dataclass
class BenchCommand:
    name: str
    what: str
    argv: list[str]
    warm: str | None  # the shape whose state is loaded first (a pass of its mix), or None


def bench_commands(shapes: dict[str, Shape]) -> list[BenchCommand]:
    out: list[BenchCommand] = []
    for s in shapes.values():
        ex = s.example
        blocks = [b if i < s.shared_blocks else randomized(b) for i, b in enumerate(ex.blocks)]
        keys, args = choose_call(TIER, blocks, s.candidates, "lease-" + s.name, s.params)
        out.append(BenchCommand(f"CHOOSE {s.name}", f"{len(blocks)} blocks ({s.shared_blocks} fixed), "
                                f"{len(s.candidates)} replicas", [wire(a) for a in evalsha(
                                    AFFINITY_SCRIPTS["choose"], keys, args)], s.name))
    long = shapes.get("long")
    if long is not None:
        tail = [randomized(b) for b in long.example.blocks[long.shared_blocks:]]
        out.append(BenchCommand("ZREM fill marks", f"{len(tail)} blocks (the question's)",
                                ["ZREM", key_prefix(TIER) + "fill:" + long.candidates[0].key, *tail], "long"))
    any_shape = next(iter(shapes.values()))
    out.append(BenchCommand("FINISH", "release a lease, nothing forgotten", [wire(a) for a in evalsha(
        AFFINITY_SCRIPTS["finish"], *finish_call(TIER, any_shape.candidates[0].key, "lease-" + any_shape.name))],
        any_shape.name))
    digest = "0" * 20 + RAND  # a conversation key: 32 hex digits
    out.append(BenchCommand("SET conversation", "tier, PX 30 min", ["SET", redis_key(digest), TIER, "PX",
                                                                    str(ttl_px(1800.0))], None))
    out.append(BenchCommand("GET conversation", "a later turn's lookup", ["GET", redis_key(digest)], None))
    per = period(time.time())
    out.append(BenchCommand("ADMIT", "rpm + tpm + day/month budget, admitted",
                            [wire(a) for a in evalsha(LIMIT_SCRIPTS["admit"], *admit_call(PRINCIPAL, per))], None))
    out.append(BenchCommand("CHARGE", f"{CHARGE_TOKENS} tokens, ${CHARGE_USD}", [wire(a) for a in evalsha(
        LIMIT_SCRIPTS["charge"], *charge_call(PRINCIPAL, CHARGE_TOKENS, CHARGE_USD, per))], None))
    return out


def redis_benchmark(port: int, argv: Sequence[str], n: int, clients: int, depth: int) -> dict[str, float]:
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", str(n), "-c", str(clients), "-P", str(depth),
           "-r", str(RANDOM_SPACE), "--csv", *argv]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"redis-benchmark failed ({r.returncode}): {r.stderr[-500:]}")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    if len(rows) != 1:
        raise RuntimeError(f"unexpected redis-benchmark output: {r.stdout[-500:]}")
    return {k: float(v) for k, v in rows[0].items() if k != "test"}


# -- the paired mix ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mix:
    shape: str
    limits: bool

    @property
    def name(self) -> str:
        return f"{self.shape}{' +limits' if self.limits else ''}"

    def commands(self, shapes: dict[str, Shape]) -> str:
        parts = (["ADMIT"] if self.limits else []) + ["CHOOSE", "SET"] + \
            (["ZREM fill marks"] if shapes[self.shape].params.fill_ttl_s > 0 else []) + ["FINISH"] + \
            (["CHARGE"] if self.limits else [])
        return " + ".join(parts)


@dataclass
class MixCounts:
    requests: int = 0
    sent: int = 0  # top-level commands
    reasons: dict[str, int] = field(default_factory=dict)
    matched_blocks: int = 0


class Driver:
    """Sends a shape's requests over ``conns`` connections, ``depth`` requests a write (see the module doc)."""

    def __init__(self, port: int, shape: Shape, mix: Mix) -> None:
        self.port = port
        self.shape = shape
        self.mix = mix
        self.next_req: Iterator[Req] = itertools.cycle(shape.requests)
        per = period(time.time())
        self.admit = _pack(evalsha(LIMIT_SCRIPTS["admit"], *admit_call(PRINCIPAL, per)))
        self.charge = _pack(evalsha(LIMIT_SCRIPTS["charge"], *charge_call(PRINCIPAL, CHARGE_TOKENS, CHARGE_USD, per)))
        self.counts = MixCounts()

    async def run(self, conns: int, depth: int, seconds: float | None, requests: int | None = None) -> float:
        """Until ``seconds`` have passed (or ``requests`` were sent); returns the wall time."""
        opened = [await asyncio.open_connection("127.0.0.1", self.port) for _ in range(conns)]
        budget = [requests] if requests is not None else None
        t0 = time.perf_counter()
        deadline = t0 + seconds if seconds is not None else float("inf")
        try:
            await asyncio.gather(*(self._conn(r, w, depth, deadline, budget) for r, w in opened))
        finally:
            for _, w in opened:
                w.close()
        return time.perf_counter() - t0

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, depth: int, deadline: float,
                    budget: list[int] | None) -> None:
        parser = hiredis.Reader()
        after: list[bytes] = []  # the previous batch's FINISH (+ ZREM, CHARGE): they go with the next write
        while time.perf_counter() < deadline and (budget is None or budget[0] > 0):
            n = depth if budget is None else min(depth, budget[0])
            if budget is not None:
                budget[0] -= n
            batch = [next(self.next_req) for _ in range(n)]
            out = list(after)
            for r in batch:
                if self.mix.limits:
                    out.append(self.admit)
                out += [r.choose, r.conv_set]
            writer.write(b"".join(out))
            replies = await read_replies(reader, parser, len(out))
            per_req, first = (3, len(after) + 1) if self.mix.limits else (2, len(after))  # [ADMIT,] CHOOSE, SET
            after = []
            for i, r in enumerate(batch):
                after += self._after(r, replies[first + i * per_req])
            self.counts.requests += n
            self.counts.sent += len(out)
        if after:
            writer.write(b"".join(after))
            await read_replies(reader, parser, len(after))
            self.counts.sent += len(after)

    def _after(self, r: Req, choice: Any) -> list[bytes]:
        replica, reason, matched = choice[0].decode(), choice[1].decode(), int(choice[2])
        self.counts.reasons[reason] = self.counts.reasons.get(reason, 0) + 1
        self.counts.matched_blocks += matched
        out = [_pack(evalsha(AFFINITY_SCRIPTS["finish"], *finish_call(TIER, replica, r.lease)))]
        if self.shape.params.fill_ttl_s > 0 and matched < len(r.blocks):  # cache_aware clears its marks
            out.insert(0, _pack(["ZREM", key_prefix(TIER) + "fill:" + replica, *r.blocks[matched:]]))
        if self.mix.limits:
            out.append(self.charge)
        return out


async def read_replies(reader: asyncio.StreamReader, parser: Any, n: int) -> list[Any]:
    replies: list[Any] = []
    while len(replies) < n:
        reply = parser.gets()
        if reply is False:
            data = await reader.read(1 << 16)
            if not data:
                raise ConnectionError("redis closed the connection")
            parser.feed(data)
            continue
        if isinstance(reply, hiredis.ReplyError):
            raise RuntimeError(f"redis answered an error: {reply}")
        replies.append(reply)
    return replies


# -- running it ------------------------------------------------------------------------------------

@dataclass
class Server:
    port: int
    pid: int
    client: redis.Redis
    core: int | None

    def sched_ns(self) -> tuple[int, int]:
        """(on CPU, runnable but waiting for a CPU) nanoseconds of every thread (``/proc/…/schedstat``)."""
        run = wait = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                fields = (task / "schedstat").read_text().split()
            except OSError:
                continue  # a thread that just ended
            run, wait = run + int(fields[0]), wait + int(fields[1])
        return run, wait

    def reset(self) -> None:
        self.client.flushall()
        self.client.config_resetstat()
        for src in SCRIPT_SOURCES.values():
            self.client.script_load(src)

    def calls(self) -> dict[str, int]:
        return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in self.client.info("commandstats").items()}


def start_server(procs: Procs, core: int | None) -> Server:
    port = free_port()
    cmd = redis_server_cmd(port, procs.log_dir)
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]
    proc = procs.start("redis-server", cmd)
    wait_redis(port)
    comm = Path(f"/proc/{proc.pid}/comm").read_text().strip()
    if not comm.startswith("redis-server"):
        raise RuntimeError(f"pid {proc.pid} is {comm!r}, not redis-server: its CPU could not be read")
    return Server(port, proc.pid, redis.Redis(port=port, socket_timeout=30), core)


@dataclass
class Timed:
    wall: float  # s
    cpu: float  # Redis on CPU, s
    wait: float  # Redis runnable but waiting for its core (other processes on it), s
    load: tuple[float, float]  # load average (1 min) before and after


def timed(server: Server, fn: Callable[[], T]) -> tuple[T, Timed]:
    load0 = os.getloadavg()[0]
    (c0, w0), t0 = server.sched_ns(), time.perf_counter()
    out = fn()
    wall, (c1, w1) = time.perf_counter() - t0, server.sched_ns()
    return out, Timed(wall, (c1 - c0) / 1e9, (w1 - w0) / 1e9, (load0, os.getloadavg()[0]))


def warm(server: Server, shape: Shape) -> None:
    """One pass of the shape's plain mix: the replicas' zsets hold what a running proxy's would."""
    if shape.name == "long":
        arun(Driver(server.port, shape, Mix(shape.name, False)).run(4, 8, None, len(shape.requests)))


def run_bench_command(server: Server, shapes: dict[str, Shape], c: BenchCommand, clients: int, depth: int,
                      seconds: float) -> dict[str, Any]:
    server.reset()
    if c.warm:
        warm(server, shapes[c.warm])
    calib_n = max(200, clients * depth * 20)
    calib = redis_benchmark(server.port, c.argv, calib_n, clients, depth)
    n = int(min(2_000_000, max(1000, calib["rps"] * seconds)))
    server.client.config_resetstat()
    res, t = timed(server, lambda: redis_benchmark(server.port, c.argv, n, clients, depth))
    stats = server.client.info("commandstats")
    top = "evalsha" if c.argv[0] == "EVALSHA" else c.argv[0].lower()
    return {"command": c.name, "clients": clients, "depth": depth, "n": n, "rps": res["rps"],
            "p50_ms": res["p50_latency_ms"], "p99_ms": res["p99_latency_ms"], "wall_s": t.wall,
            "redis_cpu_us_per_call": t.cpu * 1e6 / n, "redis_busy": t.cpu / t.wall, "redis_waiting": t.wait / t.wall,
            "usec_per_call_inside": float(stats.get(f"cmdstat_{top}", {}).get("usec_per_call", 0.0)),
            "load_start": t.load[0], "load_end": t.load[1]}


def run_mix(server: Server, shapes: dict[str, Shape], mix: Mix, conns: int, depth: int,
            seconds: float) -> dict[str, Any]:
    server.reset()
    shape = shapes[mix.shape]
    warm(server, shape)
    server.client.config_resetstat()
    driver = Driver(server.port, shape, mix)
    before = server.calls()
    p0 = time.process_time()
    wall, t = timed(server, lambda: arun(driver.run(conns, depth, seconds)))
    client_cpu = time.process_time() - p0
    after = server.calls()
    mine = {"config", "info", "flushall", "script"}
    calls = {k: v - before.get(k, 0) for k, v in after.items() if k not in mine and v - before.get(k, 0) > 0}
    k = driver.counts
    total_calls = sum(calls.values())
    return {"mix": mix.name, "commands": mix.commands(shapes), "conns": conns, "depth": depth,
            "requests": k.requests, "wall_s": wall, "rps": k.requests / wall,
            "redis_cpu_us_per_request": t.cpu * 1e6 / k.requests, "redis_busy": t.cpu / wall,
            "redis_waiting": t.wait / wall, "client_busy": client_cpu / wall,
            "top_level_per_request": k.sent / k.requests,
            "calls_inside_scripts_per_request": (total_calls - k.sent) / k.requests,
            "calls_by_command": calls, "reasons": k.reasons, "matched_blocks_mean": k.matched_blocks / k.requests,
            "load_start": t.load[0], "load_end": t.load[1]}


def arun(coro: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def pin(core: int) -> None:
    os.sched_setaffinity(0, {core})


def choose_cores() -> tuple[int | None, int | None]:
    """(Redis' core, the clients' core): the last and the first, when there are two and taskset exists."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2 or shutil.which("taskset") is None:
        return None, None
    return cores[-1], cores[0]


def median_spread(xs: Sequence[float]) -> tuple[float, float, float]:
    return statistics.median(xs), min(xs), max(xs)


def summarize(rows: list[dict[str, Any]], key: Sequence[str], metrics: Sequence[str]) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in key), []).append(r)
    out = []
    for g, rs in groups.items():
        row: dict[str, Any] = dict(zip(key, g, strict=True))
        row["rounds"] = len(rs)
        for m in metrics:
            row[m] = median_spread([r[m] for r in rs])
        row["load"] = (min(r["load_start"] for r in rs), max(r["load_end"] for r in rs))
        out.append(row)
    return out


def derived(bench: list[dict[str, Any]], mixes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per mix and grid point: Σ Redis CPU µs per call (redis-benchmark, medians) of the mix's commands."""
    by = {(r["command"], r["clients"], r["depth"]): r["redis_cpu_us_per_call"][0] for r in bench}
    out = []
    for m in mixes:
        names = []
        for part in m["commands"].split(" + "):
            names.append(f"CHOOSE {m['mix'].split()[0]}" if part == "CHOOSE" else
                         "SET conversation" if part == "SET" else part)
        us = [by.get((n, m["conns"], m["depth"])) for n in names]
        if any(u is None for u in us):
            continue
        total = sum(u for u in us if u is not None)
        out.append({"mix": m["mix"], "conns": m["conns"], "depth": m["depth"], "commands": m["commands"],
                    "sum_us": total, "measured_us": m["redis_cpu_us_per_request"][0],
                    "per_core_rps_sum": 1e6 / total, "per_core_rps_measured": 1e6 / m["redis_cpu_us_per_request"][0]})
    return out


def run(ns: argparse.Namespace) -> dict[str, Any]:
    grid = GRID_QUICK if ns.quick else GRID_FULL
    rounds = ns.rounds or (1 if ns.quick else 3)
    seconds = ns.seconds or (1.0 if ns.quick else 3.0)
    redis_core, client_core = choose_cores()
    if client_core is not None:
        pin(client_core)
    t_start, load_start = time.time(), os.getloadavg()
    print("preparing inputs ...", flush=True)
    shapes = {"short": short_shape(20_000 if ns.quick else 200_000), "long": long_shape()}
    commands = bench_commands(shapes)
    mixes = [Mix(s, lim) for s in shapes for lim in (False, True)]
    bench_rows: list[dict[str, Any]] = []
    mix_rows: list[dict[str, Any]] = []
    with Procs(ns.log_dir) as procs:
        server = start_server(procs, redis_core)
        version = server.client.info("server")["redis_version"]
        print(f"redis-server {version} on port {server.port}, core {redis_core}; clients on core {client_core}",
              flush=True)
        for rnd in range(rounds):
            for clients, depth in grid:
                for c in commands:
                    r = run_bench_command(server, shapes, c, clients, depth, seconds)
                    r["round"] = rnd
                    bench_rows.append(r)
                    print(f"  r{rnd} c={clients:<2} P={depth:<2} {c.name:<17} {r['rps']:>9,.0f} calls/s  "
                          f"redis {r['redis_cpu_us_per_call']:6.1f} µs/call  on CPU {r['redis_busy']:.0%} "
                          f"waiting {r['redis_waiting']:.0%}  load {r['load_end']:.1f}", flush=True)
                for m in mixes:
                    r = run_mix(server, shapes, m, clients, depth, seconds)
                    r["round"] = rnd
                    mix_rows.append(r)
                    print(f"  r{rnd} c={clients:<2} D={depth:<2} mix {m.name:<13} {r['rps']:>8,.0f} req/s  redis "
                          f"{r['redis_cpu_us_per_request']:6.1f} µs/req  on CPU {r['redis_busy']:.0%} waiting "
                          f"{r['redis_waiting']:.0%}  client {r['client_busy']:.0%}  load {r['load_end']:.1f}",
                          flush=True)
    bench_sum = summarize(bench_rows, ("command", "clients", "depth"),
                          ("rps", "p50_ms", "redis_cpu_us_per_call", "redis_busy", "redis_waiting",
                           "usec_per_call_inside"))
    mix_sum = summarize(mix_rows, ("mix", "commands", "conns", "depth"),
                        ("rps", "redis_cpu_us_per_request", "redis_busy", "redis_waiting", "client_busy",
                         "top_level_per_request",
                         "calls_inside_scripts_per_request", "matched_blocks_mean"))
    return {
        "command": " ".join([".venv/bin/python", "bench/redis_capacity.py", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "redis_version": version, "redis_core": redis_core, "client_core": client_core,
                    "loadavg_start": load_start, "loadavg_end": os.getloadavg()},
        "wall_s": time.time() - t_start, "rounds": rounds, "seconds_per_run": seconds, "grid": grid,
        "shapes": {s.name: {"what": s.what, "requests": len(s.requests), "blocks_mean": s.blocks_mean,
                            "candidates": len(s.candidates), "params": asdict(s.params)} for s in shapes.values()},
        "bench_commands": [{"name": c.name, "what": c.what, "argv_head": c.argv[:3], "args": len(c.argv)}
                           for c in commands],
        "bench": bench_sum, "mix": mix_sum, "derived": derived(bench_sum, mix_sum),
        "raw": {"bench": bench_rows, "mix": mix_rows},
    }


# -- reports ----------------------------------------------------------------------------------------

def ms(x: tuple[float, float, float], spec: str, scale: float = 1.0) -> str:
    m, lo, hi = (v * scale for v in x)
    return f"{m:{spec}} ({lo:{spec}}–{hi:{spec}})" if hi != lo else f"{m:{spec}}"


def busy(r: dict[str, Any]) -> str:
    return f"{r['redis_busy'][0]:.0%} / {r['redis_waiting'][0]:.0%}"


def bench_table(res: dict[str, Any]) -> str:
    lines = ["| command | conns | pipeline | calls/s | p50 ms | Redis CPU µs/call | Redis on CPU / waiting | "
             "calls/s per Redis core | µs inside (commandstats) | load |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in res["bench"]:
        lines.append(f"| {r['command']} | {r['clients']} | {r['depth']} | {ms(r['rps'], ',.0f')} | "
                     f"{r['p50_ms'][0]:.3f} | {ms(r['redis_cpu_us_per_call'], '.1f')} | {busy(r)} | "
                     f"{1e6 / r['redis_cpu_us_per_call'][0]:,.0f} | {r['usec_per_call_inside'][0]:.1f} | "
                     f"{r['load'][0]:.1f}–{r['load'][1]:.1f} |")
    return "\n".join(lines)


def mix_table(res: dict[str, Any]) -> str:
    lines = ["| mix | commands per request | conns | depth | req/s | Redis CPU µs/req | Redis on CPU / waiting | "
             "req/s per Redis core | client busy | Redis calls/req (sent + inside scripts) | load |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in res["mix"]:
        lines.append(f"| {r['mix']} | {r['commands']} | {r['conns']} | {r['depth']} | {ms(r['rps'], ',.0f')} | "
                     f"{ms(r['redis_cpu_us_per_request'], '.1f')} | {busy(r)} | "
                     f"{1e6 / r['redis_cpu_us_per_request'][0]:,.0f} | {r['client_busy'][0]:.0%} | "
                     f"{r['top_level_per_request'][0]:.2f} + {r['calls_inside_scripts_per_request'][0]:.1f} | "
                     f"{r['load'][0]:.1f}–{r['load'][1]:.1f} |")
    return "\n".join(lines)


def derived_table(res: dict[str, Any]) -> str:
    lines = ["| mix | conns | depth | Σ redis-benchmark µs/call | mix measured µs/req | req/s per core (Σ) | "
             "req/s per core (measured) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for d in res["derived"]:
        lines.append(f"| {d['mix']} | {d['conns']} | {d['depth']} | {d['sum_us']:.1f} | {d['measured_us']:.1f} | "
                     f"{d['per_core_rps_sum']:,.0f} | {d['per_core_rps_measured']:,.0f} |")
    return "\n".join(lines)


def decisions_line(res: dict[str, Any]) -> str:
    out = []
    for name in {r["mix"] for r in res["raw"]["mix"]}:
        merged: dict[str, int] = {}
        matched, n = 0.0, 0
        for r in res["raw"]["mix"]:
            if r["mix"] == name:
                for k, v in r["reasons"].items():
                    merged[k] = merged.get(k, 0) + v
                matched += r["matched_blocks_mean"] * r["requests"]
                n += r["requests"]
        out.append(f"- {name}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(merged.items())) +
                   f"; matched blocks per request {matched / n:.1f}")
    return "\n".join(sorted(out))


def render_md(res: dict[str, Any]) -> str:
    m = res["machine"]
    shapes = "\n".join(f"- **{n}**: {s['what']}; {s['blocks_mean']:.1f} blocks per prompt on average."
                       for n, s in res["shapes"].items())
    cmds = "\n".join(f"- `{c['name']}`: {c['what']} (`{' '.join(c['argv_head'])} …`, {c['args']} arguments)"
                     for c in res["bench_commands"])
    pinning = (f"redis-server pinned to core {m['redis_core']} (`taskset -c {m['redis_core']}`); this script, "
               f"redis-benchmark and the mix driver on core {m['client_core']}") if m["redis_core"] is not None \
        else "no pinning (fewer than 2 cores or no taskset)"
    return "\n".join([
        "# Redis capacity with tierroute's own scripts",
        "",
        f"Generated by `bench/redis_capacity.py`. Command: `{res['command']}`",
        "",
        f"Machine: {m['cpus']} CPUs, {m['platform']}, Python {m['python']}; Redis {m['redis_version']} "
        f"(`--save '' --appendonly no`); {pinning}. Load average (1/5/15 min) "
        f"{'/'.join(f'{x:.1f}' for x in m['loadavg_start'])} at the start, "
        f"{'/'.join(f'{x:.1f}' for x in m['loadavg_end'])} at the end; the machine was shared with other work. "
        f"{res['rounds']} round(s), about {res['seconds_per_run']:.0f} s per run; medians (min–max over rounds); "
        f"wall time {res['wall_s']:.0f} s.",
        "",
        "Inputs (built with the stores' own builders, the scripts loaded from their modules):",
        "",
        shapes,
        "",
        "## One command at a time (redis-benchmark)",
        "",
        cmds,
        "",
        "Redis CPU µs/call: the server's CPU time over the run (`/proc/<pid>/task/*/schedstat`) / calls, "
        "network and parsing included; calls/s per Redis core = 10⁶ / that, what the primary sustains when the "
        "command has its core to itself. On CPU / waiting: the shares of the run's wall time Redis ran and was "
        "runnable but waited for its core (schedstat's run delay: other processes on that core); their sum "
        "near 100 % means Redis always had work, so the clients were not the limit. µs inside: `INFO "
        "commandstats` usec_per_call, wall time inside the command, which also counts the time Redis was "
        "descheduled in the middle of one (above the CPU figure when the core is shared).",
        "",
        bench_table(res),
        "",
        "## Per request (the paired mix)",
        "",
        mix_table(res),
        "",
        "Decisions the mixes' `CHOOSE` calls returned (all rounds and grid points):",
        "",
        decisions_line(res),
        "",
        "## The mix from the single commands",
        "",
        "Σ of the mix's commands' Redis CPU µs per call from redis-benchmark at the same connections and depth, "
        "against the paired mix measured:",
        "",
        derived_table(res),
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Redis capacity with tierroute's own scripts (issue 14, point 4)")
    p.add_argument("--quick", action="store_true", help="two grid points, one round, 1 s runs")
    p.add_argument("--rounds", type=int, help="repeats of the whole grid (default: quick 1, full 3)")
    p.add_argument("--seconds", type=float, help="length of one run (default: quick 1, full 3)")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "redis_capacity"),
                   help="output prefix: PREFIX.md, PREFIX.json")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--log-dir", help="redis-server's files (default: a temporary directory)")
    ns = p.parse_args(argv)
    if shutil.which("redis-server") is None or shutil.which("redis-benchmark") is None:
        raise SystemExit("redis-server and redis-benchmark are needed (apt-get install redis-server redis-tools)")
    install_signal_handlers()
    res = run(ns)
    print()
    print(bench_table(res))
    print()
    print(mix_table(res))
    print()
    print(derived_table(res))
    print()
    print(decisions_line(res))
    if not ns.no_write:
        out = Path(ns.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(res, indent=1, default=str) + "\n")
        out.with_suffix(".md").write_text(render_md(res))
        print(f"wrote {out}.md and {out}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
