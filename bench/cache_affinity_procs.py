"""Child processes of the cache-affinity benchmark: each in its own process group, always stopped.

Every child is started with ``start_new_session`` (its own process group) and stopped with
SIGTERM to the group, then SIGKILL after a grace period -- on normal exit, on an exception, on
Ctrl-C (SIGINT) and on SIGTERM (:func:`install_signal_handlers` turns SIGTERM into SystemExit
so the ``with Procs()`` blocks unwind), and, as a last resort, from ``atexit``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

import httpx

_LIVE: list[Procs] = []


_HANDED_OUT: set[int] = set()
_PORTS = (20000, 32000)  # below Linux' ephemeral range (32768-60999): no outgoing connection takes them meanwhile


def free_port() -> int:
    """A port nobody listens on now, below the ephemeral range, not handed out before in this run."""
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(*_PORTS)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port in {_PORTS}")


def install_signal_handlers() -> None:
    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background (SIG_IGN)


@atexit.register
def _stop_all() -> None:
    for p in list(_LIVE):
        p.stop(grace=1.0)


class Procs:
    def __init__(self, log_dir: str | Path | None = None) -> None:
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="cache-affinity-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._http: dict[str, tuple[Callable[[int], Sequence[str]], str, dict[str, str] | None, int]] = {}
        _LIVE.append(self)

    def start(self, name: str, cmd: Sequence[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        if name in self._procs:
            raise ValueError(f"{name} already started")
        with open(self.log_dir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env={**os.environ, **(env or {})}, start_new_session=True)
        self._procs[name] = proc
        return proc

    def start_http(self, name: str, cmd_for_port: Callable[[int], Sequence[str]], path: str, *,
                   env: dict[str, str] | None = None) -> None:
        """Start a server on a free port without waiting; :meth:`wait_ready` waits (and retries taken ports)."""
        port = free_port()
        self.start(name, cmd_for_port(port), env)
        self._http[name] = (cmd_for_port, path, env, port)

    def port(self, name: str) -> int:
        return self._http[name][3]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port(name)}"

    def wait_ready(self, names: Sequence[str], *, timeout: float = 60.0, tries: int = 5) -> None:
        """Wait until every named server answers 200 on its path; one that exits is restarted on a new port
        (most likely its port was taken between :func:`free_port` and its bind), up to ``tries`` times."""
        pending = list(names)
        restarts = dict.fromkeys(names, 0)
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{pending[0]} did not answer within {timeout:.0f} s; log:\n"
                                       f"{self.tail(pending[0])}")
                for name in list(pending):
                    cmd_for_port, path, env, port = self._http[name]
                    if self._procs[name].poll() is not None:
                        if restarts[name] + 1 >= tries:
                            raise RuntimeError(f"{name} exited with {self._procs[name].returncode}; log:\n"
                                               f"{self.tail(name)}")
                        restarts[name] += 1
                        self._procs.pop(name)
                        self.start_http(name, cmd_for_port, path, env=env)
                        continue
                    try:
                        if client.get(f"http://127.0.0.1:{port}{path}").status_code == 200:
                            pending.remove(name)
                    except httpx.HTTPError:
                        pass
                if pending:
                    time.sleep(0.1)

    def tail(self, name: str, lines: int = 20) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self, names: Sequence[str] | None = None, grace: float = 5.0) -> None:
        chosen = [(n, p) for n, p in self._procs.items() if names is None or n in names]
        for _, p in chosen:
            if p.poll() is None:
                _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for _, p in chosen:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(p, signal.SIGKILL)
                p.wait()
            _signal_group(p, signal.SIGKILL)  # anything the child left behind in its group
        for n, _ in chosen:
            self._procs.pop(n, None)
            self._http.pop(n, None)

    def __enter__(self) -> Procs:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        if self in _LIVE:
            _LIVE.remove(self)


def _signal_group(p: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(p.pid, sig)


def start_redis(procs: Procs, name: str = "redis", port: int | None = None) -> str:
    """A private redis-server (no persistence) on ``port`` (default: a free one); returns its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    import redis

    fixed = port
    for _ in range(3):
        port = fixed or free_port()
        procs.start(name, [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                           "--dir", str(procs.log_dir)])
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                client.close()
                return f"redis://127.0.0.1:{port}/0"
            except redis.RedisError:
                if procs._procs[name].poll() is not None:  # noqa: SLF001
                    break
                time.sleep(0.05)
        procs.stop([name])
    raise RuntimeError(f"could not start redis-server; log:\n{procs.tail(name)}")
