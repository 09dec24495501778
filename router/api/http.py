"""The one front of every HTTP route: request ids, the header-only auth gate, the error renderer.

The raw edge (generation endpoints, :mod:`.edge`) and the Starlette routes (models, feedback,
admin, unknown paths) ask the same three questions, answered here once:

- **which request is this?** :meth:`Front.request_id`: the caller's ``x-request-id`` when it is a
  plain ASCII token (it is echoed back and logged), else a fresh one from :class:`RequestIds`.
  The caller's id is never used as an internal key: :meth:`Front.client` also gives every request
  a ``key`` of ours (unique across proxies) for leases, pending entries and upstream ids;
- **who is calling?** :meth:`Front.client` / :meth:`Front.admin`, from the headers alone, before a
  byte of the body is read: 401 (and 429 for a key over its rate limit or budget) cost no body;
- **what went wrong?** :func:`render` puts a :class:`router.errors.TierrouteError` in OpenAI's
  error shape (dialects with another shape, Anthropic's, shape the body themselves);
  :meth:`Front.failed` counts and logs every refusal the same way.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..auth import bearer
from ..errors import HTTPStatus, InternalError, MethodNotAllowed, TierrouteError, UnknownPath
from ..pipeline import Caller
from ..runtime import Runtime, Services

log = logging.getLogger("tierroute.access")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
REQUEST_ID_HEADER = "x-tierroute-request-id"
SDK_REQUEST_ID_HEADER = "x-request-id"  # read by the OpenAI SDKs (``response._request_id``)


def id_headers(rid: str) -> dict[str, str]:
    """The request id under both names: ours and the one OpenAI's SDKs read."""
    return {REQUEST_ID_HEADER: rid, SDK_REQUEST_ID_HEADER: rid}


def accepted_id(given: str | None) -> str | None:
    """The caller's ``x-request-id`` when it is a plain ASCII token (safe in logs and headers)."""
    return given if given and _SAFE_ID.match(given) else None


class RequestIds:
    """Short unique ids: a random per-process prefix and a counter (no syscall per request)."""

    def __init__(self) -> None:
        self._prefix = os.urandom(6).hex()
        self._count = itertools.count(1)

    def new(self) -> str:
        return f"{self._prefix}{next(self._count):08x}"


def render(e: TierrouteError, rid: str) -> tuple[bytes, dict[str, str]]:
    """OpenAI's error shape and the headers of an error answer; never a traceback."""
    return orjson.dumps(e.body()), {**e.headers, **id_headers(rid)}


def json_response(data: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, headers=headers, media_type="application/json")


Handler = Callable[[Request, Caller], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


class Front:
    def __init__(self, svc: Services) -> None:
        self._svc = svc
        self._ids = RequestIds()

    def new_id(self) -> str:
        return self._ids.new()

    def request_id(self, given: str | None) -> str:
        return accepted_id(given) or self._ids.new()

    async def client(self, headers: Mapping[str, str], rid: str, key: str, started: float) -> Caller:
        """The caller of a client endpoint, from its headers: Unauthorized, RateLimited or
        BudgetExceeded otherwise (its key's limits: :mod:`router.limits`).

        ``rid`` is echoed to the client; ``key`` (from :meth:`new_id`, never the client's) is ours."""
        rt = self._svc.runtime()  # one consistent policy snapshot for the whole request
        principal = rt.keys.client(bearer(headers))
        admission = await self._svc.limits.admit(principal)
        return Caller(rt, principal, rid, key, started, admission)

    def admin(self, headers: Mapping[str, str]) -> Runtime:
        rt = self._svc.runtime()
        rt.keys.admin(bearer(headers))
        return rt

    def failed(self, e: TierrouteError, rid: str) -> None:
        """Every refused request is counted and logged alike."""
        self._svc.stats.record_rejected(e.status)
        if log.isEnabledFor(logging.INFO):
            log.info("request failed", extra={"request_id": rid, "status": e.status, "code": e.code})

    def error_response(self, e: TierrouteError, rid: str, extra: dict[str, str] | None = None) -> Response:
        self.failed(e, rid)
        body, headers = render(e, rid)
        return Response(body, e.status, {**headers, **(extra or {})}, media_type="application/json")

    def route(self, handler: Handler) -> Endpoint:
        """A Starlette endpoint behind the client gate; its errors rendered, its request id echoed."""

        async def endpoint(request: Request) -> Response:
            key = self._ids.new()
            rid = accepted_id(request.headers.get("x-request-id")) or key
            try:
                caller = await self.client(request.headers, rid, key, self._svc.clock.now())
                response = await handler(request, caller)
            except TierrouteError as e:
                return self.error_response(e, rid)
            response.headers.update(id_headers(rid))
            return response

        return endpoint

    def admin_route(self, handler: Endpoint) -> Endpoint:
        """A Starlette endpoint behind the admin key."""

        async def endpoint(request: Request) -> Response:
            rid = self.request_id(request.headers.get("x-request-id"))
            try:
                self.admin(request.headers)
                response = await handler(request)
            except TierrouteError as e:
                return self.error_response(e, rid)
            response.headers.update(id_headers(rid))
            return response

        return endpoint

    def handlers(self) -> dict[type[Exception], Callable[[Request, Exception], Awaitable[Response]]]:
        """Starlette's exception handlers: unknown paths and methods, and the last-resort 500."""

        async def http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            rid = self.request_id(request.headers.get("x-request-id"))
            path, method = request.url.path, request.method
            e: TierrouteError = (UnknownPath(f"Unknown path {path}.") if exc.status_code == 404 else
                                 MethodNotAllowed(f"Method {method} is not allowed on {path}.")
                                 if exc.status_code == 405 else HTTPStatus(exc.status_code, str(exc.detail)))
            return self.error_response(e, rid, dict(exc.headers or {}))

        async def server_error(request: Request, exc: Exception) -> Response:
            rid = self.request_id(request.headers.get("x-request-id"))
            log.error("unhandled error", exc_info=exc, extra={"request_id": rid, "path": request.url.path})
            return self.error_response(InternalError(f"Internal error (request id {rid}); see the proxy log."), rid)

        return {HTTPException: http_error, Exception: server_error}

