"""What a proxy adds to every request: tierroute against direct calls, a bare Python pass-through
proxy (the floor) and LiteLLM's proxy, in one run, against the same fast mock upstream.

    .venv/bin/python bench/overhead.py            # full run (several minutes), memory check included
    .venv/bin/python bench/overhead.py --quick    # under 2 minutes once LiteLLM's venv exists
    .venv/bin/python bench/overhead.py --memory-only

Targets (all against ``bench/mock_upstream.py``; every request carries a unique prompt):

* ``direct``            the load generator talks to the mock;
* ``floor_proxy``       ``bench/floor_proxy.py``: raw ASGI, uvicorn (uvloop, httptools), aiohttp;
* ``tierroute_pinned``  ``tierroute serve`` with ``model: small`` (a tier name: no classification),
                        the mock registered as a ``kind: sglang`` replica, one client key;
* ``tierroute_auto``    a second ``tierroute serve`` (same policy), ``model: "auto"``: classified;
* ``litellm_proxy``     ``litellm --config`` (``litellm[proxy]`` in ``bench/.venvs/litellm``,
                        installed on first use), no database, ``openai/mock-model`` at the mock.
* ``tierroute_auto_redis`` (issue 12) ``model: "auto"`` with ``cache_aware`` over two mock replicas per
                        tier, ``--redis-url`` at a private ``redis-server`` (pinned with the mock), sticky
                        conversations; ``tierroute_auto_replicas``: the same policy without Redis (the
                        in-memory stores), so the gap between the two is what Redis adds;
                        ``sgl_router_rr`` / ``sgl_router_cache_aware``: sglang-router 0.3.2
                        (``bench/.venvs/sglang_router``) over the first tier's two replicas
                        (``bench/overhead_router.py``). Every proxy row also gets its CPU µs per request
                        (``/proc/<pid>/task/*/schedstat`` over the non-streaming run; Redis' apart).

Pinning (``taskset``): every proxy on core 1, the mock and the load generator on core 0 (this
script too). At concurrency 1, 16, 64 (closed loop, fixed request count) each round measures
every target in turn, non-streaming (latency, requests/s) then streaming (time to first SSE
event), the target order rotating from round to round, so that drift on a shared machine hits
all alike; reported values are medians over rounds, "added" values are paired per round
(target minus direct in the same round), and the spread across rounds is kept.

Writes ``docs/benchmarks/overhead.json`` (target → concurrency → the seven numbers),
``overhead.md`` (table, machine, command, pinning, load), ``overhead.rounds.json`` (every round,
spreads, generator calibration) and, with the memory check, ``overhead.memory.json``.
Every child process is started in its own session and its whole group is stopped on the way
out, on Ctrl-C and on failure too.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import loadgen  # noqa: E402
import overhead_router as orr  # noqa: E402

from classifiers.training.progress import progress  # noqa: E402

TARGETS = ("direct", "floor_proxy", "tierroute_pinned", "tierroute_auto", "litellm_proxy", *orr.ROUTER_TARGETS)
CONCURRENCIES = (1, 16, 64)
CLIENT_KEY = "sk-bench-client-key"  # tierroute's one client key; LiteLLM's master key (it must start with sk-)
ADMIN_KEY = "sk-bench-admin-key"
# litellm[proxy] 1.108.14 and later pin litellm-proxy / litellm-proxy-extras releases that PyPI does not
# serve to this machine; 1.108.0 is the newest whose [proxy] extra resolves here (the project's own
# litellm, used as a library, is 1.110.2).
LITELLM_SPEC = "litellm[proxy]==1.108.0"
LITELLM_VENV = BENCH / ".venvs" / "litellm"
TOOLS_VENV = BENCH / ".venvs" / "tools"
WORK = BENCH / ".work"
SLOW_RPS = 150.0  # a target below this (sequential probe) gets the smaller request counts

POLICY = """\
# written by bench/overhead.py: two tiers, each one mock "SGLang replica" (one process, two ports)
version: 1
tiers:
  - name: small
    context_tokens: 32768
    price: {{input_per_mtok: 0.04, output_per_mtok: 0.12}}
    backends:
      - kind: sglang
        model: mock-small
        replicas: [http://127.0.0.1:{port_a}]
  - name: large
    context_tokens: 131072
    price: {{input_per_mtok: 0.35, output_per_mtok: 0.90}}
    backends:
      - kind: sglang
        model: mock-large
        replicas: [http://127.0.0.1:{port_b}]
routing:
  auto:
    - {{tier: small, below: 0.5}}
    - {{tier: large}}
health: {{interval_s: 5, timeout_s: 2}}
"""

LITELLM_CONFIG = """\
# written by bench/overhead.py
model_list:
  - model_name: mock-model
    litellm_params:
      model: openai/mock-model
      api_base: http://127.0.0.1:{port_a}/v1
      api_key: sk-mock-upstream
"""


@dataclass(frozen=True)
class Profile:
    rounds: int
    ns: Mapping[int, int]  # non-streaming requests measured per (target, concurrency, round)
    st: Mapping[int, int]  # streaming requests
    slow_ns: Mapping[int, int]  # the same for slow targets (see SLOW_RPS)
    slow_st: Mapping[int, int]
    calibrate: int  # requests per generator when choosing the faster one


QUICK = Profile(rounds=2, ns={1: 300, 16: 1500, 64: 2000}, st={1: 60, 16: 240, 64: 320},
                slow_ns={1: 40, 16: 64, 64: 64}, slow_st={1: 16, 16: 32, 64: 32}, calibrate=2000)
FULL = Profile(rounds=5, ns={1: 3000, 16: 15000, 64: 15000}, st={1: 600, 16: 3000, 64: 3000},
               slow_ns={1: 600, 16: 1500, 64: 2000}, slow_st={1: 200, 16: 480, 64: 640}, calibrate=10000)


# --- processes ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cmd: Sequence[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if cpu is not None else list(cmd)


class Procs:
    """Children started in their own session (own process group) and stopped as whole groups."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        atexit.register(self.stop_all)

    def start(self, name: str, cmd: Sequence[str], env: Mapping[str, str] | None = None,
              cwd: Path | None = None) -> subprocess.Popen[bytes]:
        with open(self.log_dir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True)
        self.procs[name] = proc
        return proc

    def tail(self, name: str, lines: int = 25) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def wait_http(self, name: str, url: str, timeout: float = 180.0, check: Callable[[bytes], bool] | None = None,
                  headers: Mapping[str, str] | None = None) -> None:
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; log:\n{self.tail(name)}")
            try:
                req = urllib.request.Request(url, headers=dict(headers or {}))
                with urllib.request.urlopen(req, timeout=5) as r:
                    body = r.read()
                    if r.status == 200 and (check is None or check(body)):
                        return
                    last = f"HTTP {r.status}: {body[:200]!r}"
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}"
            except (OSError, urllib.error.URLError) as e:
                last = type(e).__name__
            time.sleep(0.25)
        raise TimeoutError(f"{name} did not answer {url} within {timeout:.0f} s ({last}); log:\n{self.tail(name)}")

    def rss_mb(self, name: str) -> float | None:
        proc = self.procs.get(name)
        return None if proc is None or proc.poll() is not None else group_rss_mb(proc.pid)

    def stop(self, name: str, grace: float = 10.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            _stop_group(proc, grace)

    def stop_all(self, grace: float = 10.0) -> None:
        procs, self.procs = list(self.procs.values()), {}
        for p in procs:
            _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(p, signal.SIGKILL)  # anything left in the group (workers, grandchildren)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=5)


def _signal_group(p: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(p.pid, sig)  # start_new_session: the group id is the child's pid


def _stop_group(p: subprocess.Popen[bytes], grace: float) -> None:
    _signal_group(p, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        p.wait(timeout=grace)
    _signal_group(p, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        p.wait(timeout=5)


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:  # state, ppid, pgrp
            pids.append(int(entry))
    return pids


def vm_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def group_rss_mb(pgid: int) -> float:
    """VmRSS summed over the process group (a proxy's master and workers)."""
    return round(sum(vm_rss_kb(p) for p in group_pids(pgid)) / 1024, 1)


# --- the setup --------------------------------------------------------------------------------------------


@dataclass
class Setup:
    work: Path
    procs: Procs
    python: str
    proxy_cpu: int | None
    client_cpu: int | None
    workers: int
    ports: dict[str, int]
    targets: tuple[str, ...]
    chunk_delay_ms: float = 0.0
    slow: frozenset[str] = frozenset()  # targets measured with the smaller counts

    def url(self, target: str) -> str:
        port = {"direct": "mock_a", "floor_proxy": "floor", "tierroute_pinned": "tr_pinned",
                "tierroute_auto": "tr_auto", "litellm_proxy": "litellm", "tierroute_auto_redis": "tr_redis",
                "tierroute_auto_replicas": "tr_replicas", "sgl_router_rr": "sgl_rr",
                "sgl_router_cache_aware": "sgl_ca"}[target]
        return f"http://127.0.0.1:{self.ports[port]}/v1/chat/completions"

    @staticmethod
    def model(target: str) -> str:
        return {"tierroute_pinned": "small", "tierroute_auto": "auto", "tierroute_auto_redis": "auto",
                "tierroute_auto_replicas": "auto"}.get(target, "mock-model")

    @staticmethod
    def proc_name(target: str) -> str | None:
        return None if target == "direct" else target


def tierroute_env() -> dict[str, str]:
    return {"TIERROUTE_API_KEYS": CLIENT_KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY, "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def tierroute_cmd(python: str, policy: Path, port: int, workers: int) -> list[str]:
    cmd = [python, "-m", "router", "serve", "--policy", str(policy), "--port", str(port), "--log-level", "warning"]
    return cmd + (["--workers", str(workers)] if workers > 1 else [])


def start_tierroute(s: Setup, name: str, port_key: str, policy: str = "policy.yaml",
                    extra: Sequence[str] = ()) -> None:
    s.ports[port_key] = free_port()
    s.procs.start(name, [*tierroute_cmd(s.python, s.work / policy, s.ports[port_key], s.workers), *extra],
                  env=tierroute_env(), cwd=REPO)  # booted on both cores, pinned once ready (pin_proxies)


def start_router_targets(s: Setup) -> None:
    """Issue 12's targets: tierroute auto + cache_aware over two replicas per tier + a private Redis, and
    sgl-router over the same two replicas of the first tier (see overhead_router)."""
    p = s.ports
    if "tierroute_auto_redis" in s.targets or "tierroute_auto_replicas" in s.targets:
        (s.work / "policy_replicas.yaml").write_text(orr.policy_replicas(
            POLICY.format(port_a=p["mock_a"], port_b=p["mock_b"]), {"small": p["mock_a2"], "large": p["mock_b2"]}))
    if "tierroute_auto_replicas" in s.targets:  # the same policy, the in-memory stores: what Redis adds is the gap
        start_tierroute(s, "tierroute_auto_replicas", "tr_replicas", "policy_replicas.yaml")
    if "tierroute_auto_redis" in s.targets:
        p["redis"] = free_port()
        s.procs.start("redis", pinned(orr.redis_server_cmd(p["redis"], s.work), s.client_cpu))
        orr.wait_redis(p["redis"])
        start_tierroute(s, "tierroute_auto_redis", "tr_redis", "policy_replicas.yaml",
                        ["--redis-url", f"redis://127.0.0.1:{p['redis']}/0"])
    workers = [f"http://127.0.0.1:{p['mock_a']}", f"http://127.0.0.1:{p['mock_a2']}"]
    for target, key, policy in (("sgl_router_rr", "sgl_rr", "round_robin"),
                                ("sgl_router_cache_aware", "sgl_ca", "cache_aware")):
        if target in s.targets:
            p[key] = free_port()
            s.procs.start(target, orr.sgl_router_cmd(orr.ensure_sgl_router(), workers, policy, p[key], free_port()))
    for target, key in (("sgl_router_rr", "sgl_rr"), ("sgl_router_cache_aware", "sgl_ca")):
        if target in s.targets:
            s.procs.wait_http(target, f"http://127.0.0.1:{p[key]}/health", timeout=60)
    for target, key in (("tierroute_auto_redis", "tr_redis"), ("tierroute_auto_replicas", "tr_replicas")):
        if target in s.targets:
            s.procs.wait_http(target, f"http://127.0.0.1:{p[key]}/ready", timeout=240)


def redis_state(s: Setup) -> dict[str, Any] | None:
    """tierroute_auto_redis's Redis errors and fallbacks (/admin/stats) and the private server's view."""
    if "tr_redis" not in s.ports:
        return None
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{s.ports['tr_redis']}/admin/stats",
                                     headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            doc = json.loads(r.read())
        return {"tierroute": orr.redis_fallbacks(doc), "server": orr.redis_info(s.ports["redis"])}
    except (OSError, ValueError) as e:
        return {"failed": f"{type(e).__name__}: {e}"}


def ensure_litellm(spec: str) -> Path:
    exe = LITELLM_VENV / "bin" / "litellm"
    if exe.exists():
        return exe
    print(f"installing {spec} into {LITELLM_VENV} (first run only) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(LITELLM_VENV)], check=True)
    subprocess.run([str(LITELLM_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", spec], check=True)
    return exe


def start_all(s: Setup, litellm_exe: Path | None) -> None:
    p = s.ports
    p.update(mock_a=free_port(), mock_b=free_port(), mock_a2=free_port(), mock_b2=free_port(), floor=free_port())
    (s.work / "policy.yaml").write_text(POLICY.format(port_a=p["mock_a"], port_b=p["mock_b"]))
    s.procs.start("mock", pinned([s.python, str(BENCH / "mock_upstream.py"), "--port", str(p["mock_a"]),
                                  "--port", str(p["mock_b"]), "--port", str(p["mock_a2"]), "--port",
                                  str(p["mock_b2"]), "--model", "mock-model",
                                  "--chunk-delay-ms", str(s.chunk_delay_ms)], s.client_cpu))
    s.procs.wait_http("mock", f"http://127.0.0.1:{p['mock_a']}/health", timeout=30)
    if "floor_proxy" in s.targets:
        s.procs.start("floor_proxy", [s.python, str(BENCH / "floor_proxy.py"), "--upstream",
                                      f"http://127.0.0.1:{p['mock_a']}", "--port", str(p["floor"])])
    if "tierroute_pinned" in s.targets:
        start_tierroute(s, "tierroute_pinned", "tr_pinned")
    if "tierroute_auto" in s.targets:
        start_tierroute(s, "tierroute_auto", "tr_auto")
    if "litellm_proxy" in s.targets:
        assert litellm_exe is not None
        p["litellm"] = free_port()
        (s.work / "litellm.yaml").write_text(LITELLM_CONFIG.format(port_a=p["mock_a"]))
        s.procs.start("litellm_proxy", [str(litellm_exe), "--config", str(s.work / "litellm.yaml"),
                                        "--host", "127.0.0.1", "--port", str(p["litellm"]),
                                        "--num_workers", str(s.workers)],
                      env={"LITELLM_MASTER_KEY": CLIENT_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}, cwd=s.work)
    start_router_targets(s)
    if "floor_proxy" in s.targets:
        s.procs.wait_http("floor_proxy", f"http://127.0.0.1:{p['floor']}/health", timeout=30)
    for name, key in (("tierroute_pinned", "tr_pinned"), ("tierroute_auto", "tr_auto")):
        if name in s.targets:
            s.procs.wait_http(name, f"http://127.0.0.1:{p[key]}/ready", timeout=240)
    if "litellm_proxy" in s.targets:
        s.procs.wait_http("litellm_proxy", f"http://127.0.0.1:{p['litellm']}/health/liveliness", timeout=240)
    for t in s.targets:
        proc_name = s.proc_name(t)
        if proc_name is not None:
            pin_proxy(s, proc_name)


def pin_proxy(s: Setup, name: str) -> None:
    """``taskset -a -p -c CPU`` on every process (all threads) of the proxy's group: proxies boot on both
    cores (three heavy imports at once) and are pinned before anything is measured; threads and processes
    they start later inherit the pinning."""
    if s.proxy_cpu is None:
        return
    pids = group_pids(s.procs.procs[name].pid)
    for pid in pids:
        subprocess.run(["taskset", "-a", "-p", "-c", str(s.proxy_cpu), str(pid)], check=True,
                       stdout=subprocess.DEVNULL)
    for pid in pids:
        allowed = _cpus_allowed(pid)
        if allowed not in (None, str(s.proxy_cpu)):
            raise RuntimeError(f"{name} (pid {pid}) is not pinned: Cpus_allowed_list {allowed}")


def _cpus_allowed(pid: int) -> str | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    return None


# --- measuring ----------------------------------------------------------------------------------------------


class Runner:
    """Runs one measurement with the chosen generators (pinned to the client core)."""

    def __init__(self, client_cpu: int | None, python: str) -> None:
        self.client_cpu = client_cpu
        self.py = loadgen.PythonLoadgen(cpu=client_cpu, python=python)
        self.ns_generator = "aiohttp"
        self.calibration: dict[str, Any] = {}

    def run(self, spec: loadgen.Spec, generator: str | None = None) -> dict[str, Any]:
        gen = "aiohttp" if spec.stream else (generator or self.ns_generator)
        if gen == "wrk":
            return loadgen.run_wrk(spec, cpu=self.client_cpu)
        return self.py.run(spec)

    def calibrate(self, s: Setup, count: int) -> None:
        """Both generators against ``direct`` at 64 connections: the faster one measures non-streaming."""
        results = {}
        gens = ["aiohttp"] + (["wrk"] if loadgen.wrk_available() else [])
        for gen in gens:
            spec = loadgen.Spec(s.url("direct"), "mock-model", 64, count, warmup=200, key=CLIENT_KEY,
                                tag=f"cal-{gen}-{time.time_ns():x}")
            results[gen] = self.run(spec, gen)
        self.ns_generator = max(results, key=lambda g: results[g]["rps"] or 0)
        self.calibration = {g: {"rps": r["rps"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"]}
                            for g, r in results.items()}
        self.calibration["chosen"] = self.ns_generator
        if not loadgen.wrk_available():
            self.calibration["note"] = "wrk not installed (apt-get install -y wrk): aiohttp only"

    def close(self) -> None:
        self.py.close()


def warmup_for(count: int, c: int, slow: bool = False) -> int:
    """Requests sent (same connections, not measured) before each measurement."""
    return min(c, 16) if slow else max(2 * c, min(200, count // 10))


def measure(s: Setup, runner: Runner, target: str, c: int, prof: Profile, tag: str) -> dict[str, Any]:
    slow = target in s.slow
    ns_n = (prof.slow_ns if slow else prof.ns)[c]
    st_n = (prof.slow_st if slow else prof.st)[c]
    base = loadgen.Spec(s.url(target), s.model(target), c, ns_n, warmup=warmup_for(ns_n, c, slow), key=CLIENT_KEY,
                        tag=f"{tag}-ns")
    out: dict[str, Any] = {}
    name = s.proc_name(target)
    cpu = [group_pids(s.procs.procs[n].pid) for n in (name, "redis") if n and n in s.procs.procs] if name else []
    if target != "tierroute_auto_redis":
        cpu = cpu[:1]
    try:
        before = [orr.group_cpu_ns(pids) for pids in cpu]
        out["ns"] = runner.run(base)
        served = base.count + base.warmup
        used = [orr.group_cpu_ns(pids) - b for pids, b in zip(cpu, before, strict=True)]
        if used:  # CPU µs per request, non-streaming (the proxy's group; Redis' apart)
            out["cpu_us"] = round(used[0] / 1000 / served, 1)
            out["redis_cpu_us"] = round(used[1] / 1000 / served, 1) if len(used) > 1 else None
        out["st"] = runner.run(replace(base, stream=True, count=st_n, warmup=warmup_for(st_n, c, slow),
                                       tag=f"{tag}-st"))
    except Exception as e:  # noqa: BLE001 - one failed measurement must not lose the rest of the run
        out["failed"] = f"{type(e).__name__}: {e}"[:500]
    out["rss_mb"] = s.procs.rss_mb(name) if name else None
    return out


def run_rounds(s: Setup, runner: Runner, prof: Profile, concurrencies: Sequence[int],
               log: Callable[[str], None]) -> dict[str, dict[int, list[dict[str, Any]]]]:
    data: dict[str, dict[int, list[dict[str, Any]]]] = {t: {c: [] for c in concurrencies} for t in s.targets}
    n = len(s.targets)
    for r in progress(range(prof.rounds), desc="rounds", total=prof.rounds):
        for c in concurrencies:
            order = s.targets[r % n:] + s.targets[:r % n]
            for t in order:
                t0 = time.monotonic()
                res = measure(s, runner, t, c, prof, f"r{r}c{c}{t[:4]}{time.time_ns() % 10**8:x}")
                res["round"] = r
                data[t][c].append(res)
                ns, st = res.get("ns") or {}, res.get("st") or {}
                log(f"round {r + 1}/{prof.rounds} c={c:<2} {t:<17} p50 {_f(ns.get('p50_ms'))} p99 "
                    f"{_f(ns.get('p99_ms'))} ms, {_f(ns.get('rps'), 0)} req/s, ttfb p50 {_f(st.get('ttfb_p50_ms'))}"
                    f" ms, rss {_f(res.get('rss_mb'), 0)} MB, err {ns.get('errors', '-')}/{st.get('errors', '-')}"
                    f"{' FAILED ' + res['failed'] if 'failed' in res else ''} ({time.monotonic() - t0:.1f} s)")
    return data


def _f(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


# --- summarizing ---------------------------------------------------------------------------------------------


def _median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(statistics.median(vals), 3) if vals else None


def _spread(values: Sequence[float | None]) -> list[float] | None:
    vals = [v for v in values if v is not None]
    return [round(min(vals), 3), round(max(vals), 3)] if vals else None


def val(x: dict[str, Any], part: str, key: str) -> float | None:
    return (x.get(part) or {}).get(key)


def summarize(data: dict[str, dict[int, list[dict[str, Any]]]],
              concurrencies: Sequence[int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(overhead.json: the seven numbers per target and concurrency, details: spreads and per-round values)."""
    table: dict[str, Any] = {}
    details: dict[str, Any] = {}
    direct = data.get("direct")
    for t, per_c in data.items():
        table[t], details[t] = {}, {}
        for c in concurrencies:
            rounds = per_c[c]
            d_rounds = {x["round"]: x for x in direct[c]} if direct else {}

            def added(part: str, key: str, rounds: list[dict[str, Any]] = rounds,
                      d_rounds: dict[int, dict[str, Any]] = d_rounds) -> list[float | None]:
                out = []
                for x in rounds:
                    d = d_rounds.get(x["round"])
                    a, b = val(x, part, key), (val(d, part, key) if d else None)
                    out.append(None if a is None or b is None else a - b)
                return out

            p50 = [val(x, "ns", "p50_ms") for x in rounds]
            p99 = [val(x, "ns", "p99_ms") for x in rounds]
            rps = [val(x, "ns", "rps") for x in rounds]
            rss = [x.get("rss_mb") for x in rounds]
            table[t][str(c)] = {
                "p50_ms": _median(p50), "p99_ms": _median(p99),
                "p50_added_ms": _median(added("ns", "p50_ms")) if direct else None,
                "p99_added_ms": _median(added("ns", "p99_ms")) if direct else None,
                "rps": _median(rps),
                "ttfb_added_ms": _median(added("st", "ttfb_p50_ms")) if direct else None,
                "rss_mb": rss[-1] if rss else None,
                "cpu_us": _median([x.get("cpu_us") for x in rounds]),
                "redis_cpu_us": _median([x.get("redis_cpu_us") for x in rounds]),
            }
            errors = sum((val(x, "ns", "errors") or 0) + (val(x, "st", "errors") or 0) for x in rounds)
            details[t][str(c)] = {
                "spread": {"p50_ms": _spread(p50), "p99_ms": _spread(p99), "rps": _spread(rps),
                           "p50_added_ms": _spread(added("ns", "p50_ms")),
                           "p99_added_ms": _spread(added("ns", "p99_ms")),
                           "ttfb_added_ms": _spread(added("st", "ttfb_p50_ms")), "rss_mb": _spread(rss),
                           "cpu_us": _spread([x.get("cpu_us") for x in rounds])},
                "stream": {"p50_ms": _median([val(x, "st", "p50_ms") for x in rounds]),
                           "p99_ms": _median([val(x, "st", "p99_ms") for x in rounds]),
                           "rps": _median([val(x, "st", "rps") for x in rounds]),
                           "ttfb_p50_ms": _median([val(x, "st", "ttfb_p50_ms") for x in rounds]),
                           "ttfb_p99_ms": _median([val(x, "st", "ttfb_p99_ms") for x in rounds]),
                           "ttfb_p99_added_ms": _median(added("st", "ttfb_p99_ms")) if direct else None},
                "errors": errors,
                "stream_without_done": sum(val(x, "st", "no_done") or 0 for x in rounds),
                "stream_without_usage": sum(val(x, "st", "no_usage") or 0 for x in rounds),
                "failed": [x["failed"] for x in rounds if "failed" in x],
                "rounds": rounds,
            }
    return table, details


def target_checks(table: dict[str, Any]) -> list[tuple[str, bool | None, str]]:
    """Issue 5's targets, evaluated on this run: (what, passed or None if not measurable, the numbers)."""
    checks: list[tuple[str, bool | None, str]] = []

    def g(t: str, c: int, k: str) -> float | None:
        return (table.get(t) or {}).get(str(c), {}).get(k)

    for c in (1, 16):
        for k in ("p50_added_ms", "p99_added_ms"):
            tr, fl = g("tierroute_pinned", c, k), g("floor_proxy", c, k)
            ok = None if tr is None or fl is None else tr <= 1.5 * max(fl, 0.0)
            checks.append((f"tierroute_pinned {k} at {c} ≤ 1.5× floor_proxy's", ok, f"{_f(tr, 3)} vs {_f(fl, 3)}"))
    tr, fl = g("tierroute_pinned", 16, "rps"), g("floor_proxy", 16, "rps")
    checks.append(("tierroute_pinned req/s at 16 ≥ 70% of floor_proxy's", None if not tr or not fl else tr >= 0.7 * fl,
                   f"{_f(tr, 0)} vs {_f(fl, 0)} ({_f(100 * tr / fl if tr and fl else None, 0)}%)"))
    tr, ll = g("tierroute_pinned", 16, "p99_added_ms"), g("litellm_proxy", 16, "p99_added_ms")
    checks.append(("added p99 at 16 ≥ 10× lower than litellm_proxy's", None if not tr or ll is None else ll >= 10 * tr,
                   f"{_f(tr, 3)} vs {_f(ll, 3)} ({_f(ll / tr if tr and ll is not None else None, 1)}×)"))
    tr, ll = g("tierroute_pinned", 16, "rps"), g("litellm_proxy", 16, "rps")
    checks.append(("req/s at 16 ≥ 4× litellm_proxy's", None if not tr or not ll else tr >= 4 * ll,
                   f"{_f(tr, 0)} vs {_f(ll, 0)} ({_f(tr / ll if tr and ll else None, 1)}×)"))
    au, fl = g("tierroute_auto", 1, "p50_added_ms"), g("floor_proxy", 1, "p50_added_ms")
    checks.append(("tierroute_auto added p50 at 1 ≤ floor_proxy's + 1.5 ms", None if au is None or fl is None
                   else au <= fl + 1.5, f"{_f(au, 3)} vs {_f(fl, 3)} + 1.5"))
    for c in (1, 16, 64):
        tt = g("tierroute_pinned", c, "ttfb_added_ms")
        checks.append((f"tierroute_pinned TTFB added p50 at {c} ≤ 1 ms", None if tt is None else tt <= 1.0,
                       _f(tt, 3)))
    return checks + orr.checks(g)


def render_table(table: dict[str, Any], details: dict[str, Any], concurrencies: Sequence[int]) -> str:
    head = ("| target | conc. | p50 ms | p99 ms | added p50 ms | added p99 ms | req/s | TTFB added ms (p50) "
            "| RSS MB | proxy CPU µs/req | spread: added p50 | spread: req/s | errors |")
    lines = [head, "|" + "---|" * 13]
    for c in concurrencies:
        for t in table:
            v, d = table[t][str(c)], details[t][str(c)]
            sp = d["spread"]
            err = str(d["errors"]) + (" +" + str(len(d["failed"])) + " failed" if d["failed"] else "")
            if d["stream_without_usage"] or d["stream_without_done"]:
                err += f" (streams w/o usage {d['stream_without_usage']}, w/o [DONE] {d['stream_without_done']})"
            lines.append(
                f"| {t} | {c} | {_f(v['p50_ms'])} | {_f(v['p99_ms'])} | {_f(v['p50_added_ms'])} | "
                f"{_f(v['p99_added_ms'])} | {_f(v['rps'], 0)} | {_f(v['ttfb_added_ms'])} | {_f(v['rss_mb'], 0)} | "
                f"{_f(v.get('cpu_us'), 0)}{' + Redis ' + _f(v['redis_cpu_us'], 0) if v.get('redis_cpu_us') else ''} | "
                f"{_rng(sp['p50_added_ms'])} | {_rng(sp['rps'], 0)} | {err} |")
    return "\n".join(lines)


def _rng(r: list[float] | None, digits: int = 2) -> str:
    return "-" if not r else f"{r[0]:.{digits}f} … {r[1]:.{digits}f}"


# --- memory check (issue 5 point 4) ---------------------------------------------------------------------------


def memory_check(s: Setup, runner: Runner, total: int = 100_000, step: int = 10_000, c: int = 16,
                 stream_share: float = 0.1, log: Callable[[str], None] = print) -> dict[str, Any]:
    """A fresh tierroute (pinned tier): RSS after every ``step`` requests up to ``total``; passes when
    RSS at ``total`` is within 5% of RSS after the first ``step``. A tenth of each step is streamed."""
    start_tierroute(s, "tierroute_memory", "tr_memory")
    s.procs.wait_http("tierroute_memory", f"http://127.0.0.1:{s.ports['tr_memory']}/ready", timeout=240)
    pin_proxy(s, "tierroute_memory")
    url = f"http://127.0.0.1:{s.ports['tr_memory']}/v1/chat/completions"
    samples = [{"requests": 0, "rss_mb": s.procs.rss_mb("tierroute_memory")}]
    errors = 0
    done = 0
    t0 = time.monotonic()
    try:
        while done < total:
            n_st = int(step * stream_share)
            tag = f"mem{done}-{time.time_ns() % 10**8:x}"
            ns = runner.run(loadgen.Spec(url, "small", c, step - n_st, key=CLIENT_KEY, tag=tag + "n"))
            st = runner.run(loadgen.Spec(url, "small", c, n_st, stream=True, key=CLIENT_KEY, tag=tag + "s"))
            errors += ns["errors"] + st["errors"]
            done += step
            rss = s.procs.rss_mb("tierroute_memory")
            samples.append({"requests": done, "rss_mb": rss, "rps": ns["rps"]})
            log(f"memory: {done:>7} requests, RSS {rss} MB ({ns['rps']:.0f} req/s, errors {errors})")
    finally:
        s.procs.stop("tierroute_memory")
    first = next(x["rss_mb"] for x in samples if x["requests"] == step)
    last = samples[-1]["rss_mb"]
    growth = (last - first) / first * 100 if first and last is not None else None
    return {"target": "tierroute_pinned (a fresh process)", "generator": f"{runner.ns_generator} (+ aiohttp: streams)",
            "concurrency": c, "requests": done, "step": step,
            "stream_share": stream_share, "errors": errors, "samples": samples, "rss_first_step_mb": first,
            "rss_end_mb": last, "growth_pct": None if growth is None else round(growth, 2),
            "passed": None if growth is None else growth <= 5.0, "seconds": round(time.monotonic() - t0, 1)}


def render_memory(m: dict[str, Any]) -> str:
    rows = " → ".join(f"{x['requests'] // 1000}k: {x['rss_mb']}" for x in m["samples"])
    verdict = {True: "PASS", False: "FAIL", None: "n/a"}[m["passed"]]
    return (f"RSS of a fresh tierroute (pinned tier, {m['concurrency']} concurrent, "
            f"{int(m['stream_share'] * 100)}% streamed, unique prompts), MB after N requests: {rows}.\n\n"
            f"After {m['requests']:,} requests: {m['rss_end_mb']} MB against {m['rss_first_step_mb']} MB after the "
            f"first {m['step']:,}: {m['growth_pct']:+.2f}% (target ≤ +5%): **{verdict}** "
            f"({m['errors']} errors, {m['seconds']} s).")


# --- profiling (optional) -------------------------------------------------------------------------------------


def py_spy_exe() -> str:
    found = shutil.which("py-spy") or (str(TOOLS_VENV / "bin" / "py-spy") if (TOOLS_VENV / "bin" / "py-spy").exists()
                                       else None)
    if found:
        return found
    print(f"installing py-spy into {TOOLS_VENV} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(TOOLS_VENV)], check=True)
    subprocess.run([str(TOOLS_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "py-spy"], check=True)
    return str(TOOLS_VENV / "bin" / "py-spy")


def profile_targets(s: Setup, runner: Runner, out_dir: Path, prof: Profile, c: int,
                    log: Callable[[str], None]) -> dict[str, Any]:
    """py-spy (sampling, native frames off) on each tierroute process during a c-concurrent run; writes a
    speedscope file and the collapsed stacks, returns the top frames by own and by total time."""
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = py_spy_exe()
    summary: dict[str, Any] = {}
    for target in ("tierroute_pinned", "tierroute_auto", "tierroute_auto_replicas", "tierroute_auto_redis"):
        name = s.proc_name(target)
        if target not in s.targets or name is None:
            continue
        pid = s.procs.procs[name].pid
        count = max(200, 2 * (prof.slow_ns if target in s.slow else prof.ns)[c])
        path = out_dir / f"{target}.c{c}.collapsed.txt"  # speedscope opens this format too
        spy = subprocess.Popen([exe, "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "--output",
                                str(path), "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        time.sleep(1.0)
        try:
            for stream in (False, True):
                runner.run(loadgen.Spec(s.url(target), s.model(target), c, count if not stream else count // 5,
                                        stream=stream, warmup=100, key=CLIENT_KEY, tag=f"prof{time.time_ns():x}"))
        finally:
            spy.send_signal(signal.SIGINT)
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
        summary[target] = top_frames(out_dir / f"{target}.c{c}.collapsed.txt")
        log(f"profile {target}: {path}")
    return summary


def top_frames(collapsed: Path, n: int = 25) -> dict[str, Any]:
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    if not collapsed.exists():
        return {}
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        k = int(count_s)
        samples += k
        frames = stack.split(";")
        for f in set(frames):
            total[f] = total.get(f, 0) + k
        own[frames[-1]] = own.get(frames[-1], 0) + k

    def top(d: dict[str, int]) -> list[tuple[str, float]]:
        return [(f, round(100 * v / samples, 2)) for f, v in sorted(d.items(), key=lambda kv: -kv[1])[:n]]

    return {"samples": samples, "own_pct": top(own), "total_pct": top(total)}


# --- main ---------------------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    return {"cores": os.cpu_count(), "cpu": cpu, "kernel": platform.release(), "python": platform.python_version()}


def versions(python: str) -> dict[str, str]:
    out: dict[str, str] = {}
    with contextlib.suppress(Exception):
        out["tierroute"] = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                                                 capture_output=True, text=True, timeout=10).stdout.strip()
    code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            "('aiohttp', 'uvicorn', 'uvloop', 'httptools', 'starlette', 'orjson')}))")
    with contextlib.suppress(Exception):
        out.update(json.loads(subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=30).stdout))
    if (LITELLM_VENV / "bin" / "python").exists():
        with contextlib.suppress(Exception):
            out["litellm (proxy venv)"] = subprocess.run(
                [str(LITELLM_VENV / "bin" / "python"), "-c",
                 "import importlib.metadata as m; print(m.version('litellm'))"],
                capture_output=True, text=True, timeout=60).stdout.strip()
    if shutil.which("wrk"):
        with contextlib.suppress(Exception):
            first = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10).stdout.split("\n")[0]
            out["wrk"] = first.split()[1] if first.startswith("wrk ") and len(first.split()) > 1 else first
    return out


def classifier_name(s: Setup) -> str | None:
    """What the auto target's tierroute scores with (its /admin/policy)."""
    key = "tr_auto" if "tr_auto" in s.ports else "tr_pinned" if "tr_pinned" in s.ports else None
    if key is None:
        return None
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{s.ports[key]}/admin/policy",
                                     headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            info = json.loads(r.read()).get("classifier") or {}
    except (OSError, ValueError):
        return None
    emb = info.get("embedding") or {}
    return " ".join(str(x) for x in (info.get("name"), emb.get("model_id")) if x) or None


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def write_md(path: Path, *, command: str, info: dict[str, Any], table_md: str,
             checks: list[tuple[str, bool | None, str]], meta: dict[str, Any],
             memory: dict[str, Any] | None, profile: dict[str, Any] | None) -> None:
    pin = meta["pinning"]
    cal = meta["generator_calibration"]
    cal_text = ", ".join(f"{g} {v['rps']:.0f} req/s" for g, v in cal.items() if isinstance(v, dict))
    prof: Profile = meta["profile_obj"]
    lines = [
        "# Proxy overhead: tierroute vs direct, a bare Python proxy and LiteLLM's proxy",
        "",
        f"Written by `bench/overhead.py` on {meta['date']} ({'quick' if meta['quick'] else 'full'} run, "
        f"{meta['seconds']:.0f} s).",
        "",
        f"- **Command:** `{command}`",
        f"- **Machine:** {info['cores']} cores ({info['cpu']}), Linux {info['kernel']}, Python {info['python']}; "
        f"load average (1/5/15 min) at start {meta['load_start']}, at end {meta['load_end']}"
        + (" — **the machine was shared with other work during this run: treat the numbers as indicative**"
           if meta["load_start"][0] > 1.0 or meta["load_end"][0] > 1.0 else "") + ".",
        f"- **Pinning (taskset):** {pin}.",
        f"- **Load generator:** closed loop, fixed request count, every request a unique prompt "
        f"(`bench/loadgen.py`). Non-streaming latency and req/s by **{cal['chosen']}** (against `direct` at 64 "
        f"connections: {cal_text}; the faster one is used); streams and TTFB (to the first SSE event) by aiohttp.",
        f"- **Requests per round** (non-streaming / streaming) at concurrency 1, 16, 64: "
        f"{'/'.join(str(prof.ns[c]) for c in CONCURRENCIES)} / {'/'.join(str(prof.st[c]) for c in CONCURRENCIES)}; "
        f"targets under {SLOW_RPS:.0f} req/s sequentially ({', '.join(meta['slow']) or 'none'}) "
        f"{'/'.join(str(prof.slow_ns[c]) for c in CONCURRENCIES)} / "
        f"{'/'.join(str(prof.slow_st[c]) for c in CONCURRENCIES)}. {prof.rounds} rounds, the target order rotating "
        f"each round; each measurement after its own warm-up on the same connections.",
        "- **Upstream:** `bench/mock_upstream.py` (raw ASGI, uvicorn + uvloop + httptools): a 47-token chat "
        "completion (~0.7 KB), or 50 SSE events (role, 47 content chunks, finish, usage chunk) then "
        "`data: [DONE]`, " + (f"{meta['chunk_delay_ms']:g} ms apart." if meta["chunk_delay_ms"]
                                 else "with no delay between them."),
        f"- **Targets:** `tierroute_pinned` and `tierroute_auto` are two `tierroute serve --log-level warning "
        f"--workers {meta['workers']}` processes with the same policy (two tiers, each one mock replica of "
        f"`kind: sglang`, cache-aware balancing, stickiness on) and **one client key** (`TIERROUTE_API_KEYS`); "
        f"pinned sends `model: small`, auto sends `model: auto` (the default classifier, "
        f"`{meta['classifier']}`, scores every prompt). `litellm_proxy`: `{meta['litellm_spec']}` in its own venv, "
        f"`LITELLM_MASTER_KEY=… LITELLM_LOCAL_MODEL_COST_MAP=True litellm --config cfg.yaml --num_workers "
        f"{meta['workers']}`, no database, default logging, `openai/mock-model` with `api_base` at the mock. "
        f"`floor_proxy`: `bench/floor_proxy.py`.",
        "- **Versions:** " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        "",
        "Medians over rounds; \"added\" = target minus `direct` in the same round (then the median); "
        "spreads are min … max over rounds. p50/p99/req/s are non-streaming; TTFB added is the streaming p50 "
        "time to the first SSE event minus direct's (at 16 and 64 the closed loop runs each proxy at its "
        "throughput limit, so latency and TTFB there are mostly queueing: about concurrency ÷ req/s). "
        "RSS: VmRSS of the proxy's process group after its last "
        "measurement at that concurrency (both tierroute processes load the classifier).",
        "",
        table_md,
        "",
        "## Issue 5's targets on this run",
        "",
    ]
    for what, ok, nums in checks:
        lines.append(f"- {'PASS' if ok else ('FAIL' if ok is False else 'n/a')}: {what} — {nums}")
    if meta.get("redis"):
        lines += ["", f"Redis as tierroute_auto_redis saw it after the run (/admin/stats, the private server): "
                  f"`{json.dumps(meta['redis'])}`"]
    lines += ["", "## Memory (issue 5 point 4)", ""]
    lines.append(render_memory(memory) if memory else "Not measured in this run (`--quick` skips it; "
                 "`bench/overhead.py --memory-only` runs it alone).")
    if profile:
        lines += ["", "## Profile (py-spy, tierroute processes, 16 concurrent)", ""]
        for t, p in profile.items():
            lines.append(f"**{t}** ({p.get('samples', 0)} samples), top own time:")
            lines += [f"- {pct}% {f}" for f, pct in p.get("own_pct", [])[:12]]
            lines.append("")
    lines += ["", "Raw rounds, spreads and generator calibration: `overhead.rounds.json`."]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="2 rounds, small counts, no memory check (< 2 minutes)")
    p.add_argument("--rounds", type=int, help="override the profile's rounds")
    p.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated subset of {','.join(TARGETS)}")
    p.add_argument("--concurrency", default="1,16,64", help="comma-separated (the JSON wants 1,16,64)")
    p.add_argument("--workers", type=int, default=1, help="tierroute and LiteLLM worker processes (same for both)")
    p.add_argument("--generator", choices=("auto", "aiohttp", "wrk"), default="auto",
                   help="non-streaming load generator (auto: the faster against direct)")
    p.add_argument("--memory", action=argparse.BooleanOptionalAction, default=None,
                   help="run the 100k-request RSS check (default: on for full runs, off with --quick)")
    p.add_argument("--memory-only", action="store_true", help="only the RSS check")
    p.add_argument("--memory-requests", type=int, default=100_000)
    p.add_argument("--profile", action="store_true", help="also py-spy the tierroute processes (not timed)")
    p.add_argument("--chunk-delay-ms", type=float, default=0.0,
                   help="the mock's pause between streamed events (default none: streams as fast as possible)")
    p.add_argument("--litellm-spec", default=LITELLM_SPEC)
    p.add_argument("--python", default=sys.executable, help="interpreter with tierroute installed")
    p.add_argument("--proxy-cpu", type=int, default=1)
    p.add_argument("--client-cpu", type=int, default=0)
    p.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks")
    ns = p.parse_args(argv)

    targets = tuple(t for t in TARGETS if t in ns.targets.split(","))
    unknown = set(ns.targets.split(",")) - set(TARGETS)
    if unknown:
        p.error(f"unknown targets {sorted(unknown)}")
    concurrencies = tuple(int(c) for c in ns.concurrency.split(","))
    prof = QUICK if ns.quick else FULL
    if ns.rounds:
        prof = replace(prof, rounds=ns.rounds)
    for c in concurrencies:
        if c not in prof.ns:
            prof = replace(prof, ns={**prof.ns, c: prof.ns[16]}, st={**prof.st, c: prof.st[16]},
                           slow_ns={**prof.slow_ns, c: prof.slow_ns[16]}, slow_st={**prof.slow_st, c: prof.slow_st[16]})
    run_memory = ns.memory_only or (ns.memory if ns.memory is not None else not ns.quick)
    if ns.memory_only:
        targets = ()

    cores = os.cpu_count() or 1
    can_pin = cores >= 2 and shutil.which("taskset") is not None
    proxy_cpu: int | None = ns.proxy_cpu if can_pin else None
    client_cpu: int | None = ns.client_cpu if can_pin else None
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})  # this script's own (little) work stays off the proxy's core
    pinning = "none (fewer than 2 cores or no taskset)"
    if can_pin:
        pinning = (f"proxy under test (floor_proxy, tierroute, LiteLLM) on CPU {proxy_cpu}; mock upstream, load "
                   f"generator and this script on CPU {client_cpu}")

    def on_signal(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    exe = os.path.relpath(sys.executable, REPO) if sys.executable.startswith(str(REPO)) else sys.executable
    command = shlex.join([exe, "bench/overhead.py", *(sys.argv[1:] if argv is None else argv)])
    info = machine_info()
    started = time.monotonic()
    load_start = load_avg()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = WORK / f"overhead-{stamp}"
    work.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {msg}", flush=True)

    log(f"{cores} cores, load {load_start}; pinning: {pinning}; logs in {work}")
    litellm_exe = ensure_litellm(ns.litellm_spec) if "litellm_proxy" in targets else None
    procs = Procs(work)
    setup = Setup(work, procs, ns.python, proxy_cpu, client_cpu, ns.workers, {}, targets, ns.chunk_delay_ms)
    runner: Runner | None = None
    redis_seen: dict[str, Any] | None = None
    probe: dict[str, float | None] = {}
    classifier: str | None = None
    try:
        start_all(setup, litellm_exe)
        log("all targets answer" if targets else "mock upstream answers")
        classifier = classifier_name(setup)
        runner = Runner(client_cpu, ns.python)
        for t in targets:  # one checked request of each kind per target before any timing
            for stream in (False, True):
                r = runner.run(loadgen.Spec(setup.url(t), setup.model(t), 1, 2, stream=stream, key=CLIENT_KEY,
                                            tag=f"check{time.time_ns():x}"), "aiohttp")
                if r["errors"] or (stream and (r.get("no_done") or r.get("no_usage"))):
                    raise RuntimeError(f"{t} answered wrongly (stream={stream}): {r}")
        for t in targets:  # sequential probe: which targets get the smaller counts
            r = runner.run(loadgen.Spec(setup.url(t), setup.model(t), 1, 30, warmup=5, key=CLIENT_KEY,
                                        tag=f"probe{time.time_ns():x}"), "aiohttp")
            probe[t] = r["rps"]
        setup.slow = frozenset(t for t, rps in probe.items() if (rps or 0) < SLOW_RPS)
        if probe:
            log(f"sequential probe (req/s): {probe}; smaller counts for {sorted(setup.slow) or 'none'}")
        if targets:
            if ns.generator == "auto" and "direct" in targets:
                runner.calibrate(setup, prof.calibrate)
            elif ns.generator == "wrk" and not loadgen.wrk_available():
                raise SystemExit("wrk is not installed (apt-get install -y wrk)")
            else:
                runner.ns_generator = "aiohttp" if ns.generator == "auto" else ns.generator
                runner.calibration = {"chosen": runner.ns_generator}
            log(f"load generator for non-streaming requests: {runner.ns_generator} {runner.calibration}")
        elif ns.generator != "aiohttp" and loadgen.wrk_available():
            runner.ns_generator = "wrk"  # memory check only: no calibration, the faster generator when present
        data = run_rounds(setup, runner, prof, concurrencies, log) if targets else {}
        redis_seen = redis_state(setup)
        memory = None
        if run_memory:
            memory = memory_check(setup, runner, total=ns.memory_requests, log=log)
        profile = None
        if ns.profile and targets:
            profile = profile_targets(setup, runner, work / "profile", prof, 16, log)
    finally:
        if runner is not None:
            runner.close()
        procs.stop_all()
    load_end = load_avg()
    seconds = time.monotonic() - started
    ns.out.mkdir(parents=True, exist_ok=True)
    if memory is not None:
        (ns.out / "overhead.memory.json").write_text(json.dumps({**memory, "load_start": load_start,
                                                                 "load_end": load_end, "cores": cores,
                                                                 "pinning": pinning}, indent=1) + "\n")
        print(render_memory(memory))
    if not targets:
        return 0 if memory is None or memory["passed"] else 1
    table, details = summarize(data, concurrencies)
    table_md = render_table(table, details, concurrencies)
    checks = target_checks(table)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "quick": ns.quick, "seconds": seconds, "command": command,
            "load_start": load_start, "load_end": load_end, "pinning": pinning, "machine": info,
            "generator_calibration": runner.calibration if runner else {}, "workers": ns.workers,
            "chunk_delay_ms": ns.chunk_delay_ms,
            "slow": sorted(setup.slow), "classifier": classifier, "litellm_spec": ns.litellm_spec,
            "versions": versions(ns.python), "profile_obj": prof}
    (ns.out / "overhead.json").write_text(json.dumps(table, indent=1) + "\n")
    meta["redis"] = redis_seen
    rounds_meta = {k: v for k, v in meta.items() if k != "profile_obj"}
    rounds_meta["counts"] = {"rounds": prof.rounds, "non_stream": prof.ns, "stream": prof.st,
                             "slow_non_stream": prof.slow_ns, "slow_stream": prof.slow_st, "slow_targets": meta["slow"],
                             "slow_below_rps_at_1": SLOW_RPS, "probe_rps_at_1": probe}
    (ns.out / "overhead.rounds.json").write_text(json.dumps({"meta": rounds_meta, "targets": details,
                                                             "checks": checks, "profile": profile}, indent=1) + "\n")
    write_md(ns.out / "overhead.md", command=command, info=info, table_md=table_md, checks=checks, meta=meta,
             memory=memory, profile=profile)
    print()
    print(f"{cores} cores; load average at start {load_start}, at end {load_end}; pinning: {pinning}")
    print(table_md)
    print()
    for what, ok, nums in checks:
        print(f"{'PASS' if ok else ('FAIL' if ok is False else 'n/a '):4}  {what}: {nums}")
    print(f"\nwrote {ns.out / 'overhead.md'}, overhead.json, overhead.rounds.json ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
