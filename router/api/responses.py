"""OpenAI's Responses API: ``POST /v1/responses`` as a dialect in front of the chat pipeline, and
``GET`` / ``DELETE /v1/responses/{id}`` and ``GET /v1/responses/{id}/input_items`` on the store.

The request is translated to a chat body (:mod:`router.responses`) and routed like any chat
request (``model`` may be ``auto``, a tier or a concrete model; same key gate, limits, stats,
cost and ``x-tierroute-*`` headers); the answer or stream is translated back. Responses with
``store`` (the default) are kept in the :class:`ResponseStore` once complete. Stored responses
are found by id alone (ids are random 128-bit values), whichever key asks.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import pipeline
from ..errors import NotFound, TierrouteError, UpstreamError
from ..responses import ChatBody, Origin, ResponseStore, StreamTranslator, from_chat, to_chat_request
from .http import Front, json_response, render


class ResponsesDialect:
    def __init__(self, store: ResponseStore) -> None:
        self.store = store

    def request(self, body: dict[str, Any]) -> dict[str, Any]:
        return to_chat_request(body, self.store)

    def reply(self, routed: pipeline.Routed) -> bytes:
        assert routed.reply is not None
        origin = _origin(routed)
        response = from_chat(routed.reply.data, origin, routed.replica.model)
        self._keep(origin, response)
        return orjson.dumps(response)

    def stream(self, routed: pipeline.Routed) -> AsyncGenerator[bytes, None]:
        return self._events(routed)

    def headers(self, routed: pipeline.Routed) -> dict[str, str]:
        return routed.headers()

    def error(self, e: TierrouteError, request_id: str) -> tuple[bytes, dict[str, str]]:
        return render(e, request_id)

    def _keep(self, origin: Origin, response: dict[str, Any]) -> None:
        if origin.store:
            self.store.put(response, origin.items)

    async def _events(self, routed: pipeline.Routed) -> AsyncGenerator[bytes, None]:
        events = routed.events
        assert events is not None
        origin = _origin(routed)
        translator = StreamTranslator(origin, routed.replica.model)
        try:
            yield b"".join(translator.start())
            async for batch in events:
                out = b"".join([part for ev in batch for part in translator.feed(_chunk(routed, ev.payload))])
                if out:
                    yield out
            yield b"".join(translator.finish())
            assert translator.response is not None
            self._keep(origin, translator.response)
        except TierrouteError as e:  # after the headers went out: reported in-band
            routed.status = e.status
            yield b"".join(translator.fail(e.status, e.code or "server_error", e.message))
        finally:
            await events.aclose()


def _chunk(routed: pipeline.Routed, payload: bytes) -> dict[str, Any]:
    """One upstream chunk (the relay passes events after the first unparsed): a fault if not a JSON object."""
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError:
        chunk = None
    if not isinstance(chunk, dict):
        raise UpstreamError(f"The upstream model for tier {routed.decision.tier!r} sent a malformed stream event "
                            f"(request id {routed.request_id}).", detail=f"{routed.replica.id}: {payload[:60]!r}")
    return chunk


def _origin(routed: pipeline.Routed) -> Origin:
    body = routed.request.body
    assert isinstance(body, ChatBody), "the pipeline must route the dialect's ChatBody itself"
    return body.origin


def routes(front: Front, store: ResponseStore) -> list[Route]:
    def found(request: Request) -> Any:
        rid = request.path_params["response_id"]
        stored = store.get(rid)
        if stored is None:
            raise NotFound(f"Response with id '{rid}' not found.", param="response_id", code="not_found")
        return stored

    async def get(request: Request, caller: pipeline.Caller) -> Response:
        return json_response(found(request).response)

    async def delete(request: Request, caller: pipeline.Caller) -> Response:
        rid = found(request).response["id"]
        store.delete(rid)
        return json_response({"id": rid, "object": "response", "deleted": True})

    async def input_items(request: Request, caller: pipeline.Caller) -> Response:
        items = [{"id": item.get("id") or f"item_{i}", **item} for i, item in enumerate(found(request).items)]
        if request.query_params.get("order", "desc") != "asc":  # OpenAI's default: the newest first
            items.reverse()
        return json_response({"object": "list", "data": items, "has_more": False,
                              "first_id": items[0]["id"] if items else None,
                              "last_id": items[-1]["id"] if items else None})

    return [Route("/v1/responses/{response_id}", front.route(get), methods=["GET"]),
            Route("/v1/responses/{response_id}", front.route(delete), methods=["DELETE"]),
            Route("/v1/responses/{response_id}/input_items", front.route(input_items), methods=["GET"])]
