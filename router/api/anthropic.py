"""Anthropic's Messages API (``POST /v1/messages``) in front of the same pipeline.

The request is translated to OpenAI's chat shape, routed like any other (``model`` may be
``auto``, a tier or a concrete model), and the reply or stream is translated back. Errors use
Anthropic's shape (``{"type": "error", "error": {...}}``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .. import pipeline
from ..anthropic import (
    AnthropicRequestError,
    StreamTranslator,
    error_body,
    error_event,
    from_openai_response,
    to_openai_request,
)
from ..backends.base import Endpoint
from ..errors import BadRequest, TierrouteError
from ..parse import decode_json
from ..runtime import Services
from .common import json_response, log, read_body, request_id
from .openai import SSE_HEADERS


def routes(svc: Services) -> list[Route]:
    async def messages(request: Request) -> Response:
        started = svc.clock.now()
        rid = request_id(request)
        try:
            raw = await read_body(request, svc.runtime().policy.upstream.max_body_bytes)
            try:
                body = to_openai_request(decode_json(raw))
            except AnthropicRequestError as e:
                raise BadRequest(e.message, param=e.param) from None
            routed = await pipeline.handle(svc, Endpoint.CHAT, body, request.headers, rid, started)
        except TierrouteError as e:
            svc.stats.record_rejected(e.status)
            log.info("request failed", extra={"request_id": rid, "status": e.status, "code": e.code})
            return json_response(error_body(e.status, e.message), e.status,
                                 {**e.headers, "x-tierroute-request-id": rid, "request-id": rid})
        headers = {**routed.headers(), "request-id": rid}
        if routed.events is None:
            assert routed.reply is not None
            return json_response(from_openai_response(routed.reply.data), headers=headers)
        return StreamingResponse(_events(routed), media_type="text/event-stream", headers={**SSE_HEADERS, **headers})

    return [Route("/v1/messages", messages, methods=["POST"])]


async def _events(routed: pipeline.Routed) -> AsyncIterator[bytes]:
    events = routed.events
    assert events is not None
    translator = StreamTranslator(routed.replica.model)
    try:
        async for ev in events:
            for out in translator.feed(orjson.loads(ev.payload)):
                yield out
        for out in translator.finish():
            yield out
    except TierrouteError as e:
        yield error_event(e.status, e.message)
    finally:
        await events.aclose()
