"""Helpers for tests that run real servers on loopback."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
import yaml

from router.procs import free_port


class ServerThread:
    """An ASGI app under uvicorn in a background thread, on a free loopback port."""

    def __init__(self, app: Any, *, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on",
                                access_log=False, timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("server thread died during start-up")
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def policy_dict(*, small: list[str], large: list[str] | None = None, frontier: dict[str, Any] | None = None,
                **routing: Any) -> dict[str, Any]:
    """A three-tier policy: small and large SGLang tiers and optionally a litellm frontier tier."""
    tiers: list[dict[str, Any]] = [
        {"name": "small", "context_tokens": 4096, "price": {"input_per_mtok": 0.1, "output_per_mtok": 0.2},
         "backends": [{"kind": "sglang", "model": "sim-small", "replicas": small}]},
    ]
    auto: list[dict[str, Any]] = [{"tier": "small", "below": 0.5}]
    if large:
        tiers.append({"name": "large", "context_tokens": 32768, "price": {"input_per_mtok": 1, "output_per_mtok": 2},
                      "backends": [{"kind": "sglang", "model": "sim-large", "speculative": True,
                                    "replicas": large}]})
        auto.append({"tier": "large", "below": 0.8} if frontier else {"tier": "large"})
    if frontier:
        tiers.append({"name": "frontier", "context_tokens": 200000,
                      "backends": [{"kind": "litellm", **frontier}]})
        auto.append({"tier": "frontier"})
    if len(auto) == 1:
        auto = [{"tier": "small"}]
    return {"version": 1, "tiers": tiers, "routing": {"auto": auto, **routing},
            "health": {"interval_s": 0.2, "timeout_s": 1, "unhealthy_after": 1},
            "upstream": {"connect_timeout_s": 2, "read_timeout_s": 30, "retries": 1}}


def write_policy(path: Path, policy: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path
