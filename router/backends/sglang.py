"""SGLang replicas over their OpenAI-compatible HTTP API — the hot path.

One connection pool (:mod:`.h1`, keep-alive HTTP/1.1 parsed by httptools) is created at start
and shared by every request. It replaced ``aiohttp.ClientSession``, which cost about half of
every proxied request's CPU time here (docs/performance.md, section 10). Streams are relayed as
they arrive: the ``data:`` payloads of one read are handed on together, without re-encoding.

Status mapping: :func:`.base.upstream_error`, shared with litellm (401/403 → 502; 429, 503 →
the same with ``retry-after``; 504 → 504; other 5xx → 502; other 4xx → the same status with the
upstream's message, addresses removed); an unreadable body → 502; no connection, or the
connection lost before the answer began → ConnectFailed (retried on another replica by the
caller); read timeout → 504. Client-facing messages name the tier only; the rest is ``detail``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from ..domain import Endpoint, Replica
from ..errors import TierrouteError
from .base import Reply, api_key, broken, timed_out, unreachable, upstream_error
from .h1 import BrokenResponse, ConnectError, Disconnected, H1Pool, ReadTimeout, Response, Target
from .sglang_shape import openai_bytes

_JSON = b"Content-Type: application/json\r\nX-Request-Id: "


class SGLangBackend:
    def __init__(self, *, connect_timeout_s: float, read_timeout_s: float,
                 env: Mapping[str, str] | None = None) -> None:
        self._pool = H1Pool(connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s)
        self._env: Mapping[str, str] = env if env is not None else os.environ
        self._targets: dict[tuple[str | None, str | None, Endpoint], tuple[Target, bytes]] = {}

    async def start(self) -> None:
        return None  # connections open on first use

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def unsupported(self, replica: Replica, endpoint: Endpoint, body: dict[str, Any]) -> tuple[str, ...]:
        return ()  # SGLang's OpenAI server takes every public parameter (router/backends/fields.py, rule 5)

    def describe(self) -> dict[str, float | int]:
        """The connection pool's bounds and what they closed (``/admin/stats`` ``bounds``)."""
        return self._pool.describe()

    def _target(self, replica: Replica, endpoint: Endpoint) -> tuple[Target, bytes]:
        """The parsed URL and the fixed headers (with the replica's key, if it has one), made once per
        replica and endpoint. An unset key variable is a 503 naming it, each time (never cached)."""
        ident = (replica.url, replica.api_key_env, endpoint)
        target = self._targets.get(ident)
        if target is None:
            key = api_key(replica, self._env)
            auth = b"" if key is None else b"Authorization: Bearer " + key.encode("ascii") + b"\r\n"
            target = self._targets[ident] = (Target(f"{replica.url}{endpoint.path}"), auth + _JSON)
        return target

    async def _post(self, replica: Replica, endpoint: Endpoint, body: dict[str, Any], request_id: str) -> Response:
        target, head = self._target(replica, endpoint)
        headers = head + request_id.encode("latin-1") + b"\r\n"
        try:
            resp = await self._pool.request(target, headers, orjson.dumps(body))
        except ConnectError as e:
            raise unreachable(replica, str(e)) from None
        except (Disconnected, BrokenResponse) as e:
            raise unreachable(replica, f"dropped the connection: {e}") from None
        except ReadTimeout:
            raise timed_out(replica, f"replica {replica.id} did not answer in time") from None
        if resp.status != 200:
            try:
                raw = await resp.read()
            except (ReadTimeout, BrokenResponse):
                raw = b""
            raise _status_error(resp, raw, replica)
        return resp

    async def complete(self, replica: Replica, endpoint: Endpoint, body: dict[str, Any],
                       request_id: str) -> Reply:
        resp = await self._post(replica, endpoint, body, request_id)
        try:
            raw = await resp.read()
        except ReadTimeout:
            raise timed_out(replica, f"replica {replica.id} stopped answering") from None
        except BrokenResponse as e:
            raise broken(replica, f"broke off its answer: {e}") from None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise broken(replica, "answered with invalid JSON") from None
        if not isinstance(data, dict):
            raise broken(replica, "answered with a non-object JSON body")
        return Reply(data, openai_bytes(raw))  # the bytes clients get: in OpenAI's schema

    async def stream(self, replica: Replica, endpoint: Endpoint, body: dict[str, Any],
                     request_id: str) -> _SSEStream:
        return _SSEStream(await self._post(replica, endpoint, body, request_id), replica)


class _SSEStream:
    def __init__(self, resp: Response, replica: Replica) -> None:
        self._resp = resp
        self._replica = replica

    async def batches(self) -> AsyncIterator[list[bytes]]:
        try:
            async for batch in sse_batches(self._resp.iter_chunks()):
                yield [openai_bytes(event) for event in batch]
        except ReadTimeout:
            raise timed_out(self._replica, f"replica {self._replica.id} stalled mid-stream") from None
        except BrokenResponse as e:
            raise broken(self._replica, f"broke off the stream: {e}") from None

    async def aclose(self) -> None:
        self._resp.close()


async def sse_batches(chunks: AsyncIterator[bytes]) -> AsyncIterator[list[bytes]]:
    """Split a byte stream into SSE events; yield the ``data`` of the events each read completed.

    One list per upstream read that completed at least one event (never an empty list), so the
    layers above handle, and the client gets, what arrived together in one go. Stops at ``[DONE]``.
    """
    buf = b""
    async for chunk in chunks:
        buf = buf + chunk if buf else chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        batch: list[bytes] = []
        while True:
            end = buf.find(b"\n\n")
            if end < 0:
                break
            block, buf = buf[:end], buf[end + 2:]
            data = _data_of(block)
            if data is None:
                continue
            if data == b"[DONE]":
                if batch:
                    yield batch
                return
            batch.append(data)
        if batch:
            yield batch
    if buf.strip():
        data = _data_of(buf.strip())
        if data is not None and data != b"[DONE]":
            yield [data]


def _data_of(block: bytes) -> bytes | None:
    if block.startswith(b"data: ") and b"\n" not in block:
        return block[6:]
    lines = [ln[5:].removeprefix(b" ") for ln in block.split(b"\n") if ln.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


def _status_error(resp: Response, raw: bytes, replica: Replica) -> TierrouteError:
    try:
        data: object = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        data = None
    return upstream_error(resp.status, data, replica, retry_after=resp.retry_after)
