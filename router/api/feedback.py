"""``POST /v1/feedback``: a client rates an answer it got, by its request id.

Body: ``{"request_id": "...", "score": 0..1}`` or ``{"request_id": "...", "thumbs": "up"|"down"}``,
optionally ``"comment"``. The request id is the ``x-tierroute-request-id`` header of the answer;
only the key that made the request may rate it. The label stored has ``target = 1 - score``
(docs/learning.md). Answers: 200 with the label's id; 404 for an unknown or expired request id
(or feedback off); 422 for a bad field; 503 when the label store cannot be reached. OpenAI's
error shape throughout.
"""

from __future__ import annotations

from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import PayloadTooLarge
from ..learning.labels import Label
from ..parse import decode_json
from ..pipeline import Caller
from .http import Front, json_response

MAX_BODY = 64 * 1024


class FeedbackSink(Protocol):
    async def feedback(self, principal: str, body: dict[str, Any]) -> Label: ...


def routes(front: Front, sink: FeedbackSink) -> list[Route]:
    async def feedback(request: Request, caller: Caller) -> Response:
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > MAX_BODY:
            raise PayloadTooLarge(f"A feedback body is at most {MAX_BODY} bytes.")
        label = await sink.feedback(caller.principal.name, decode_json(await request.body()))
        return json_response({"id": label.id, "object": "feedback", "request_id": label.request_id,
                              "tier": label.tier, "target": label.target})

    return [Route("/v1/feedback", front.route(feedback), methods=["POST"])]
