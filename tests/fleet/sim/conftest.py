"""Fixtures for the simulator tests: real uvicorn servers on loopback, in background threads."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn

from fleet.sim import fake_provider
from fleet.sim.worker import WorkerConfig, create_app

# Fast settings: a reply of <= 64 tokens takes well under 100 ms.
FAST = {"ttft_ms": 2.0, "prefill_tokens_per_s": 1_000_000.0, "decode_tokens_per_s": 5_000.0}


class Server:
    """Run an ASGI app under uvicorn on an ephemeral loopback port until ``close``."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def start_worker() -> Iterator[Callable[..., str]]:
    """``start_worker(**WorkerConfig fields)`` -> base URL of a fresh simulated worker."""
    servers: list[Server] = []

    def start(**overrides: Any) -> str:
        server = Server(create_app(WorkerConfig(**{**FAST, **overrides})))
        servers.append(server)
        return server.url

    yield start
    for s in servers:
        s.close()


@pytest.fixture
def start_provider() -> Iterator[Callable[..., str]]:
    """``start_provider(**FakeProviderConfig fields)`` -> base URL of a fresh fake provider."""
    servers: list[Server] = []

    def start(**overrides: Any) -> str:
        cfg = fake_provider.FakeProviderConfig(**{"latency_ms": 1.0, "tokens_per_s": 0.0, **overrides})
        server = Server(fake_provider.create_app(cfg))
        servers.append(server)
        return server.url

    yield start
    for s in servers:
        s.close()


_SAMPLE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(?:\{(?P<labels>(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})?'
    r' (?P<value>[-+]?(?:[0-9.]+(?:[eE][-+]?[0-9]+)?|Inf|NaN|\+Inf|-Inf))(?: -?[0-9]+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_META = re.compile(r"^# (?:HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* "
                   r"(?:counter|gauge|histogram|summary|untyped))$")


def parse_prometheus(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Parse Prometheus text format 0.0.4 strictly enough for tests: every line must be valid."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("#"):
            assert _META.match(line), f"bad metadata line: {line!r}"
            parts = line.split(" ", 3)
            if parts[1] == "TYPE":
                assert parts[2] not in types, f"duplicate TYPE for {parts[2]}"
                types[parts[2]] = parts[3]
            continue
        m = _SAMPLE.match(line)
        assert m, f"bad sample line: {line!r}"
        labels = dict(_LABEL.findall(m["labels"] or ""))
        name = m["name"]
        family = next((name[: -len(s)] for s in ("_total", "_bucket", "_count", "_sum")
                       if name.endswith(s) and name[: -len(s)] in types), name)
        assert family in types, f"sample {name} has no TYPE line"
        samples.setdefault(name, []).append((labels, float(m["value"])))
    return samples
