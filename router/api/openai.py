"""OpenAI-compatible endpoints: /v1/chat/completions, /v1/completions, /v1/models."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .. import pipeline
from ..auth import bearer
from ..backends.base import Endpoint
from ..errors import TierrouteError
from ..parse import decode_json
from ..runtime import Services
from .common import error_response, json_response, read_body, request_id

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def routes(svc: Services) -> list[Route]:
    async def chat(request: Request) -> Response:
        return await _complete(svc, request, Endpoint.CHAT)

    async def completions(request: Request) -> Response:
        return await _complete(svc, request, Endpoint.COMPLETIONS)

    async def models(request: Request) -> Response:
        rid = request_id(request)
        rt = svc.runtime()
        try:
            rt.keys.client(bearer(request.headers))
        except TierrouteError as e:
            svc.stats.record_rejected(e.status)
            return error_response(e, rid)
        created = int(rt.loaded.loaded_at)
        ids = [("auto", "tierroute")] + [(t.name, "tierroute-tier") for t in rt.policy.tiers] \
            + [(m, "tierroute-model") for m in rt.table.model_names]
        data = [{"id": i, "object": "model", "created": created, "owned_by": o} for i, o in ids]
        return json_response({"object": "list", "data": data}, headers={"x-tierroute-request-id": rid})

    return [
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
    ]


async def _complete(svc: Services, request: Request, endpoint: Endpoint) -> Response:
    started = svc.clock.now()
    rid = request_id(request)
    try:
        raw = await read_body(request, svc.runtime().policy.upstream.max_body_bytes)
        routed = await pipeline.handle(svc, endpoint, decode_json(raw), request.headers, rid, started)
    except TierrouteError as e:
        svc.stats.record_rejected(e.status)
        return error_response(e, rid)
    if routed.events is None:
        assert routed.reply is not None
        body = routed.reply.raw if routed.reply.raw is not None else orjson.dumps(routed.reply.data)
        return Response(body, media_type="application/json", headers=routed.headers())
    return StreamingResponse(_sse(routed), media_type="text/event-stream",
                             headers={**SSE_HEADERS, **routed.headers()})


async def _sse(routed: pipeline.Routed) -> AsyncIterator[bytes]:
    """OpenAI SSE framing; the trailing usage chunk only when the client asked for it."""
    events = routed.events
    assert events is not None
    include_usage = routed.request.include_usage
    try:
        async for ev in events:
            if ev.usage_only and not include_usage:
                continue
            yield b"data: " + ev.payload + b"\n\n"
        yield b"data: [DONE]\n\n"
    except TierrouteError as e:  # after the headers went out: report in-band, as OpenAI does
        yield b"data: " + orjson.dumps(e.body()) + b"\n\n"
    finally:
        await events.aclose()
