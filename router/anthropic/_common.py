"""Shared pieces: the request error, SSE framing and Anthropic's error envelope."""

from __future__ import annotations

from typing import Any

import orjson

Json = dict[str, Any]
RAW_ARGUMENTS_KEY = "_raw_arguments"
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                503: "overloaded_error", 529: "overloaded_error"}


class AnthropicRequestError(ValueError):
    """A malformed Messages request; ``param`` is the offending field path."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def sse_event(name: str, payload: Json) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def error_type(status: int) -> str:
    """Anthropic ``error.type`` for an HTTP status."""
    if status in _ERROR_TYPES:
        return _ERROR_TYPES[status]
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def error_body(status: int, message: str) -> Json:
    """Anthropic's error envelope for an HTTP status."""
    return {"type": "error", "error": {"type": error_type(status), "message": message}}


def error_event(status: int, message: str) -> bytes:
    """The same error as an SSE ``error`` event, for failures after a stream has begun."""
    return sse_event("error", error_body(status, message))
