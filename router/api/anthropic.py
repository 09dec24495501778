"""Anthropic's Messages API (``POST /v1/messages``) as a dialect in front of the same pipeline.

The request is translated to OpenAI's chat shape and routed like any other (``model`` may be
``auto``, a tier or a concrete model); the reply or stream is translated back. Errors use
Anthropic's shape (``{"type": "error", "error": {...}}``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import orjson

from .. import pipeline
from ..anthropic import (
    AnthropicRequestError,
    StreamTranslator,
    error_body,
    error_event,
    from_openai_response,
    to_openai_request,
)
from ..errors import BadRequest, TierrouteError
from .http import id_headers


class AnthropicDialect:
    def request(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return to_openai_request(body)
        except AnthropicRequestError as e:
            raise BadRequest(e.message, param=e.param) from None

    def reply(self, routed: pipeline.Routed) -> bytes:
        assert routed.reply is not None
        return orjson.dumps(from_openai_response(routed.reply.data))

    def stream(self, routed: pipeline.Routed) -> AsyncGenerator[bytes, None]:
        return _events(routed)

    def headers(self, routed: pipeline.Routed) -> dict[str, str]:
        return {**routed.headers(), "request-id": routed.request_id}

    def error(self, e: TierrouteError, request_id: str) -> tuple[bytes, dict[str, str]]:
        return (orjson.dumps(error_body(e.status, e.message)),
                {**e.headers, **id_headers(request_id), "request-id": request_id})


async def _events(routed: pipeline.Routed) -> AsyncGenerator[bytes, None]:
    events = routed.events
    assert events is not None
    translator = StreamTranslator(routed.replica.model)
    try:
        async for batch in events:
            out = b"".join([part for ev in batch for part in translator.feed(orjson.loads(ev.payload))])
            if out:
                yield out
        tail = b"".join(translator.finish())
        if tail:
            yield tail
    except TierrouteError as e:
        yield error_event(e.status, e.message)
    finally:
        await events.aclose()
