"""SIGTERM drain of a real `tierroute serve` process under load: a rolling restart drops no request.

Two proxies serve behind a client-side balancer that, like kube-proxy fed by a readinessProbe, sends
only to proxies whose /ready answered 200 at its last poll (every 0.2 s). One proxy gets SIGTERM: its
/ready turns 503 at once while it goes on answering every request (new ones sent straight to it, and
a slow one still running when the drain ends, which uvicorn's graceful shutdown lets finish); then it
exits. A replacement starts, the second proxy is drained the same way. Every client request is
counted: zero may fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from fleet.sim import worker
from router.procs import ProcessGroup, free_port, tierroute_cmd
from tests.support import ServerThread, policy_dict

KEY = "sk-drain"
DRAIN_S = 3.0
SLOW_S = 2.0  # the request still in flight when the drain ends


class Balancer:
    """Round-robin over the proxies whose /ready last answered 200; every request counted."""

    def __init__(self) -> None:
        self.ready: list[str] = []
        self.known: list[str] = []
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._poll, daemon=True)]
        self._threads += [threading.Thread(target=self._load, args=(i,), daemon=True) for i in range(6)]

    def _poll(self) -> None:
        with httpx.Client(timeout=1.0) as c:
            while not self._stop.is_set():
                ready = []
                for base in list(self.known):
                    try:
                        if c.get(base + "/ready").status_code == 200:
                            ready.append(base)
                    except httpx.HTTPError:
                        pass
                self.ready = ready
                time.sleep(0.2)

    def _load(self, n: int) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as c:
            i = 0
            while not self._stop.is_set():
                targets = self.ready
                if not targets:
                    time.sleep(0.05)
                    continue
                i += 1
                base = targets[(i + n) % len(targets)]
                record(self, c, base, f"client {n} request {i}", max_tokens=2)

    def __enter__(self) -> Balancer:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)


def record(b: Balancer, c: httpx.Client, base: str, text: str, max_tokens: int) -> None:
    body = {"model": "sim-small", "max_tokens": max_tokens, "messages": [{"role": "user", "content": text}]}
    try:
        r = c.post(base + "/v1/chat/completions", json=body)
        failed = None if r.status_code == 200 else f"{base}: HTTP {r.status_code}: {r.text[:200]}"
    except httpx.HTTPError as e:
        failed = f"{base}: {type(e).__name__}: {e}"
    with b._lock:
        if failed is None:
            b.ok += 1
        else:
            b.failures.append(failed)


def _until(pred: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.05)


def _drain(procs: ProcessGroup, proc: subprocess.Popen[bytes], base: str, lb: Balancer) -> None:
    """SIGTERM one proxy; check it reports draining, keeps serving new and slow requests, then exits."""
    direct: list[str] = []
    sent = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as c:
        _until(lambda: c.get(base + "/ready").status_code == 503, "/ready to turn 503", 2.0)
        assert c.get(base + "/ready").json()["draining"] is True
        assert c.get(base + "/health").status_code == 200  # alive: the liveness probe must not restart it
        n = 0
        while time.monotonic() - sent < DRAIN_S - 0.8:  # new requests, straight to the draining proxy
            n += 1
            record(lb, c, base, f"direct {n}", max_tokens=2)
            direct.append(base)
        # A slow request sent just before the drain ends: it runs on into uvicorn's graceful shutdown.
        slow = threading.Thread(target=record, args=(lb, c, base, "slow", 100))
        slow.start()
        slow.join(timeout=30)
    assert len(direct) >= 5
    assert time.monotonic() - sent >= DRAIN_S, "the slow request ended before the drain did"
    proc.wait(timeout=20)
    assert proc.returncode in (0, -signal.SIGTERM), procs.tail("proxy")


def test_sigterm_drains_a_serving_proxy_under_load_without_a_failed_request(tmp_path: Path) -> None:
    # 50 tokens/s: the 100-token request takes ~2 s; the load's 2-token ones ~40 ms.
    sim = worker.create_app(worker.WorkerConfig(model="sim-small", ttft_ms=1, decode_tokens_per_s=50,
                                                min_output_tokens=100, max_output_tokens=100))
    with ServerThread(sim) as w, ProcessGroup(tmp_path / "logs") as procs, Balancer() as lb:
        policy = tmp_path / "policy.yaml"
        policy.write_text(yaml.safe_dump(policy_dict(small=[w.url])))

        def start(name: str) -> tuple[subprocess.Popen[bytes], str]:
            port = free_port()
            proc = procs.start(name, tierroute_cmd("serve", "--policy", str(policy), "--port", str(port),
                                                   "--drain-s", str(DRAIN_S), "--shutdown-timeout-s", "10"),
                               env={"TIERROUTE_API_KEYS": KEY, "TIERROUTE_ADMIN_KEY": "sk-drain-admin"})
            base = f"http://127.0.0.1:{port}"
            procs.wait_http(name, base + "/ready", timeout=180)
            lb.known.append(base)
            return proc, base

        a, a_url = start("proxy")
        b, b_url = start("proxy-b")
        _until(lambda: len(lb.ready) == 2 and lb.ok >= 50, "load on both proxies", 30)
        _drain(procs, a, a_url, lb)
        c, c_url = start("proxy-c")  # the rolling update's replacement
        _until(lambda: c_url in lb.ready, "the replacement in rotation", 30)
        served = lb.ok
        _drain(procs, b, b_url, lb)
        _until(lambda: lb.ok >= served + 100, "load after the rolling restart", 30)
    assert lb.ok > 300
    assert lb.failures == [], f"{len(lb.failures)} failed of {lb.ok + len(lb.failures)}: {lb.failures[:5]}"
