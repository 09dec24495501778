"""What every endpoint shares: request ids, bounded body reading, error responses."""

from __future__ import annotations

import logging
import re
import uuid

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..errors import PayloadTooLarge, TierrouteError

log = logging.getLogger("tierroute.access")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id(request: Request) -> str:
    """The caller's ``x-request-id`` when it is a plain token, else a fresh one."""
    given = request.headers.get("x-request-id")
    return given if given and _SAFE_ID.match(given) else uuid.uuid4().hex


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is {declared} bytes; the limit is {limit}.")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes.")
        parts.append(chunk)
    return b"".join(parts)


def json_response(data: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, headers=headers, media_type="application/json")


def error_response(e: TierrouteError, rid: str, extra: dict[str, str] | None = None) -> Response:
    """OpenAI's error shape with the error's status; never a traceback."""
    log.info("request failed", extra={"request_id": rid, "status": e.status, "code": e.code})
    return json_response(e.body(), e.status, {**e.headers, **(extra or {}), "x-tierroute-request-id": rid})
