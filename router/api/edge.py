"""The HTTP edge of the hot path: raw ASGI for the generation endpoints, Starlette for the rest.

``POST /v1/chat/completions``, ``/v1/completions`` and ``/v1/messages`` are served here
directly: check the key from the headers (:mod:`.http`, before a byte of the body is read),
read the body, run :func:`router.pipeline.handle`, send the answer or relay the stream.
Everything else (models, admin, health, errors for unknown paths, the lifespan) goes to the
Starlette app, behind the same gate. A framework's routing, middleware and per-chunk wrappers cost about half
of a pass-through's time on this path (profiled in docs/performance.md); the edge keeps to
what the ASGI spec requires.

A :class:`Dialect` shapes requests, answers and errors for one API (OpenAI's or Anthropic's).
Streams watch for the client hanging up (a task waiting on ``receive``): the relay is
cancelled and the upstream stream closed, so SGLang stops generating.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Coroutine, Mapping
from typing import Any, Protocol

from .. import pipeline
from ..domain import Endpoint
from ..errors import Forbidden, InternalError, MethodNotAllowed, PayloadTooLarge, TierrouteError
from ..parse import decode_json
from ..policy.model import Cors
from ..runtime import Services
from .http import SDK_REQUEST_ID_HEADER, Front, accepted_id, id_headers, render

log = logging.getLogger("tierroute.access")

Scope = dict[str, Any]
Receive = Any
Send = Any
Headers = list[tuple[bytes, bytes]]

# The request headers the pipeline reads; the rest are never decoded.
WANTED = frozenset({b"authorization", b"x-api-key", b"content-length", b"x-request-id", b"x-tierroute-tier",
                    b"x-tierroute-session", b"x-tierroute-min-tier", b"x-tierroute-max-tier",
                    b"x-tierroute-max-cost-usd"})
SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
JSON = [(b"content-type", b"application/json")]


class Dialect(Protocol):
    def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """The client's body in OpenAI's request shape (raises TierrouteError when it cannot be)."""
        ...

    def reply(self, routed: pipeline.Routed) -> bytes: ...

    def stream(self, routed: pipeline.Routed) -> AsyncGenerator[bytes, None]: ...

    def headers(self, routed: pipeline.Routed) -> dict[str, str]: ...

    def error(self, e: TierrouteError, request_id: str) -> tuple[bytes, dict[str, str]]: ...


class _ClientGone(Exception):
    """The client hung up before it finished sending its request."""


class Edge:
    def __init__(self, svc: Services, front: Front, app: Any, routes: dict[str, tuple[Endpoint, Dialect]]) -> None:
        self._svc = svc
        self._front = front
        self._app = app
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            cors = self._svc.runtime().policy.cors
            if cors is not None:  # browser apps (policy ``cors``): preflights answered, answers marked
                origin = _header(scope, b"origin")
                if origin is not None:
                    if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
                        await self._preflight(scope, send, cors, origin)
                        return
                    send = _with_cors(send, cors, origin)
            route = self._routes.get(scope["path"])
            if route is not None:
                if scope["method"] == "POST":
                    await self._generate(scope, receive, send, *route)
                else:
                    e = MethodNotAllowed(f"Method {scope['method']} is not allowed on {scope['path']}; use POST.")
                    await self._fail(send, route[1], e, self._front.new_id(), extra={"allow": "POST"})
                return
        await self._app(scope, receive, _with_request_id(send, self._front, scope) if scope["type"] == "http" else send)

    async def _preflight(self, scope: Scope, send: Send, cors: Cors, origin: str) -> None:
        """A browser's preflight ``OPTIONS``: answered without a key (browsers send none with it)."""
        rid = self._front.new_id()
        method = (_header(scope, b"access-control-request-method") or "").upper()
        if not allowed_origin(cors, origin):
            e: TierrouteError = Forbidden(f"Origin {origin} is not allowed (policy cors.allow_origins).",
                                          code="cors_origin_not_allowed")
        elif method not in cors.allow_methods:
            e = Forbidden(f"Method {method} is not allowed cross-origin (policy cors.allow_methods).",
                          code="cors_method_not_allowed")
        else:
            asked = _header(scope, b"access-control-request-headers")
            headers = {**id_headers(rid), **_cors_headers(cors, origin),
                       "access-control-allow-methods": ", ".join(cors.allow_methods),
                       "access-control-max-age": str(cors.max_age_s)}
            allow = asked if "*" in cors.allow_headers else ", ".join(cors.allow_headers)
            if allow:
                headers["access-control-allow-headers"] = allow
            await _send(send, 204, _encode(headers), b"")
            return
        self._front.failed(e, rid)
        payload, headers = render(e, rid)
        await _send(send, e.status, JSON + _encode(headers), payload)

    async def _generate(self, scope: Scope, receive: Receive, send: Send, endpoint: Endpoint,
                        dialect: Dialect) -> None:
        started = self._svc.clock.now()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in WANTED}
        key = self._front.new_id()
        rid = accepted_id(headers.get("x-request-id")) or key
        try:
            caller = await self._front.client(headers, rid, key, started)  # the key, before a byte of the body
            raw = await read_body(receive, headers, caller.rt.policy.upstream.max_body_bytes)
            body = dialect.request(decode_json(raw))
            exchange = _Exchange(send, receive, dialect)
            if body.get("stream") is True:  # the client may hang up at any point: watched from now on
                await exchange.watching(pipeline.handle(self._svc, caller, endpoint, body, headers, exchange.respond))
            else:
                await pipeline.handle(self._svc, caller, endpoint, body, headers, exchange.respond)
        except TierrouteError as e:
            await self._fail(send, dialect, e, rid)
        except _ClientGone:
            return
        except Exception:  # noqa: BLE001 - the last resort: logged with its traceback, answered as a 500
            log.exception("unhandled error", extra={"request_id": rid, "path": scope["path"]})
            await self._fail(send, dialect, InternalError(f"Internal error (request id {rid}); see the proxy log."),
                             rid)

    async def _fail(self, send: Send, dialect: Dialect, e: TierrouteError, rid: str,
                    extra: dict[str, str] | None = None) -> None:
        self._front.failed(e, rid)
        payload, headers = dialect.error(e, rid)
        await _send(send, e.status, JSON + _encode({**headers, **(extra or {})}), payload)


async def read_body(receive: Receive, headers: Mapping[str, str], limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` (declared or
    arriving in chunks); chunks are joined once, at the end (growing one bytes object is quadratic)."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is {declared} bytes; the limit is {limit}.")
    msg = await receive()
    if msg["type"] == "http.disconnect":
        raise _ClientGone
    first: bytes = msg.get("body", b"")
    if not msg.get("more_body", False):
        return first  # the usual case: one message, no copy
    chunks, size = [first], len(first)
    while size <= limit:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise _ClientGone
        chunk = msg.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if not msg.get("more_body", False) and size <= limit:
            return b"".join(chunks)
    raise PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes.")


EXPOSED = ("x-request-id, request-id, x-tierroute-request-id, x-tierroute-tier, x-tierroute-replica, "
           "x-tierroute-reason, x-tierroute-score, x-tierroute-cost-usd, x-tierroute-attempts, "
           "x-tierroute-dropped-params, retry-after")


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return str(v.decode("latin-1"))
    return None


def allowed_origin(cors: Cors, origin: str) -> bool:
    return "*" in cors.allow_origins or origin.lower() in cors.allow_origins


def _cors_headers(cors: Cors, origin: str) -> dict[str, str]:
    return {"access-control-allow-origin": "*" if "*" in cors.allow_origins else origin, "vary": "Origin",
            "access-control-expose-headers": EXPOSED}


def _with_cors(send: Send, cors: Cors, origin: str) -> Send:
    """``send`` that marks the answer readable by ``origin`` when the policy allows it."""
    if not allowed_origin(cors, origin):
        return send
    extra = _encode(_cors_headers(cors, origin))

    async def marked(msg: dict[str, Any]) -> None:
        if msg["type"] == "http.response.start":
            msg = {**msg, "headers": list(msg.get("headers") or []) + extra}
        await send(msg)

    return marked


def _with_request_id(send: Send, front: Front, scope: Scope) -> Send:
    """``send`` that gives an answer without a request id one (health, metrics, ...), as every answer has."""

    async def with_id(msg: dict[str, Any]) -> None:
        if msg["type"] == "http.response.start":
            headers = list(msg.get("headers") or [])
            if not any(k.lower() == SDK_REQUEST_ID_HEADER.encode() for k, _ in headers):
                rid = front.request_id(_header(scope, SDK_REQUEST_ID_HEADER.encode()))
                msg = {**msg, "headers": headers + _encode(id_headers(rid))}
        await send(msg)

    return with_id


def _encode(headers: dict[str, str]) -> Headers:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


async def _send(send: Send, status: int, headers: Headers, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": headers + [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _Exchange:
    """One request's connection: answers it and, for a stream, watches for the client hanging up.

    A hang-up cancels the request's task wherever it is (classifying, held by the prefill hold,
    waiting for the first token, relaying): the pipeline's slot releases what the request holds,
    and the upstream stream is closed, so SGLang stops generating.
    """

    __slots__ = ("_send", "_receive", "_dialect", "_hung_up", "_complete")

    def __init__(self, send: Send, receive: Receive, dialect: Dialect) -> None:
        self._send, self._receive, self._dialect = send, receive, dialect
        self._hung_up = False
        self._complete = False  # the last byte is being sent (the server then reports a disconnect too)

    async def respond(self, routed: pipeline.Routed) -> None:
        dialect = self._dialect
        if routed.events is None:
            self._complete = True
            await _send(self._send, 200, JSON + _encode(dialect.headers(routed)), dialect.reply(routed))
            return
        chunks = dialect.stream(routed)
        try:
            await self._send({"type": "http.response.start", "status": 200,
                              "headers": SSE + _encode(dialect.headers(routed))})
            async for chunk in chunks:
                await self._send({"type": "http.response.body", "body": chunk, "more_body": True})
            self._complete = True
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await chunks.aclose()

    async def watching(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work``; if the client hangs up first, cancel it and return quietly."""
        task = asyncio.current_task()
        assert task is not None
        watcher = asyncio.create_task(self._watch(task))
        try:
            await work
        except asyncio.CancelledError:
            if not self._hung_up:
                raise  # the server is shutting down: let the cancellation through
            task.uncancel()
        finally:
            watcher.cancel()

    async def _watch(self, task: asyncio.Task[Any]) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        if not self._complete:
            self._hung_up = True
            task.cancel()
