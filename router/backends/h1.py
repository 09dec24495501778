"""A small HTTP/1.1 client for the hot path to SGLang replicas.

Pooled keep-alive connections, one write per request, and responses parsed by ``httptools``
(the C parser uvicorn serves with). It does what tierroute needs from an upstream and no more:
a request with a bytes body, an answer read whole or chunk by chunk as it arrives, http and
https. Redirects, cookies, proxies, compression, 1xx answers and pipelining are not handled
(SGLang needs none of them), and an answer must carry a Content-Length or use chunked encoding,
as HTTP/1.1 servers' answers do (one that ends at connection close is reported as cut off).
aiohttp took 85–100 µs of CPU per proxied request on this machine; with this client the whole
proxy takes ~127 µs (docs/performance.md, section 10).

Behaviour:

* **Pool.** Idle connections are kept per origin (scheme, host, port), most recently used first.
  A connection goes back to the pool only after a complete answer on a keep-alive connection;
  anything else closes it. At most ``MAX_IDLE_PER_ORIGIN`` idle connections are kept per origin
  (one released beyond that is closed), and one idle longer than ``IDLE_EXPIRY_S`` is closed
  instead of reused. Expiry is checked when a connection is taken (no timers): the newest idle
  connection is checked, and expired ones at the old end of the list are closed as well.
* **Stale connections.** A server may close an idle keep-alive connection just as a request is
  written on it. When a *reused* connection is lost before the first byte of its answer, the
  request is sent once more on a new connection (what browsers and aiohttp do); a new
  connection that is lost that early raises :class:`Disconnected`.
* **Timeouts.** ``connect_timeout_s`` bounds opening a connection (TLS included);
  ``read_timeout_s`` bounds every wait for more of the answer (aiohttp's ``sock_read``), so a
  stream that keeps producing is never cut.
* **Flow control.** When more than ``HIGH_WATER`` bytes of an answer wait unread, the socket stops
  being read until the reader takes them.
* **Closing.** :meth:`Response.close` before the answer is complete closes the connection: the
  server sees the client go (SGLang aborts the generation).

Errors: :class:`ConnectError` (no connection), :class:`Disconnected` (lost before the answer
began), :class:`ReadTimeout`, :class:`BrokenResponse` (lost or malformed mid-answer).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import cast
from urllib.parse import urlsplit

import httptools

HIGH_WATER = 1 << 20
ONE_WRITE_MAX = 1 << 14  # a body up to this size goes out in the same write as the head
MAX_IDLE_PER_ORIGIN = 64  # idle keep-alive connections kept per origin; more are closed on release
IDLE_EXPIRY_S = 4.0  # under uvicorn's (SGLang's server) 5 s keep-alive: not reused as the server drops it


class H1Error(Exception):
    pass


class ConnectError(H1Error):
    """No connection could be opened."""


class Disconnected(H1Error):
    """The connection was lost before the answer began."""


class ReadTimeout(H1Error):
    """No more of the answer came within the read timeout."""


class BrokenResponse(H1Error):
    """The answer was cut off or could not be parsed."""


Origin = tuple[str, str, int]  # scheme, host, port


class Target:
    """A URL parsed once: where to connect and the request line and Host header to send."""

    __slots__ = ("origin", "head", "url")

    def __init__(self, url: str, method: str = "POST") -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.origin: Origin = (parts.scheme, parts.hostname, port)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.head = f"{method} {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n".encode("latin-1")
        self.url = url


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection and the answer currently arriving on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.idle_since = 0.0  # when it went back to the pool (the pool's clock)
        self._waiter: asyncio.Future[bool] | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.retry_after: str | None = None  # the one header an upstream's error answer passes on
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.started = False  # any byte of the current answer seen
        self.error: H1Error | None = None
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.paused = False

    # --- asyncio.Protocol -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        self.started = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(BrokenResponse(f"malformed HTTP answer: {e}"))
            self.close()

    def eof_received(self) -> bool | None:
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.complete and self.error is None:
            why = f": {exc}" if exc else ""
            self._fail(BrokenResponse(f"connection lost mid-answer{why}") if self.started
                       else Disconnected(f"connection lost before the answer{why}"))
        self._wake()

    # --- httptools callbacks --------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == 11 and name.lower() == b"retry-after":
            self.retry_after = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self._parser.should_keep_alive()
        self._wake()

    # --- used by the pool and the response ------------------------------------------------------
    def send(self, head: bytes, body: bytes) -> None:
        self._reset()
        assert self.transport is not None
        if len(body) <= ONE_WRITE_MAX:
            self.transport.write(head + body)
        else:
            self.transport.write(head)
            self.transport.write(body)

    def _fail(self, error: H1Error) -> None:
        if self.error is None:
            self.error = error

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(True)

    async def wait(self, timeout: float) -> None:
        """Raise the connection's error if it has one, else wait until something happens on it
        (:class:`ReadTimeout` after ``timeout``)."""
        if self.error is not None:
            raise self.error
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(timeout, _expire, waiter)
        try:
            woke = await waiter
        finally:
            timer.cancel()
            self._waiter = None
        if not woke:
            raise ReadTimeout(f"no data for {timeout:g} s")

    def take(self) -> bytes | None:
        """Everything of the answer that has arrived unread, as one piece (``None``: nothing yet).

        A chunked answer (SGLang sends each SSE event as its own chunk) gives one ``on_body`` per
        chunk; handing over all of them together keeps what came in one read together.
        """
        if not self.chunks:
            return None
        chunk = self.chunks.popleft() if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return chunk

    def close(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.close()
        self.lost = True


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class Response:
    """An answer whose status and headers have arrived; read the body once, then it is released."""

    __slots__ = ("_conn", "_pool", "_origin", "_timeout", "_done", "status", "retry_after")

    def __init__(self, conn: _Connection, pool: H1Pool, origin: Origin, timeout: float) -> None:
        self._conn = conn
        self._pool = pool
        self._origin = origin
        self._timeout = timeout
        self._done = False
        self.status = conn.status
        self.retry_after = conn.retry_after

    async def read(self) -> bytes:
        conn = self._conn
        try:
            while not conn.complete:
                await conn.wait(self._timeout)
        except BaseException:
            self.close()
            raise
        parts = list(conn.chunks)
        conn.chunks.clear()
        conn.buffered = 0
        self._release()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives: each piece is all that came since the last one (chunked
        transfer encoding decoded)."""
        conn = self._conn
        try:
            while True:
                chunk = conn.take()
                if chunk is not None:
                    yield chunk
                    continue
                if conn.complete:
                    break
                await conn.wait(self._timeout)
        except BaseException:
            self.close()
            raise
        self._release()

    def _release(self) -> None:
        if self._done:
            return
        self._done = True
        conn = self._conn
        if conn.complete and conn.keep_alive and not conn.lost and conn.error is None:
            self._pool.put(self._origin, conn)
        else:
            conn.close()

    def close(self) -> None:
        """Give the connection back if the answer is complete, else close it."""
        if not self._done:
            if not self._conn.complete:
                self._done = True
                self._conn.close()
            else:
                self._release()


class H1Pool:
    def __init__(self, *, connect_timeout_s: float, read_timeout_s: float,
                 ssl_context: ssl.SSLContext | None = None, max_idle_per_origin: int = MAX_IDLE_PER_ORIGIN,
                 idle_expiry_s: float = IDLE_EXPIRY_S, now: Callable[[], float] = time.monotonic) -> None:
        self._connect_timeout = connect_timeout_s
        self._read_timeout = read_timeout_s
        self._ssl = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}  # oldest first, most recently released last
        self._max_idle = max_idle_per_origin
        self._expiry = idle_expiry_s
        self._now = now
        self.closed_expired = 0
        self.closed_over_cap = 0

    async def request(self, target: Target, headers: bytes, body: bytes) -> Response:
        """Send ``target.head + headers`` (each ending in CRLF) and ``body``; wait for the status."""
        head = target.head + headers + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        conn, reused = self._take(target.origin)
        while True:
            if conn is None:
                conn = await self._connect(target.origin)
            try:
                conn.send(head, body)
                while not conn.headers_done:
                    await conn.wait(self._read_timeout)
            except Disconnected:
                conn.close()
                if reused:  # a stale keep-alive connection: once more on a new one
                    conn, reused = None, False
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            return Response(conn, self, target.origin, self._read_timeout)

    def _take(self, origin: Origin) -> tuple[_Connection | None, bool]:
        idle = self._idle.get(origin)
        if not idle:
            return None, False
        oldest = self._now() - self._expiry
        if idle[0].idle_since < oldest:  # expired ones sit at the old end: close them all
            keep = [c for c in idle if c.idle_since >= oldest]
            for c in idle:
                if c.idle_since < oldest:
                    self.closed_expired += not c.lost
                    c.close()
            idle[:] = keep
        while idle:
            conn = idle.pop()
            if not conn.lost:
                return conn, True
        return None, False

    def put(self, origin: Origin, conn: _Connection) -> None:
        idle = self._idle.get(origin)
        if idle is None:
            idle = self._idle[origin] = []
        if len(idle) >= self._max_idle:
            idle[:] = [c for c in idle if not c.lost]  # the server closed some: make room first
        if len(idle) >= self._max_idle:
            self.closed_over_cap += 1
            conn.close()
            return
        conn.idle_since = self._now()
        idle.append(conn)

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()  # once: building one loads the CA store
            tls = self._ssl
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, conn = await loop.create_connection(lambda: _Connection(loop), host, port, ssl=tls)
        except TimeoutError:
            raise ConnectError(f"connecting to {host}:{port} timed out after {self._connect_timeout:g} s") from None
        except (OSError, ssl.SSLError) as e:
            raise ConnectError(f"cannot connect to {host}:{port}: {e}") from None
        return conn

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    def idle_count(self) -> int:
        return sum(len(c) for c in self._idle.values())

    def describe(self) -> dict[str, float | int]:
        """The bounds and what they closed (for /admin/stats)."""
        return {"max_idle_per_origin": self._max_idle, "idle_expiry_s": self._expiry, "idle": self.idle_count(),
                "closed_expired": self.closed_expired, "closed_over_cap": self.closed_over_cap}
