"""SGLang replicas over their OpenAI-compatible HTTP API — the hot path.

One pooled ``aiohttp.ClientSession`` is created at start and shared by every request (aiohttp
measured ~7x the throughput of httpx as a pass-through client on this 2-core machine; see
docs/performance.md). Streams are relayed event by event: bytes are split on blank lines and
the ``data:`` payloads of one read are handed on together, without re-encoding.

Status mapping: upstream 4xx (incl. 429) → the same status with the upstream's message;
503 → 503; 504 → 504; other 5xx or an unreadable body → 502; no connection → ConnectFailed
(retried on another replica by the caller); read timeout → 504.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from aiohttp.payload import BytesPayload
from yarl import URL

from ..balance.pool import Replica
from ..errors import TierrouteError, UpstreamError, UpstreamTimeout
from .base import ConnectFailed, Endpoint, Reply, error_for_status

_JSON = {"Content-Type": "application/json"}


class SGLangBackend:
    def __init__(self, *, connect_timeout_s: float, read_timeout_s: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s, sock_read=read_timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[tuple[str | None, Endpoint], URL] = {}

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60, ttl_dns_cache=10)
        # No Accept-Encoding is sent (skipped below), so answers come uncompressed: nothing to decode.
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, auto_decompress=False,
                                              skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _url(self, replica: Replica, endpoint: Endpoint) -> URL:
        """Parsed once per replica and endpoint: aiohttp would otherwise parse the string every time."""
        key = (replica.url, endpoint)
        url = self._urls.get(key)
        if url is None:
            url = self._urls[key] = URL(f"{replica.url}{endpoint.path}")
        return url

    async def _post(self, replica: Replica, endpoint: Endpoint, body: dict[str, Any],
                    request_id: str) -> aiohttp.ClientResponse:
        assert self._session is not None, "backend not started"
        headers = {**_JSON, "X-Request-Id": request_id}
        try:
            resp = await self._session.post(self._url(replica, endpoint), data=BytesPayload(orjson.dumps(body)),
                                            headers=headers)
        except aiohttp.ClientConnectorError as e:
            raise ConnectFailed(f"cannot reach replica {replica.id}: {e.os_error or e}") from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as e:
            raise ConnectFailed(f"replica {replica.id} dropped the connection: {e}") from None
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise UpstreamTimeout(f"replica {replica.id} did not answer in time") from None
        if resp.status != 200:
            try:
                raw = await resp.read()
            except (TimeoutError, aiohttp.ClientError):
                raw = b""
            finally:
                resp.release()
            raise _status_error(resp.status, raw, replica)
        return resp

    async def complete(self, replica: Replica, endpoint: Endpoint, body: dict[str, Any],
                       request_id: str) -> Reply:
        resp = await self._post(replica, endpoint, body, request_id)
        try:
            raw = await resp.read()
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise UpstreamTimeout(f"replica {replica.id} stopped answering") from None
        except aiohttp.ClientError as e:
            raise UpstreamError(f"replica {replica.id} broke off its answer: {e}") from None
        finally:
            resp.release()
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"replica {replica.id} answered with invalid JSON") from None
        if not isinstance(data, dict):
            raise UpstreamError(f"replica {replica.id} answered with a non-object JSON body")
        return Reply(data, raw)

    async def stream(self, replica: Replica, endpoint: Endpoint, body: dict[str, Any],
                     request_id: str) -> _SSEStream:
        return _SSEStream(await self._post(replica, endpoint, body, request_id), replica)


class _SSEStream:
    def __init__(self, resp: aiohttp.ClientResponse, replica: Replica) -> None:
        self._resp = resp
        self._replica = replica

    async def batches(self) -> AsyncIterator[list[bytes]]:
        try:
            async for batch in sse_batches(self._resp.content.iter_any()):
                yield batch
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise UpstreamTimeout(f"replica {self._replica.id} stalled mid-stream") from None
        except aiohttp.ClientError as e:
            raise UpstreamError(f"replica {self._replica.id} broke off the stream: {e}") from None

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


def _status_error(status: int, raw: bytes, replica: Replica) -> TierrouteError:
    try:
        data: object = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        data = None
    return error_for_status(status, data, f"replica {replica.id}")
