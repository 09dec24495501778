"""What every endpoint shares: request ids and error responses."""

from __future__ import annotations

import logging
import re
import uuid

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..errors import TierrouteError

log = logging.getLogger("tierroute.access")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def accepted_id(given: str | None) -> str | None:
    """The caller's ``x-request-id`` when it is a plain ASCII token (safe in logs and headers)."""
    return given if given and _SAFE_ID.match(given) else None


def request_id(request: Request) -> str:
    """The caller's ``x-request-id`` when it is a plain token, else a fresh one."""
    return accepted_id(request.headers.get("x-request-id")) or uuid.uuid4().hex


def json_response(data: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, headers=headers, media_type="application/json")


def error_response(e: TierrouteError, rid: str, extra: dict[str, str] | None = None) -> Response:
    """OpenAI's error shape with the error's status; never a traceback."""
    log.info("request failed", extra={"request_id": rid, "status": e.status, "code": e.code})
    return json_response(e.body(), e.status, {**e.headers, **(extra or {}), "x-tierroute-request-id": rid})
