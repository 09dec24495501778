"""What the fake provider's answers look like on the wire: OpenAI's and Anthropic's error bodies,
OpenAI's usage object, and server-sent events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

JSON = "application/json"

_OPENAI_ERRORS = {
    400: ("invalid_request_error", None, "Bad request (simulated)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist (simulated)."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests (simulated)."),
    500: ("server_error", None, "The server had an error while processing your request (simulated)."),
    503: ("server_error", None, "The engine is currently overloaded (simulated)."),
}
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
    413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error",
}


def openai_usage(prompt: int, completion: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}


def openai_error(status: int, message: str | None = None, *, param: str | None = None) -> Response:
    kind, code, default = _OPENAI_ERRORS.get(status, ("server_error" if status >= 500 else "invalid_request_error",
                                                      None, f"Simulated error {status}."))
    body = {"error": {"message": message or default, "type": kind, "param": param, "code": code}}
    headers = {"retry-after": "0"} if status == 429 else None
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def anthropic_error(status: int, message: str | None = None) -> Response:
    kind = _ANTHROPIC_ERRORS.get(status, "api_error" if status >= 500 else "invalid_request_error")
    body = {"type": "error", "error": {"type": kind, "message": message or f"Simulated {kind} ({status})."},
            "request_id": "req_" + uuid.uuid4().hex[:24]}
    headers = {"retry-after": "0"} if status == 429 else None
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def sse_data(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def sse_event(name: str, obj: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


def sse(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers={"cache-control": "no-cache"})
