"""OpenAI's API: the dialect of the generation endpoints, and ``GET /v1/models``.

Answers pass as the upstream gave them (SGLang's own fields cut by the backend), with ``usage.cost``
(USD) added: in the body, and in the trailing usage chunk of a stream that asked for usage.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import pipeline
from ..errors import NotFound, TierrouteError
from ..runtime import Runtime
from ..usage import usage_of
from .http import Front, json_response, render


class OpenAIDialect:
    """Requests pass as they are; answers are the upstream's bytes; errors in OpenAI's shape."""

    def request(self, body: dict[str, Any]) -> dict[str, Any]:
        return body

    def reply(self, routed: pipeline.Routed) -> bytes:
        assert routed.reply is not None
        body = routed.reply.raw if routed.reply.raw is not None else orjson.dumps(routed.reply.data)
        return with_cost(body, routed.cost_usd)

    def stream(self, routed: pipeline.Routed) -> AsyncGenerator[bytes, None]:
        return _sse(routed)

    def headers(self, routed: pipeline.Routed) -> dict[str, str]:
        return routed.headers()

    def error(self, e: TierrouteError, request_id: str) -> tuple[bytes, dict[str, str]]:
        return render(e, request_id)


async def _sse(routed: pipeline.Routed) -> AsyncGenerator[bytes, None]:
    """OpenAI SSE framing, one write per upstream group; the trailing usage chunk only when asked for."""
    events = routed.events
    assert events is not None
    include_usage = routed.request.include_usage
    try:
        async for batch in events:
            out = b"".join([b"data: " + (_priced(routed, ev.payload) if ev.usage_only else ev.payload) + b"\n\n"
                            for ev in batch if include_usage or not ev.usage_only])
            if out:
                yield out
        yield b"data: [DONE]\n\n"
    except TierrouteError as e:  # after the headers went out: report in-band, as OpenAI does
        yield b"data: " + orjson.dumps(e.body()) + b"\n\n"
    finally:
        await events.aclose()


_USAGE = re.compile(rb'"usage":\s?\{(?=")')


def with_cost(body: bytes, cost: float | None) -> bytes:
    """``usage.cost``: what the request cost in USD (as OpenRouter reports it), put first in the usage object."""
    if cost is None:
        return body
    return _USAGE.sub(lambda m: m.group(0) + b'"cost":' + f"{cost:.10g}".encode() + b",", body, count=1)


def _priced(routed: pipeline.Routed, payload: bytes) -> bytes:
    """The trailing usage chunk with ``usage.cost`` (the stream's cost, from the usage it reports)."""
    u = usage_of(orjson.loads(payload))
    return with_cost(payload, routed.replica.price.cost(u.prompt_tokens, u.completion_tokens)) if u else payload


def _model_objects(rt: Runtime) -> dict[str, dict[str, Any]]:
    """What ``model`` may name, in OpenAI's model object shape: ``auto``, each tier, each concrete model,
    each embedding model (``POST /v1/embeddings``)."""
    created = int(rt.loaded.loaded_at)
    ids = [("auto", "tierroute")] + [(t.name, "tierroute-tier") for t in rt.policy.tiers] \
        + [(m, "tierroute-model") for m in rt.table.model_names] \
        + [(m, "tierroute-embedding") for m in rt.policy.embeddings or {}]
    return {i: {"id": i, "object": "model", "created": created, "owned_by": o} for i, o in ids}


def routes(front: Front) -> list[Route]:
    async def models(request: Request, caller: pipeline.Caller) -> Response:
        return json_response({"object": "list", "data": list(_model_objects(caller.rt).values())})

    async def model(request: Request, caller: pipeline.Caller) -> Response:
        name = request.path_params["model_id"]
        found = _model_objects(caller.rt).get(name)
        if found is None:
            raise NotFound(f"The model {name!r} does not exist; GET /v1/models lists what may be used.",
                           param="model")
        return json_response(found)

    return [Route("/v1/models", front.route(models), methods=["GET"]),
            Route("/v1/models/{model_id:path}", front.route(model), methods=["GET"])]
