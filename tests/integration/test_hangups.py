"""Nothing leaks when a request ends early (issue 10, point 4).

A client hangs up at each point of a streamed request's life: before the response headers (the
proxy still waits for the first token), while the headers are being sent, after them, mid-stream,
and while its request is held by the prefill hold. Afterwards no replica has a request in flight,
no lease is left in Redis and the picker has no pending entry (which its renewal loop would keep
alive forever). Two requests with the same client ``x-request-id`` keep separate accounting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from classifiers.fake import FunctionClassifier
from fleet.sim import worker
from router.app import create_app
from router.settings import Settings
from tests.api.raw import RawClient
from tests.conftest import RedisServer
from tests.integration.conftest import ADMIN_KEY, CLIENT_KEY, keyword_score
from tests.support import ServerThread, policy_dict, write_policy

SYSTEM = "You are a careful assistant for a shipping company. " * 60  # many affinity blocks
TTFT_S = 2.0  # the workers' time to first token: long enough to hang up before it


@dataclass
class Proxy:
    url: str
    port: int
    app: Any
    workers: list[str]
    redis: redis.Redis

    def stats(self) -> dict[str, Any]:
        return httpx.get(self.url + "/admin/stats", headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                         timeout=10).json()

    def in_flight(self) -> int:
        return sum(r["in_flight"] for r in self.stats()["replicas"].values())

    def leases(self) -> int:
        return sum(int(self.redis.zcard(k)) for k in self.redis.keys("tierroute:*:lease:*"))

    def pending(self) -> int:
        return len(self.app._svc.pickers["cache_aware"]._pending)  # noqa: SLF001 - the renewal loop's view

    def aborted(self) -> int:
        return sum(httpx.get(w + "/sim/stats", timeout=5).json()["aborted"] for w in self.workers)


@pytest.fixture
def proxy(tmp_path: Path, private_redis: RedisServer) -> Iterator[Proxy]:
    with ExitStack() as stack:
        cfg = worker.WorkerConfig(model="sim-small", ttft_ms=TTFT_S * 1000, decode_tokens_per_s=20,
                                  min_output_tokens=200, max_output_tokens=200)
        workers = [stack.enter_context(ServerThread(worker.create_app(cfg))).url for _ in range(2)]
        pol = policy_dict(small=workers)
        pol["balance"] = {"policy": "cache_aware", "prefill_wait_s": 5}
        path = write_policy(tmp_path / "policy.yaml", pol)
        app = create_app(Settings(policy_path=str(path), redis_url=private_redis.url),
                         classifier=FunctionClassifier(keyword_score),
                         env={"TIERROUTE_API_KEYS": CLIENT_KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY})
        server = stack.enter_context(ServerThread(app))
        client = stack.enter_context(redis.Redis(port=private_redis.port))
        yield Proxy(server.url, server.port, app, workers, client)


def _stream_request(question: str, request_id: str | None = None) -> tuple[dict[str, str], bytes]:
    body = orjson.dumps({"model": "small", "stream": True, "max_tokens": 200,
                         "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]})
    headers = {"Authorization": f"Bearer {CLIENT_KEY}", "Content-Type": "application/json",
               "Content-Length": str(len(body))}
    if request_id:
        headers["x-request-id"] = request_id
    return headers, body


def _start(proxy: Proxy, question: str, request_id: str | None = None) -> RawClient:
    c = RawClient(proxy.port, timeout=15)
    headers, body = _stream_request(question, request_id)
    c.head("POST", "/v1/chat/completions", headers)
    c.send(body)
    return c


def _eventually(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        time.sleep(0.05)


def _released(proxy: Proxy, within: float = 10.0) -> None:
    _eventually(lambda: proxy.in_flight() == 0 and proxy.leases() == 0 and proxy.pending() == 0, within,
                "in-flight counts, Redis leases and pending entries back to 0")


def test_hang_up_before_the_headers_releases_at_once_and_aborts_the_upstream(proxy: Proxy) -> None:
    c = _start(proxy, "Where is parcel 1?")
    _eventually(lambda: proxy.in_flight() == 1 and proxy.leases() == 1, 5, "the request is on a replica")
    c.close()  # the proxy is still waiting for the first token
    hung_up = time.monotonic()
    _released(proxy, within=TTFT_S)
    assert time.monotonic() - hung_up < TTFT_S * 0.75, "the proxy waited for the first token of a gone client"
    _eventually(lambda: proxy.aborted() == 1, 5, "the worker saw the upstream request go")
    assert proxy.stats()["rejected_by_status"] == {}


@pytest.mark.parametrize("when", ["after_headers", "mid_stream"])
def test_hang_up_after_the_headers_or_mid_stream(proxy: Proxy, when: str) -> None:
    c = _start(proxy, "Where is parcel 2?")
    assert c.status() == 200
    if when == "mid_stream":
        c.read_until(b"data: ", timeout=10)
    assert proxy.in_flight() == 1 and proxy.leases() == 1
    c.close()
    _released(proxy)
    _eventually(lambda: proxy.aborted() == 1, 5, "the worker saw the upstream request go")


def test_hang_up_while_held_by_the_prefill_hold(proxy: Proxy) -> None:
    first = _start(proxy, "Where is parcel 3?")  # prefilling the shared prompt for TTFT_S
    _eventually(lambda: proxy.leases() == 1, 5, "the first request is on a replica")
    second = _start(proxy, "Where is parcel 4?")  # same prompt head: held until the first's first token
    _eventually(lambda: proxy.stats()["affinity"]["prefill_holds"] == 1, 5, "the second request is held")
    assert proxy.leases() == 2 and proxy.in_flight() == 2
    second.close()
    _eventually(lambda: proxy.leases() == 1 and proxy.in_flight() == 1 and proxy.pending() == 1, 15,
                "the held request released what it held, the other one still runs")  # generous: CI may be loaded
    first.close()
    _released(proxy)


def test_a_whole_stream_then_nothing_is_left(proxy: Proxy) -> None:
    with httpx.Client(timeout=60) as client:
        headers, body = _stream_request("Where is parcel 5?")
        r = client.post(proxy.url + "/v1/chat/completions", headers=headers, content=body)
        assert r.status_code == 200 and r.text.endswith("data: [DONE]\n\n")
    _released(proxy)
    assert proxy.stats()["tiers"]["small"]["requests"] == 1


def test_two_requests_with_the_same_client_id_keep_their_own_accounting(proxy: Proxy) -> None:
    a = _start(proxy, "Where is parcel 6?", request_id="same-id")
    b = _start(proxy, "Where is parcel 6?", request_id="same-id")  # same prompt: same replica
    assert a.status() == 200 and b.status() == 200
    for c in (a, b):
        assert b"x-tierroute-request-id: same-id" in c.read_until(b"\r\n\r\n").lower()
    _eventually(lambda: proxy.leases() == 2 and proxy.pending() == 2, 5, "two leases for two requests")
    assert proxy.in_flight() == 2
    a.close()
    _eventually(lambda: proxy.in_flight() == 1, 5, "the first request released")
    time.sleep(0.3)  # the store's release runs in the background
    assert proxy.leases() == 1 and proxy.pending() == 1  # the second one's lease and entry are intact
    b.close()
    _released(proxy)


@asynccontextmanager
async def _serving(app: Any) -> AsyncIterator[None]:
    """Run an app's lifespan on this test's event loop (no server: the test is the ASGI server)."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get,
                                   outbox.put))
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


async def test_hang_up_while_the_headers_are_being_sent(proxy: Proxy, private_redis: RedisServer,
                                                        tmp_path: Path) -> None:
    """At the ASGI level, deterministically: ``send`` of the response start is slow (a full socket
    buffer) and the client hangs up meanwhile. The relay's generators never start; the request's
    slot still releases everything."""
    app = create_app(Settings(policy_path=str(tmp_path / "policy.yaml"), redis_url=private_redis.url),
                     classifier=FunctionClassifier(keyword_score),
                     env={"TIERROUTE_API_KEYS": CLIENT_KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY})
    headers, body = _stream_request("Where is parcel 7?")
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "asgi": {"version": "3.0"},
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sending_headers = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await sending_headers.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sending_headers.set()
            await asyncio.sleep(30)  # stuck until the hang-up cancels it

    async with _serving(app):
        await asyncio.wait_for(app(scope, receive, send), 15)
        svc = app._svc  # noqa: SLF001 - the process state /admin/stats shows
        await asyncio.sleep(0.2)  # the store's release runs in the background
        assert sum(r.state.in_flight for r in svc.runtime().table.all_replicas()) == 0
        assert not svc.pickers["cache_aware"]._pending  # noqa: SLF001 - nothing for the renewal loop
        assert proxy.leases() == 0
