"""Anthropic's Messages API (``POST /v1/messages``) as a dialect in front of the same pipeline, and
the rest of its surface under ``/v1/messages/``.

The request is translated to OpenAI's chat shape and routed like any other (``model`` may be
``auto``, a tier or a concrete model); the reply or stream is translated back. Errors use
Anthropic's shape (``{"type": "error", "error": {...}, "request_id"}``) with its ``request-id``
header, everywhere on this surface: ``/v1/messages`` itself (served by the edge, :mod:`.edge`) and
the Starlette routes here:

- ``POST /v1/messages/count_tokens`` → ``{"input_tokens": N}``: same key gate, body translated as for
  messages (``max_tokens`` not needed), model resolved as for messages (``auto`` is classified; the
  conversation's earlier tier is not looked up), counted for the tier the request would go to
  (:mod:`router.anthropic.count`). Headers: ``x-tierroute-token-count: tokenizer | estimate`` and
  ``x-tierroute-tier``. Nothing is sent upstream, nothing is charged.
- any other path under ``/v1/messages/`` (e.g. the Batches API, not served): 404 ``not_found_error``;
  a method other than POST: 405.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
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
from ..anthropic.count import count_tokens
from ..domain import Endpoint
from ..errors import BadRequest, MethodNotAllowed, TierrouteError, UnknownPath
from ..parse import ParsedRequest, decode_json, parse_request
from ..policy.capabilities import needs_of
from ..policy.decide import decide, resolve_target
from ..runtime import Services
from .edge import read_body
from .http import Front, accepted_id, id_headers, json_response

COUNT_HEADER = "x-tierroute-token-count"


def translate(body: dict[str, Any], *, require_max_tokens: bool = True) -> dict[str, Any]:
    try:
        return to_openai_request(body, require_max_tokens=require_max_tokens)
    except AnthropicRequestError as e:
        raise BadRequest(e.message, param=e.param) from None


def _thinking(routed: pipeline.Routed) -> bool:
    thinking = routed.request.body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") == "enabled"


class AnthropicDialect:
    def request(self, body: dict[str, Any]) -> dict[str, Any]:
        return translate(body)

    def reply(self, routed: pipeline.Routed) -> bytes:
        assert routed.reply is not None
        return orjson.dumps(from_openai_response(routed.reply.data, thinking=_thinking(routed)))

    def stream(self, routed: pipeline.Routed) -> AsyncGenerator[bytes, None]:
        return _events(routed)

    def headers(self, routed: pipeline.Routed) -> dict[str, str]:
        return {**routed.headers(), "request-id": routed.request_id}

    def error(self, e: TierrouteError, request_id: str) -> tuple[bytes, dict[str, str]]:
        return (orjson.dumps({**error_body(e.status, e.message), "request_id": request_id}),
                {**e.headers, **id_headers(request_id), "request-id": request_id})


async def _events(routed: pipeline.Routed) -> AsyncGenerator[bytes, None]:
    events = routed.events
    assert events is not None
    translator = StreamTranslator(routed.replica.model, thinking=_thinking(routed))
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


def routes(front: Front, svc: Services) -> list[Route]:
    dialect = AnthropicDialect()

    def failed(e: TierrouteError, rid: str, extra: dict[str, str] | None = None) -> Response:
        front.failed(e, rid)
        payload, headers = dialect.error(e, rid)
        return Response(payload, e.status, {**headers, **(extra or {})}, media_type="application/json")

    async def count(request: Request) -> Response:
        key = front.new_id()
        rid = accepted_id(request.headers.get("x-request-id")) or key
        if request.method != "POST":
            return failed(MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}; "
                                           "use POST."), rid, {"allow": "POST"})
        try:
            caller = await front.client(request.headers, rid, key, svc.clock.now())
            raw = await read_body(request.receive, request.headers, caller.rt.policy.upstream.max_body_bytes)
            req = parse_request(Endpoint.CHAT, translate(decode_json(raw), require_max_tokens=False))
            tier, kind, model = await _destination(svc, caller, req, request.headers.get(pipeline.TIER_HEADER))
            tokens, how = await count_tokens(req, kind, model)
        except TierrouteError as e:
            return failed(e, rid)
        return json_response({"input_tokens": tokens}, headers={
            **id_headers(rid), "request-id": rid, COUNT_HEADER: how, pipeline.TIER_HEADER: tier})

    async def unknown(request: Request) -> Response:
        rid = front.request_id(request.headers.get("x-request-id"))
        return failed(UnknownPath(f"Unknown path {request.url.path}; this proxy serves POST /v1/messages and "
                                  "POST /v1/messages/count_tokens."), rid)

    every = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return [Route("/v1/messages/count_tokens", count, methods=every),
            Route("/v1/messages/{rest:path}", unknown, methods=every)]


async def _destination(svc: Services, caller: pipeline.Caller, req: ParsedRequest,
                       header_tier: str | None) -> tuple[str, str, str]:
    """The tier the request would go to (as :func:`router.pipeline.handle` decides it: pinned, or
    classified for ``auto``, within the key's tiers, covering the request's needs; the conversation's
    earlier tier is not looked up), and the kind and model of its first replica: ``(tier, kind, model)``."""
    rt, principal = caller.rt, caller.principal
    target = resolve_target(rt.policy, req.model, header_tier)
    auto = target.kind == "auto"
    score = await svc.scorer.score(req.text_for_score(svc.scorer.chat_text_mode)) if auto else None
    needs = needs_of(req.body)
    decision = decide(rt.policy, target, score=score, needed_tokens=req.needed_tokens(),
                      allowed_tiers=principal.tiers, healthy_tiers=rt.table.healthy_tiers() if auto else (),
                      cuts=svc.thresholds.cuts(rt.policy.routing) if auto else (),
                      budget_exhausted=caller.admission.budget_exhausted,
                      needs=needs, caps=rt.table.capabilities() if needs else None)
    replicas = rt.table.candidates(decision.tier, target.model if decision.tier == target.tier else None)
    return (decision.tier, replicas[0].kind, replicas[0].model) if replicas else (decision.tier, "", "")
