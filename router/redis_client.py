"""The one Redis client a proxy shares among its Redis-backed stores (affinity, conversations,
limits) and the pipelined connection their per-request calls go through.

Commands time out after ``timeout_s`` and are never retried by the client: the stores fall back
to local decisions instead of making a request wait for Redis, behind a breaker each
(:mod:`router.redis_breaker`), and every error and local decision of every store is counted in the
client's one :class:`router.redis_breaker.RedisHealth` (``/admin/stats`` → ``affinity.store.redis``).

:class:`RedisPipe`: the per-request calls (the affinity choice and release, conversation tiers,
limits) share one connection per process and are pipelined. Every command issued in one turn of
the event loop goes out in one write; replies come back in order and are parsed by hiredis. No
pool: 64 concurrent requests are 64 commands in flight on one connection, never 64 connections
(redis-py's pool raised ``MaxConnectionsError`` there). ``timeout_s`` is a read timeout, as
redis-py's ``socket_timeout``: when commands wait and nothing has come back for that long (since
the oldest was written or the last reply, whichever is later; replies already waiting unread on the
socket count as come back: this process stalled, not Redis), every command in flight fails and the
connection is closed (their replies could no longer be matched); the next call connects again. A
burst of replies that takes longer as a whole is not a timeout. A caller that does not wait for the reply
(the conversation write, the lease release after the answer) uses :meth:`Calls.send` /
:meth:`Calls.script_soon`: the pipe hands out the reply's own future, no task per command. The
scripts the stores register are loaded when the connection opens (``SCRIPT LOAD``, pipelined), so
``EVALSHA`` does not miss.
The pipe's read timeout is ``read_timeout_s`` (250 ms): on this 2-core machine, shared with test
suites, Redis and the proxy are descheduled for over 50 ms now and then, and with 50 ms one such
pause failed every call in flight (64 local decisions at once, the breaker open for 5 s). A Redis
that is really gone costs one such wait: the breaker then decides locally without trying.
The redis-py pool (:func:`router.redis_connect.redis_client`) stays for the rest (lease renewal,
``/admin`` reads), bounded and blocking: it waits for a connection instead of raising when all are busy.
A ``READONLY`` reply (the primary it talks to was demoted) closes it; behind Sentinel it follows the
primary the Sentinels name (:mod:`router.redis_sentinel`). On a Redis Cluster the calls go through
redis-py's cluster client instead (:mod:`router.redis_cluster`); the stores see either through
:class:`Calls` (:func:`calls_of`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import select
import ssl
from collections import deque
from collections.abc import Sequence
from hashlib import sha1
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .redis_breaker import RedisHealth

log = logging.getLogger("tierroute.redis")
READ_TIMEOUT_S = 0.25  # the pipe's, by default (see the module docstring)
POOL_CONNECTIONS = 16  # the redis-py pool: lease renewal, /admin reads, tests; the hot path uses the pipe

Arg = str | bytes | int | float


class Calls:
    """The stores' per-request calls, over a subclass's ``call``: :class:`RedisPipe`, or on a Redis Cluster
    :class:`..redis_cluster.ClusterCalls`."""

    def __init__(self) -> None:
        self._scripts: dict[str, str] = {}  # sha -> source

    async def call(self, *args: Arg) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    async def get(self, name: str) -> bytes | None:
        return await self.call("GET", name)  # type: ignore[no-any-return]

    async def set(self, name: str, value: Arg, *, px: int) -> None:
        await self.call("SET", name, value, "PX", px)

    def register(self, source: str) -> str:
        """A script the stores run (the pipe loads it on each new connection); its SHA-1 for :meth:`script`."""
        sha = script_sha(source)
        self._scripts[sha] = source
        return sha

    async def script(self, sha: str, source: str, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        try:
            return await self.call("EVALSHA", sha, len(keys), *keys, *args)
        except ResponseError as e:
            if not _noscript(e):
                raise
        return await self.call("EVAL", source, len(keys), *keys, *args)  # loads it for the next EVALSHA

    def send(self, *args: Arg) -> asyncio.Future[Any]:
        """:meth:`call` for a caller that does not wait (a write after the answer): the reply's future.
        Here a task over :meth:`call`; :class:`RedisPipe` hands out its own future, no task."""
        return asyncio.ensure_future(self.call(*args))

    def script_soon(self, sha: str, source: str, keys: Sequence[str], args: Sequence[Arg]) -> asyncio.Future[Any]:
        """:meth:`script` for a caller that does not wait, as :meth:`send`."""
        return asyncio.ensure_future(self.script(sha, source, keys, args))


def _noscript(e: BaseException) -> bool:
    """redis-py's NoScriptError, or hiredis' "NOSCRIPT ..." reply: run the script's source instead."""
    return isinstance(e, NoScriptError) or (isinstance(e, ResponseError) and str(e).startswith("NOSCRIPT"))


class RedisPipe(Calls):
    """One pipelined connection (see the module docstring); ``call`` sends a command, ``script`` runs Lua."""

    def __init__(self, kwargs: dict[str, Any], timeout_s: float, *, tls: ssl.SSLContext | None = None) -> None:
        super().__init__()
        self._kw = kwargs  # redis-py's connection_kwargs: host/port or path, db, username, password
        self._timeout = timeout_s
        self._tls = tls  # rediss: the context redis-py's SSLConnection would use (tls_context)
        self._transport: asyncio.Transport | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._reader = hiredis.Reader(replyError=ResponseError)
        self._waiting: deque[list[Any]] = deque()  # [future, written at (loop time; inf until written)]
        self._out: list[bytes] = []
        self._watch: asyncio.TimerHandle | None = None
        self._last_reply = 0.0  # loop time of the last bytes received
        self._extended = 0  # deadlines passed with replies waiting unread, in a row

    async def call(self, *args: Arg) -> Any:
        if self._transport is None:
            await self._connect()
        return await self._enqueue(args)

    def send(self, *args: Arg) -> asyncio.Future[Any]:
        if self._transport is None:  # connect first: the task path
            return super().send(*args)
        return self._enqueue(args)

    def script_soon(self, sha: str, source: str, keys: Sequence[str], args: Sequence[Arg]) -> asyncio.Future[Any]:
        if self._transport is None:
            return super().script_soon(sha, source, keys, args)
        first = self._enqueue(("EVALSHA", sha, len(keys), *keys, *args))
        out: asyncio.Future[Any] = first.get_loop().create_future()

        def answered(f: asyncio.Future[Any]) -> None:
            e = None if f.cancelled() else f.exception()
            if e is not None and _noscript(e):  # flushed scripts: the source (loads it for the next EVALSHA)
                self.send("EVAL", source, len(keys), *keys, *args).add_done_callback(lambda g: _settle(out, g))
            else:
                _settle(out, f)

        first.add_done_callback(answered)
        return out

    def _enqueue(self, args: Sequence[Arg]) -> asyncio.Future[Any]:
        """Queue one command for this turn's write; its reply's future."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._waiting.append([fut, math.inf])
        self._out.append(_pack(args))
        if len(self._out) == 1:
            loop.call_soon(self._flush)
        if self._watch is None:
            self._watch = loop.call_later(self._timeout, self._check)
        return fut

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self._transport is not None and out:
            self._transport.write(b"".join(out))
            now, waiting = asyncio.get_running_loop().time(), self._waiting
            for i in range(1, min(len(out), len(waiting)) + 1):
                waiting[-i][1] = now

    def _check(self) -> None:
        self._watch = None
        if not self._waiting:
            return
        loop = asyncio.get_running_loop()
        deadline = max(self._waiting[0][1], self._last_reply) + self._timeout
        if deadline == math.inf:  # not written yet: the flush is due in this turn of the loop
            self._watch = loop.call_later(self._timeout, self._check)
            return
        if deadline > loop.time():
            self._watch = loop.call_later(max(0.001, deadline - loop.time()), self._check)
        elif self._unread() and self._extended < 3:
            # Replies are there, not yet read: this process stalled (a busy core, the GIL; uvloop runs due
            # timers before it reads sockets), not Redis. Not a timeout.
            self._extended += 1
            self._last_reply = loop.time()
            self._watch = loop.call_later(self._timeout, self._check)
        else:
            self._fail(RedisTimeoutError("Timeout reading from Redis"))

    async def _connect(self) -> None:
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        fut = self._connecting
        try:
            await asyncio.shield(fut)
        finally:
            if fut.done() and self._connecting is fut:
                self._connecting = None

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        kw = self._kw
        timeout = float(kw.get("socket_connect_timeout") or self._timeout)
        try:
            where = await self._address()
            async with asyncio.timeout(timeout):
                if isinstance(where, str):
                    transport, _ = await loop.create_unix_connection(lambda: _Protocol(self), where)
                else:
                    transport, _ = await loop.create_connection(lambda: _Protocol(self), *where, ssl=self._tls,
                                                                server_hostname=where[0] if self._tls else None)
        except TimeoutError as e:
            raise RedisTimeoutError("Timeout connecting to Redis") from e
        except OSError as e:
            raise RedisConnectionError(f"Error connecting to Redis: {e}") from e
        self._transport = transport  # type: ignore[assignment]
        self._reader = hiredis.Reader(replyError=ResponseError)
        hello: list[tuple[Arg, ...]] = []
        if kw.get("password"):
            hello.append(("AUTH", *([kw["username"]] if kw.get("username") else []), kw["password"]))
        if kw.get("db"):
            hello.append(("SELECT", int(kw["db"])))
        hello += [("SCRIPT", "LOAD", src) for src in self._scripts.values()]
        await asyncio.gather(*(self.call(*cmd) for cmd in hello))

    async def _address(self) -> str | tuple[str, int]:
        """Where to connect: a Unix socket's path, or host and port."""
        kw = self._kw
        return str(kw["path"]) if "path" in kw else (kw.get("host", "localhost"), int(kw.get("port", 6379)))

    def _idle(self) -> None:
        """Every reply is in (a subclass may act then)."""

    def _unread(self) -> bool:
        """Whether the connection's socket holds bytes the loop has not read yet."""
        sock = self._transport.get_extra_info("socket") if self._transport is not None else None
        if sock is None:
            return False
        try:
            return bool(select.select([sock.fileno()], [], [], 0)[0])
        except (OSError, ValueError):
            return False

    def _received(self, data: bytes) -> None:
        self._last_reply = asyncio.get_running_loop().time()
        self._extended = 0
        self._reader.feed(data)
        while self._waiting:
            reply = self._reader.gets()
            if reply is False:
                return
            fut = self._waiting.popleft()[0]
            if isinstance(reply, ResponseError) and str(reply).startswith("READONLY"):
                # the primary it connected to is a replica now (a failover): connect again, to the new one
                e = RedisConnectionError(f"Redis answered {str(reply)[:60]!r}: the primary has changed")
                if not fut.done():
                    fut.set_exception(e)
                self._fail(e)
                return
            if fut.done():
                continue
            if isinstance(reply, ResponseError):
                fut.set_exception(reply)
            else:
                fut.set_result(reply)
        self._idle()

    def _fail(self, e: Exception) -> None:
        transport, self._transport = self._transport, None
        self._out = []
        waiting, self._waiting = self._waiting, deque()
        for fut, _ in waiting:
            if not fut.done():
                fut.set_exception(e)
        if transport is not None:
            transport.close()

    def _lost(self, transport: asyncio.BaseTransport) -> None:
        if transport is self._transport:
            self._fail(RedisConnectionError("Connection to Redis lost"))

    def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        self._fail(RedisConnectionError("closed"))


class _Protocol(asyncio.Protocol):
    def __init__(self, pipe: RedisPipe) -> None:
        self._pipe = pipe
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._pipe._received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._pipe._lost(self._transport)


def _pack(args: Sequence[Arg]) -> bytes:
    """RESP: an array of bulk strings, packed by hiredis (C); what it does not take, as :func:`_pack_str`."""
    try:
        return hiredis.pack_command(tuple(args))  # type: ignore[arg-type]  # its stub types a 1-tuple
    except TypeError:  # e.g. a bool: hiredis takes str, bytes, int and float only
        return _pack_str(args)


def _pack_str(args: Sequence[Arg]) -> bytes:
    """RESP built as one str and encoded once (lengths are UTF-8 bytes)."""
    out = [f"*{len(args)}\r\n"]
    for a in args:
        v = a if isinstance(a, str) else a.decode() if isinstance(a, bytes) else repr(a) if isinstance(a, float) \
            else str(a)
        out.append(f"${len(v) if v.isascii() else len(v.encode())}\r\n{v}\r\n")
    return "".join(out).encode()


def _settle(out: asyncio.Future[Any], f: asyncio.Future[Any]) -> None:
    """``out`` ends as ``f`` did."""
    if out.done():
        return
    if f.cancelled():
        out.cancel()
    elif f.exception() is not None:
        out.set_exception(f.exception())  # type: ignore[arg-type]
    else:
        out.set_result(f.result())


def script_sha(source: str) -> str:
    return sha1(source.encode()).hexdigest()  # noqa: S324 - Redis names scripts by their SHA-1


class SharedRedis(Redis):
    """redis-py's client with the process's one :class:`RedisPipe` and :class:`RedisHealth` on it."""

    calls: RedisPipe
    health: RedisHealth

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        self.calls.close()
        await super().aclose(close_connection_pool)


def tls_context(kwargs: dict[str, Any]) -> ssl.SSLContext:
    """The TLS context of redis-py's own ``SSLConnection`` for these connection kwargs (its ``ssl_*``
    options and defaults: the certificate and host name checked against the system's CAs)."""
    return SSLConnection(**{k: v for k, v in kwargs.items() if k.startswith("ssl_")}).ssl_context.get()


def calls_of(redis: Any, timeout_s: float = 30.0) -> Calls:
    """The shared client's calls (:func:`router.redis_connect.redis_client`), or a new pipe on a plain
    redis-py client's address and timeout (``timeout_s`` when it has none)."""
    calls = getattr(redis, "calls", None)
    if calls is not None:
        return calls  # type: ignore[no-any-return]
    if not isinstance(redis, Redis):
        raise TypeError(f"the Redis stores take redis_connect.redis_client's client, not {type(redis).__name__}")
    kw = redis.connection_pool.connection_kwargs
    return RedisPipe(dict(kw), float(kw.get("socket_timeout") or timeout_s))


def health_of(redis: object) -> RedisHealth:
    """The client's shared health counters (a plain redis-py client: a store's own)."""
    h = getattr(redis, "health", None)
    return h if isinstance(h, RedisHealth) else RedisHealth()
