"""The backend seam: send one OpenAI-shaped request to one replica.

A backend turns a request body (already rewritten for the replica: concrete ``model``, usage
requested when streaming) into either a parsed JSON reply or an open stream of SSE ``data:``
payloads. Errors are raised as :mod:`router.errors` types before any byte reaches the client,
so that they get a proper status; ``ConnectFailed`` means "nothing was sent, another replica
may be tried".
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ..domain import Endpoint, Replica
from ..errors import (
    NoHealthyReplica,
    TierrouteError,
    UpstreamError,
    UpstreamStatus,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ..usage import Usage


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

    async def unsupported(self, replica: Replica, endpoint: Endpoint, body: dict[str, Any]) -> tuple[str, ...]:
        """Public OpenAI parameters in ``body`` that ``replica``'s model does not take (router/backends/fields.py)."""
        ...


def upstream_error(status: int, data: object, replica: Replica, *, retry_after: str | None = None,
                   via: str = "") -> TierrouteError:
    """The one mapping of an upstream's error answer (SGLang's and litellm's alike) to the client's error.

    ``data`` is the answer's parsed body (OpenAI's, SGLang's or FastAPI's shape, or None).

    - 401/403: the upstream refused *our* key, an operator problem → 502, a fault;
    - 429 → 429, 503 → 503 (both faults), with the upstream's ``retry-after`` passed on;
    - 504 → 504; other 5xx → 502 (faults);
    - other 4xx (the client's request: context too long, a bad value) → the same status with the
      upstream's message, addresses removed, in OpenAI's shape.

    A fault's message is neutral (the tier only); the upstream's words, replica and host go to
    ``detail``, which the pipeline logs with the request id and the client never sees.
    """
    message, typ, code = error_message(data, f"HTTP {status}")
    detail = f"{describe(replica)} answered HTTP {status}{via}: {message[:1000]}"
    headers = {"retry-after": retry_after} if retry_after and status in (429, 503) else None
    if status == 429:
        return UpstreamStatus(429, f"The upstream model for tier {replica.tier!r} is rate limited; retry later.",
                              code="rate_limit_exceeded", headers=headers, detail=detail)
    if status == 503:
        return UpstreamUnavailable(unavailable(replica), headers=headers, detail=detail)
    if status == 504:
        return timed_out(replica, detail)
    if status in (401, 403) or not 400 <= status < 500:
        return UpstreamError(unavailable(replica), detail=detail)
    if typ not in _OPENAI_TYPES:  # SGLang's "BadRequestError" and the like: OpenAI's type for the status
        typ = None
    if code is None or code.isdigit():  # SGLang puts the status there
        code = "context_length_exceeded" if _CONTEXT.search(message) else None
    return UpstreamStatus(status, scrub(message), type=typ, code=code, detail=detail)


_OPENAI_TYPES = frozenset({"invalid_request_error", "authentication_error", "permission_error", "not_found_error",
                           "rate_limit_error"})
_CONTEXT = re.compile(r"context length|context window|maximum context", re.IGNORECASE)


def api_key(replica: Replica, env: Mapping[str, str]) -> str | None:
    """The key ``replica`` is sent with, from the environment variable its policy names (None: no key).

    An unset variable is a 503 naming it (never the key), as is a value that cannot go in a header."""
    if replica.api_key_env is None:
        return None
    key = env.get(replica.api_key_env, "").strip()
    if not key or not key.isprintable() or not key.isascii():
        why = "is not set" if not key else "is not a printable ASCII token"
        raise NoHealthyReplica(f"backend {replica.id} ({replica.model}) has no API key: "
                               f"environment variable {replica.api_key_env} {why}")
    return key


def unavailable(replica: Replica) -> str:
    return f"The upstream model for tier {replica.tier!r} is unavailable; retry later."


def timed_out(replica: Replica, detail: str) -> UpstreamTimeout:
    return UpstreamTimeout(f"The upstream model for tier {replica.tier!r} did not answer in time; retry later.",
                           detail=detail)


def unreachable(replica: Replica, detail: str) -> ConnectFailed:
    return ConnectFailed(unavailable(replica), detail=f"{describe(replica)}: {detail}")


def broken(replica: Replica, detail: str) -> UpstreamError:
    """The upstream's answer was unusable (cut off, invalid JSON)."""
    return UpstreamError(unavailable(replica), detail=f"{describe(replica)}: {detail}")


def describe(replica: Replica) -> str:
    """Where an upstream error came from, for the log only."""
    return f"replica {replica.id} ({replica.url or replica.api_base or replica.model})"


_ADDRESS = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+|\b(?:[\w-]+\.)*[\w-]+:\d{2,5}\b", re.IGNORECASE)


def scrub(message: str) -> str:
    """An upstream's message with URLs and host:port removed (what the client may see of it)."""
    return _ADDRESS.sub("<upstream>", message)[:1000]


def inband_error(payload: bytes, replica: Replica) -> TierrouteError | None:
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
    return upstream_error(status, data, replica, via=" in its stream")


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
