"""The path users run, for ``bench/overhead.py`` (issue 12): ``auto`` + ``cache_aware`` over two replicas
per tier + Redis, and sgl-router (the Rust router SGLang ships) over the same replicas.

* ``tierroute_auto_redis``: ``tierroute serve --redis-url`` with a policy whose tiers each have two mock
  replicas (``balance.policy: cache_aware``, stickiness on, so every request also writes its
  conversation's tier), against a private ``redis-server`` this module starts on a free port (never
  the shared one), pinned with the mock and the load generator;
* ``sgl_router_rr`` / ``sgl_router_cache_aware``: ``python -m sglang_router.launch_router --worker-urls
  A A2 --policy round_robin|cache_aware`` from PyPI's ``sglang-router`` (a Rust wheel) installed into
  ``bench/.venvs/sglang_router`` on first use, never into the project's venv.

CPU per request: the proxy's CPU time (``/proc/<pid>/task/<tid>/schedstat``: nanoseconds on CPU,
every thread of every process of its group) over a measurement, divided by the requests it served
(warm-up included); Redis' own the same way.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
SGL_SPEC = "sglang-router==0.3.2"
SGL_VENV = BENCH / ".venvs" / "sglang_router"
ROUTER_TARGETS = ("tierroute_auto_replicas", "tierroute_auto_redis", "sgl_router_rr", "sgl_router_cache_aware")

def policy_replicas(policy_text: str, second: dict[str, int]) -> str:
    """``overhead.POLICY`` (one replica per tier) with a second replica per tier (``second``: tier → port),
    cache-aware balancing and sticky conversations spelled out."""
    import yaml

    doc = yaml.safe_load(policy_text)
    for tier in doc["tiers"]:
        tier["backends"][0]["replicas"].append(f"http://127.0.0.1:{second[tier['name']]}")
    doc["routing"]["sticky"] = {"enabled": True}
    doc["balance"] = {"policy": "cache_aware"}
    return "# written by bench/overhead.py: two tiers, each two mock replicas\n" + yaml.safe_dump(doc, sort_keys=False)


def ensure_sgl_router(spec: str = SGL_SPEC) -> Path:
    """The interpreter of ``bench/.venvs/sglang_router`` (both benchmarks' sgl-router), installed on first use."""
    py = SGL_VENV / "bin" / "python"
    if py.exists() and subprocess.run([str(py), "-c", "import sglang_router"], capture_output=True).returncode == 0:
        return py
    print(f"installing {spec} into {SGL_VENV} (first run only) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(SGL_VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", spec], check=True)
    return py


def sgl_router_cmd(py: Path, workers: list[str], policy: str, port: int, metrics_port: int) -> list[str]:
    """Its Prometheus exporter on a port of its own (the default one is shared by every instance)."""
    return [str(py), "-m", "sglang_router.launch_router", "--worker-urls", *workers, "--policy", policy,
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warn", "--prometheus-host", "127.0.0.1",
            "--prometheus-port", str(metrics_port)]


def redis_server_cmd(port: int, work: Path) -> list[str]:
    """A private redis-server: no persistence, its files under the run's work directory."""
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(work), "--logfile", str(work / "redis-server.log")]


def wait_redis(port: int, timeout: float = 20.0) -> None:
    import redis

    client = redis.Redis(port=port, socket_timeout=1.0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.ping():
                client.close()
                return
        except redis.ConnectionError:
            time.sleep(0.1)
    raise TimeoutError(f"redis-server on port {port} did not answer within {timeout:.0f} s")


def task_cpu_ns(pid: int) -> int:
    """Nanoseconds on CPU of every thread of ``pid`` (0 once it is gone)."""
    total = 0
    try:
        tids = [t.name for t in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return 0
    for tid in tids:
        try:
            total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total


def group_cpu_ns(pids: list[int]) -> int:
    return sum(task_cpu_ns(p) for p in pids)


def redis_info(port: int) -> dict[str, Any]:
    """Errors Redis saw and its client count (the bench's own look at the private server)."""
    import redis

    client = redis.Redis(port=port, socket_timeout=2.0)
    try:
        stats, clients = client.info("stats"), client.info("clients")
    finally:
        client.close()
    return {"connected_clients": clients.get("connected_clients"), "rejected_connections":
            stats.get("rejected_connections"), "total_commands_processed": stats.get("total_commands_processed")}


def redis_fallbacks(stats: dict[str, Any]) -> dict[str, Any]:
    """Redis errors and local decisions from tierroute's /admin/stats: the shared count
    (``affinity.store.redis``) when the proxy has it, else the affinity store's and the conversations'."""
    aff = stats.get("affinity") or {}
    store = aff.get("store") or {}
    if "redis" in store:
        return dict(store["redis"])
    return {"errors": int(store.get("errors", 0)) + int(aff.get("conversation_store_errors", 0)),
            "fallbacks": int(store.get("local_decisions", 0)), "breaker_opened": store.get("breaker_opened")}


def checks(g: Any) -> list[tuple[str, bool | None, str]]:
    """Issue 12's targets on this run; ``g(target, concurrency, key)`` reads the summary table."""
    out: list[tuple[str, bool | None, str]] = []
    tr, sg = "tierroute_auto_redis", "sgl_router_cache_aware"
    for c in (16, 64):
        a, b = g(tr, c, "rps"), g(sg, c, "rps")
        out.append((f"{tr} req/s at {c} ≥ 0.8× {sg}'s", None if not a or not b else a >= 0.8 * b,
                    f"{_n(a, 0)} vs {_n(b, 0)} ({_n(a / b if a and b else None, 2)}×)"))
        a, b = g(tr, c, "p50_added_ms"), g(sg, c, "p50_added_ms")
        out.append((f"{tr} added p50 at {c} ≤ 1.5× {sg}'s", None if a is None or b is None else a <= 1.5 * max(b, 0),
                    f"{_n(a, 3)} vs {_n(b, 3)}"))
    for c in (1, 16, 64):
        a = g(tr, c, "cpu_us")
        out.append((f"{tr} proxy CPU at {c} ≤ 250 µs per request", None if a is None else a <= 250, _n(a, 0)))
    a = g(tr, 16, "ttfb_added_ms")
    out.append((f"{tr} first-token time added at 16 (streams) ≤ 1 ms p50", None if a is None else a <= 1.0, _n(a, 3)))
    return out


def _n(v: float | None, digits: int) -> str:
    return "-" if v is None else f"{v:.{digits}f}"
