"""Child processes for the demo and the benchmarks: start, wait until they answer, always clean up."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tierroute_cmd(*args: str) -> list[str]:
    """The ``tierroute`` command run with this interpreter (works without the console script)."""
    return [sys.executable, "-m", "router", *args]


class ProcessGroup:
    """Processes started together and stopped together (SIGTERM, then SIGKILL after a grace period)."""

    def __init__(self, log_dir: str | Path | None = None) -> None:
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="tierroute-procs-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, cmd: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - owned by the child's lifetime
        proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, start_new_session=True)
        log.close()
        self._procs.append((name, proc))
        return proc

    def processes(self) -> list[tuple[str, subprocess.Popen[bytes]]]:
        return list(self._procs)

    def wait_http(self, name: str, url: str, *, timeout: float = 60.0, status: int = 200) -> None:
        """Poll ``url`` until it answers ``status``; fail early if the process died."""
        proc = dict(self._procs)[name]
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; log:\n{self.tail(name)}")
            try:
                r = httpx.get(url, timeout=2.0)
                if r.status_code == status:
                    return
                last = f"HTTP {r.status_code}: {r.text[:200]}"
            except httpx.HTTPError as e:
                last = f"{type(e).__name__}"
            time.sleep(0.2)
        raise TimeoutError(f"{name} did not answer {url} within {timeout:.0f} s ({last}); log:\n{self.tail(name)}")

    def wait_until(self, pred: Callable[[], bool], timeout: float, what: str, name: str | None = None) -> None:
        """Poll ``pred`` until it holds; on timeout raise with the tail of ``name``'s log."""
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                log = f"; {name} log:\n{self.tail(name)}" if name else ""
                raise TimeoutError(f"waited {timeout:.0f} s for {what}{log}")
            time.sleep(0.2)

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self, grace: float = 5.0) -> None:
        for _, p in self._procs:
            if p.poll() is None:
                _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for _, p in self._procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(p, signal.SIGKILL)
                p.wait()
        self._procs.clear()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _signal_group(p: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass
