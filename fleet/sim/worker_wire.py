"""Wire helpers of the simulated SGLang worker's generation endpoints: SGLang's error body,
request field checks (as its pydantic models and handlers word them), the usage object, the
context-length check, SSE framing, and running a non-streamed request through the engine."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from starlette.responses import Response

from .engine import SimEngine, WorkerConfig
from .faults import JSON
from .reply import Reply
from .tokenize import EOS_ID


class BadRequest(Exception):
    def __init__(self, message: str, *, kind: str = "BadRequestError", status: int = 400) -> None:
        super().__init__(message)
        self.message, self.kind, self.status = message, kind, status


def error_response(message: str, status: int = 400, kind: str | None = None) -> Response:
    body = {"object": "error", "message": message, "type": kind or HTTPStatus(status).phrase,
            "param": None, "code": status}
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


def validation(message: str) -> BadRequest:
    return BadRequest(message, kind=HTTPStatus.BAD_REQUEST.phrase)


def check_length(cfg: WorkerConfig, prompt_len: int, max_tokens: int | None) -> None:
    ctx = cfg.context_length
    if prompt_len >= ctx:
        raise BadRequest(f"The input ({prompt_len} tokens) is longer than the model's context length "
                         f"({ctx} tokens).")
    if max_tokens is not None and prompt_len + max_tokens > ctx:
        raise BadRequest(f"Requested token count exceeds the model's maximum context length of {ctx} tokens. "
                         f"You requested a total of {prompt_len + max_tokens} tokens: {prompt_len} tokens from "
                         f"the input messages and {max_tokens} tokens for the completion. Please reduce the "
                         "number of tokens in the input messages or the completion to fit within the limit.")


def usage(prompt_len: int, completion: int, cached: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt_len, "total_tokens": prompt_len + completion,
            "completion_tokens": completion, "prompt_tokens_details": {"cached_tokens": cached},
            "reasoning_tokens": 0}


async def run(engine: SimEngine, prompt_ids: list[int], reply: Reply) -> int:
    """Run a non-streaming request through the engine; returns its cached_tokens."""
    async with engine.session(prompt_ids) as s:
        await s.prefill()
        async for _ in s.decode(len(reply.ids), stream=False):
            pass
        s.finish(reply.ids)
        return s.cached_tokens


def loads(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise validation(f"JSON decode error: {e}") from None
    if not isinstance(body, dict):
        raise validation("Input should be a valid dictionary or object to extract fields from")
    return body


def max_tokens(body: dict[str, Any], *keys: str, default: int | None) -> int | None:
    for key in keys:
        v = body.get(key)
        if v is None:
            continue
        if not isinstance(v, int) or isinstance(v, bool):
            raise validation(f"{key}: Input should be a valid integer")
        if v <= 0:
            raise validation(f"{key}: Value error, {key} must be positive")
        return v
    return default


def stop_strings(stop: Any) -> tuple[str, ...]:
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,)
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return tuple(stop)
    raise validation("stop: Input should be a valid string or a list of strings")


def single_choice(body: dict[str, Any]) -> None:
    n = body.get("n")
    if n not in (None, 1):
        raise BadRequest("The simulated worker supports n=1 only.")


def include_usage(body: dict[str, Any]) -> bool:
    opts = body.get("stream_options")
    return isinstance(opts, dict) and bool(opts.get("include_usage"))


def matched(reply: Reply) -> int | str | None:
    if reply.matched_stop is not None:
        return reply.matched_stop
    return EOS_ID if reply.natural_end else None


def event(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"
