"""Closed-loop load generators for the overhead benchmark: aiohttp (Python) and ``wrk`` (C + Lua).

Both send OpenAI chat-completion POSTs with a *unique prompt per request* (a run tag and the
request's number lead the text, so no two requests share a prefix or a classifier input), keep
``concurrency`` requests in flight (each connection sends its next request when the previous
answer is complete) and stop after a fixed number of answers.

* :func:`run_python` (aiohttp on uvloop) measures latency and, for streams, the time to the
  first SSE event (TTFB), and checks every answer: HTTP 200, for a stream ``data: [DONE]`` at the
  end and a usage object in the event before it. ``python bench/loadgen.py --serve`` runs it as
  a long-lived process that reads one JSON spec per stdin line and answers one JSON line, so
  the benchmark pays the interpreter start once and can pin the generator to a core.
* :func:`run_wrk` writes a Lua script (dynamic bodies; the thread stops itself once ``count``
  answers are complete, counted in ``request()`` so that ``response()`` stays undefined and
  wrk never hands bodies to Lua) and parses the JSON its ``done()`` prints. Non-streaming only.

Percentiles are nearest-rank over every measured request; warm-up requests are not measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any

PROMPTS = (
    "Say hello to my friend Ana in one short sentence.",
    "What is the capital of Portugal? Answer with one word.",
    "Translate 'good morning, how are you?' into French.",
    "Write a haiku about autumn rain on a tin roof.",
    "Explain, step by step, why the sum of the interior angles of any triangle is 180 degrees in Euclidean "
    "geometry, and where the argument fails on a sphere.",
    "Prove that there are infinitely many primes of the form 4k+3, and explain why the same argument does not "
    "work for primes of the form 4k+1.",
    "Design a rate limiter for a multi-region API gateway: compare token bucket and sliding window log, discuss "
    "clock skew, and give the data structures you would keep in Redis.",
    "Refactor this Python function to be iterative instead of recursive and analyse its time complexity: "
    "def f(n): return n if n < 2 else f(n - 1) + f(n - 2)",
)


@dataclass
class Spec:
    url: str  # the full chat-completions URL
    model: str
    concurrency: int
    count: int  # measured answers
    stream: bool = False
    warmup: int = 0  # answers before measuring (same connections)
    key: str | None = None  # bearer key
    tag: str = "run"  # makes prompts unique across runs
    max_tokens: int = 64
    timeout_s: float = 30.0
    extra_headers: dict[str, str] = field(default_factory=dict)


def prompt(tag: str, i: int) -> str:
    return f"Request {tag}-{i}: {PROMPTS[i % len(PROMPTS)]}"


def body_parts(spec: Spec) -> tuple[bytes, bytes]:
    """The JSON body around the prompt text: ``prefix + json_escaped(prompt) + suffix``."""
    body: dict[str, Any] = {"model": spec.model, "messages": [{"role": "user", "content": "\x00"}],
                            "max_tokens": spec.max_tokens}
    if spec.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    raw = json.dumps(body, separators=(",", ":")).encode()
    prefix, suffix = raw.split(b"\\u0000")
    return prefix, suffix


def headers(spec: Spec) -> dict[str, str]:
    h = {"Content-Type": "application/json", **spec.extra_headers}
    if spec.key:
        h["Authorization"] = f"Bearer {spec.key}"
    return h


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an ascending list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(-(-q * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


def summarize(latencies_ms: list[float], ttfb_ms: list[float], elapsed_s: float, errors: int,
              **extra: Any) -> dict[str, Any]:
    lat = sorted(latencies_ms)
    tt = sorted(ttfb_ms)
    out: dict[str, Any] = {
        "count": len(lat), "errors": errors, "elapsed_s": round(elapsed_s, 4),
        "rps": round(len(lat) / elapsed_s, 1) if elapsed_s > 0 else None,
        "p50_ms": _r(percentile(lat, 50)), "p90_ms": _r(percentile(lat, 90)), "p99_ms": _r(percentile(lat, 99)),
        "mean_ms": _r(sum(lat) / len(lat)) if lat else None, "max_ms": _r(lat[-1]) if lat else None,
    }
    if tt:
        out.update(ttfb_p50_ms=_r(percentile(tt, 50)), ttfb_p99_ms=_r(percentile(tt, 99)))
    out.update(extra)
    return out


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


# --- aiohttp ---------------------------------------------------------------------------------------


def check_stream(data: bytes) -> tuple[bool, bool, int]:
    """(ends with [DONE], the event before it carries usage, number of events incl. [DONE])."""
    events = [e for e in data.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]
    if not events or events[-1].strip() != b"data: [DONE]":
        return False, False, len(events)
    usage = False
    if len(events) >= 2 and events[-2].startswith(b"data:"):
        try:
            last = json.loads(events[-2][5:])
            usage = isinstance(last, dict) and isinstance(last.get("usage"), dict) and \
                last["usage"].get("completion_tokens") is not None
        except ValueError:
            usage = False
    return True, usage, len(events)


async def run_python(spec: Spec) -> dict[str, Any]:
    import aiohttp

    prefix, suffix = body_parts(spec)
    hdrs = headers(spec)
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(total=spec.timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False,
                                     skip_auto_headers=("User-Agent",)) as session:
        if spec.warmup:
            await _phase(session, spec, prefix, suffix, hdrs, spec.warmup, f"{spec.tag}w")
        return await _phase(session, spec, prefix, suffix, hdrs, spec.count, spec.tag)


@dataclass
class _State:
    next: int = 0
    errors: int = 0
    no_done: int = 0
    no_usage: int = 0
    events_min: int | None = None
    events_max: int | None = None


async def _phase(session: Any, spec: Spec, prefix: bytes, suffix: bytes, hdrs: dict[str, str], total: int,
                 tag: str) -> dict[str, Any]:
    perf = time.perf_counter_ns
    latencies: list[float] = []
    ttfbs: list[float] = []
    state = _State()
    first_error: list[str] = []
    url, stream = spec.url, spec.stream

    async def worker() -> None:
        while state.next < total:
            i = state.next
            state.next = i + 1
            body = prefix + json.dumps(prompt(tag, i))[1:-1].encode() + suffix
            t0 = perf()
            first = 0
            try:
                async with session.post(url, data=body, headers=hdrs) as resp:
                    if stream:  # the time of the first event's bytes, then the rest in one read
                        head = b""
                        async for chunk in resp.content.iter_any():
                            head += chunk
                            if b"data:" in head:
                                first = perf()
                                break
                        data = head + await resp.content.read()
                    else:
                        data = await resp.read()
                    status = resp.status
            except Exception as e:  # noqa: BLE001 - counted, the run goes on
                state.errors += 1
                if not first_error:
                    first_error.append(f"{type(e).__name__}: {e}"[:300])
                continue
            t1 = perf()
            if status != 200:
                state.errors += 1
                if not first_error:
                    first_error.append(f"HTTP {status}: {data[:300]!r}")
                continue
            if stream:
                done, usage, n = check_stream(data)
                state.no_done += not done
                state.no_usage += not usage
                state.events_min = n if state.events_min is None else min(state.events_min, n)
                state.events_max = n if state.events_max is None else max(state.events_max, n)
                ttfbs.append((first - t0) / 1e6 if first else (t1 - t0) / 1e6)
            latencies.append((t1 - t0) / 1e6)

    start = perf()
    await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
    elapsed = (perf() - start) / 1e9
    extra: dict[str, Any] = {"generator": "aiohttp", "stream": stream, "concurrency": spec.concurrency}
    if stream:
        extra.update(no_done=state.no_done, no_usage=state.no_usage, events_min=state.events_min,
                     events_max=state.events_max)
    if first_error:
        extra["first_error"] = first_error[0]
    return summarize(latencies, ttfbs, elapsed, state.errors, **extra)


def run_python_sync(spec: Spec) -> dict[str, Any]:
    try:
        import uvloop

        return uvloop.run(run_python(spec))
    except ImportError:
        return asyncio.run(run_python(spec))


class PythonLoadgen:
    """A long-lived ``loadgen.py --serve`` child (optionally pinned with taskset): one spec in, one result out."""

    def __init__(self, cpu: int | None = None, python: str = sys.executable) -> None:
        cmd = [python, os.path.abspath(__file__), "--serve"]
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu), *cmd]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                                     start_new_session=True)

    def run(self, spec: Spec) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(asdict(spec)) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the load generator exited ({self.proc.poll()})")
        result = json.loads(line)
        if "fatal" in result:
            raise RuntimeError(f"load generator failed: {result['fatal']}")
        return result

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def _serve() -> int:
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            result = run_python_sync(Spec(**json.loads(line)))
        except Exception as e:  # noqa: BLE001 - reported to the parent
            result = {"fatal": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


# --- wrk ---------------------------------------------------------------------------------------------


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def _lua_str(s: str | bytes) -> str:
    text = s.decode() if isinstance(s, bytes) else s
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def wrk_script(spec: Spec, total: int, tag: str) -> str:
    """Lua for wrk: unique bodies, stop after ``total`` answers, print a JSON summary."""
    prefix, suffix = body_parts(spec)
    hdr_lines = "\n".join(f"wrk.headers[ {_lua_str(k)} ] = {_lua_str(v)}" for k, v in headers(spec).items())
    prompts = ",\n  ".join(_lua_str(json.dumps(p)[1:-1]) for p in PROMPTS)
    return f"""-- generated by bench/loadgen.py
local ffi = require("ffi")
ffi.cdef[[ typedef struct {{ long tv_sec; long tv_nsec; }} loadgen_ts; int clock_gettime(int clk, loadgen_ts *tp); ]]
local ts = ffi.new("loadgen_ts")
local function now_us()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

wrk.method = "POST"
{hdr_lines}
local prefix = {_lua_str(prefix)}
local suffix = {_lua_str(suffix)}
local prompts = {{
  {prompts}
}}
local limit = {total}
local conns = {spec.concurrency}
local tag = {_lua_str(tag)}
local counter = -1
local started = 0

function request()
  counter = counter + 1
  if counter == 0 then
    started = now_us()
  end
  -- closed loop: request number counter+1 is generated once counter+1-conns answers are complete
  if counter == limit + conns then
    io.write(string.format("\\nWRKSTOP %.1f\\n", now_us() - started))
    io.stdout:flush()
    wrk.thread:stop()
  end
  local text = "Request " .. tag .. "-" .. counter .. ": " .. prompts[(counter % #prompts) + 1]
  return wrk.format(nil, nil, nil, prefix .. text .. suffix)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nWRKJSON {{"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.3f,' ..
    '"max_us":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def run_wrk(spec: Spec, cpu: int | None = None, max_seconds: float = 600.0) -> dict[str, Any]:
    """Warm up (its own short wrk run), then measure ``spec.count`` answers with wrk (non-streaming)."""
    if spec.stream:
        raise ValueError("wrk measures non-streaming requests only")
    if spec.warmup:
        _wrk_once(spec, spec.warmup, f"{spec.tag}w", cpu, max_seconds)
    return _wrk_once(spec, spec.count, spec.tag, cpu, max_seconds)


def _wrk_once(spec: Spec, total: int, tag: str, cpu: int | None, max_seconds: float) -> dict[str, Any]:
    """One wrk run. wrk's main thread sleeps for ``-d`` whatever its worker does, so when the Lua
    side prints ``WRKSTOP`` (``total`` answers done, with its own monotonic elapsed time) wrk gets
    SIGINT, which ends the sleep and prints the summary."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(wrk_script(spec, total, tag))
        script = f.name
    cmd = ["wrk", "-t1", f"-c{spec.concurrency}", f"-d{int(max_seconds)}s", f"--timeout={int(spec.timeout_s)}s",
           "-s", script, spec.url]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]  # taskset execs wrk: same pid
    elapsed_us: float | None = None
    lines: list[str] = []
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if line.startswith("WRKSTOP "):
                    elapsed_us = float(line.split()[1])
                    proc.send_signal(signal.SIGINT)
            err: str = proc.stderr.read() if proc.stderr else ""
            proc.wait(timeout=30)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    finally:
        os.unlink(script)
    out = "".join(lines)
    summary_line = next((ln for ln in lines if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or summary_line is None or elapsed_us is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}, stopped={elapsed_us is not None}): "
                           f"{err.strip()[:500]} {out.strip()[-500:]}")
    w = json.loads(summary_line[len("WRKJSON "):])
    errors = w["err_connect"] + w["err_read"] + w["err_write"] + w["err_status"] + w["err_timeout"]
    elapsed = elapsed_us / 1e6
    # WRKSTOP is printed when the total-th answer is in; a few more (at most one per connection)
    # can land before wrk stops, so wrk's count may exceed total while elapsed covers total.
    return {
        "count": w["requests"], "errors": errors, "elapsed_s": round(elapsed, 4),
        "rps": round(total / elapsed, 1) if elapsed > 0 else None,
        "p50_ms": w["p50_us"] / 1000, "p90_ms": w["p90_us"] / 1000, "p99_ms": w["p99_us"] / 1000,
        "mean_ms": round(w["mean_us"] / 1000, 4), "max_ms": w["max_us"] / 1000,
        "generator": "wrk", "stream": False, "concurrency": spec.concurrency,
        **({"wrk_errors": {k: v for k, v in w.items() if k.startswith("err_") and v}} if errors else {}),
    }


# --- command line --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="closed-loop chat-completions load (aiohttp or wrk)")
    p.add_argument("--serve", action="store_true", help="read JSON specs from stdin, one result line each")
    p.add_argument("--url", help="e.g. http://127.0.0.1:9001/v1/chat/completions")
    p.add_argument("--model", default="mock-model")
    p.add_argument("-c", "--concurrency", type=int, default=16)
    p.add_argument("-n", "--count", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--stream", action="store_true")
    p.add_argument("--key")
    p.add_argument("--generator", choices=("aiohttp", "wrk"), default="aiohttp")
    ns = p.parse_args(argv)
    if ns.serve:
        return _serve()
    if not ns.url:
        p.error("--url is required")
    spec = Spec(ns.url, ns.model, ns.concurrency, ns.count, ns.stream, ns.warmup, ns.key, tag=f"{time.time_ns():x}")
    result = run_wrk(spec) if ns.generator == "wrk" else run_python_sync(spec)
    print(json.dumps(result, indent=1))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
