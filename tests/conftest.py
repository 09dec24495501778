"""Shared fixtures: the environment for offline models, and Redis (shared or private)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis

from router.procs import free_port

for _name, _value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"),
                      ("LITELLM_LOCAL_MODEL_COST_MAP", "True"), ("TOKENIZERS_PARALLELISM", "false")):
    os.environ.setdefault(_name, _value)

SHARED_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def shared_redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(SHARED_URL)
    try:
        await client.ping()
    except redis.RedisError as e:  # make test starts one; say so plainly if it is not there
        pytest.fail(f"no Redis at {SHARED_URL} ({e}); run the suite with `make test`")
    yield client
    await client.aclose()


@pytest.fixture
def scope() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


class RedisServer:
    """A private redis-server on a free port that a test may kill and restart."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (make test installs Debian's redis-server)")
        self.binary, self.workdir, self.port = binary, workdir, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.workdir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()
