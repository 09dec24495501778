"""The backend seam: send one OpenAI-shaped request to one replica.

A backend turns a request body (already rewritten for the replica: concrete ``model``, usage
requested when streaming) into either a parsed JSON reply or an open stream of SSE ``data:``
payloads. Errors are raised as :mod:`router.errors` types before any byte reaches the client,
so that they get a proper status; ``ConnectFailed`` means "nothing was sent, another replica
may be tried".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import orjson

from ..balance.pool import Replica
from ..errors import TierrouteError, UpstreamError, UpstreamStatus, UpstreamTimeout, UpstreamUnavailable
from ..usage import Usage


class Endpoint(StrEnum):
    CHAT = "chat"
    COMPLETIONS = "completions"

    @property
    def path(self) -> str:
        return "/v1/chat/completions" if self is Endpoint.CHAT else "/v1/completions"


class ConnectFailed(UpstreamError):
    """The replica could not be reached; the request was not delivered (safe to retry)."""

    status = 503
    type = "service_unavailable"
    code = "upstream_unreachable"


@dataclass(slots=True)
class Reply:
    """A complete (non-streaming) upstream answer."""

    data: dict[str, Any]
    raw: bytes | None = None  # the upstream's bytes when they can be passed on unchanged
    usage: Usage | None = None  # read from ``data`` once, by the pipeline


class EventStream(Protocol):
    """An open upstream stream; iterate ``batches()`` once, always ``aclose()``."""

    def batches(self) -> AsyncIterator[list[bytes]]:
        """The SSE ``data:`` payloads (JSON bytes), without the final ``[DONE]``, in the groups they
        arrived in (one upstream read; never an empty list). Relaying a group as one write instead
        of one write per event is most of a stream's cost at the proxy (docs/performance.md)."""
        ...

    async def aclose(self) -> None: ...


class Backend(Protocol):
    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def complete(self, replica: Replica, endpoint: Endpoint, body: dict[str, Any],
                       request_id: str) -> Reply: ...

    async def stream(self, replica: Replica, endpoint: Endpoint, body: dict[str, Any],
                     request_id: str) -> EventStream: ...


def error_for_status(status: int, data: object, where: str) -> TierrouteError:
    """The error to raise for an upstream error answer (``data``: its parsed body, if any).

    4xx (incl. 429) → the same status with the upstream's message; 503 → 503; 504 → 504;
    anything else → 502.
    """
    message, typ, code = error_message(data, f"{where} answered HTTP {status}")
    if status == 503:
        return UpstreamUnavailable(f"{where} is unavailable: {message}")
    if status == 504:
        return UpstreamTimeout(f"{where} timed out: {message}")
    if 400 <= status < 500:
        return UpstreamStatus(status, message, type=typ, code=code)
    return UpstreamError(f"{where} failed (HTTP {status}): {message}")


def inband_error(payload: bytes, where: str) -> TierrouteError | None:
    """An error sent as a stream's first event (SGLang validates streaming requests that way)."""
    head = payload[:64]
    if not (head.startswith(b'{"error"') or b'"object":"error"' in head or b'"object": "error"' in head):
        return None
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    err = data.get("error")
    code = err.get("code") if isinstance(err, dict) else data.get("code")
    status = code if isinstance(code, int) and 400 <= code < 600 else 502
    return error_for_status(status, data, where)


def error_message(data: object, fallback: str) -> tuple[str, str | None, str | None]:
    """(message, type, code) from an upstream error body in OpenAI's or SGLang's shape."""
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            code = err.get("code")
            return err["message"], _str(err.get("type")), str(code) if code is not None else None
        if isinstance(err, str):
            return err, None, None
        if isinstance(data.get("message"), str):  # SGLang: {"object": "error", "message", "type", "code"}
            return data["message"], _str(data.get("type")), None
        if isinstance(data.get("detail"), str):
            return data["detail"], None, None
    return fallback, None, None


def _str(v: object) -> str | None:
    return v if isinstance(v, str) else None
