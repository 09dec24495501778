"""Fault modes of the simulated SGLang worker (``POST /sim/fault``, issue 10's chaos run): a 200
whose body never comes, or one that is not what its headers promise."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.responses import Response, StreamingResponse

JSON = "application/json"
SSE = "text/event-stream"
DONE = b"data: [DONE]\n\n"
FAULTS = ("hang_after_headers", "malformed_sse")
# what a broken replica sends instead of a stream: a cut-off chunk, a line without "data:", a
# chunk that is not JSON at all, then the end marker
MALFORMED_SSE = (b'data: {"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "del\n\n'
                 b"event without a data field\n\n", b"data: \xff\xfe not json\n\n", DONE)


def broken(fault: str, *, stream: bool) -> Response:
    """A 200 whose body never comes (``hang_after_headers``) or is not what the headers promise
    (``malformed_sse``: broken events on a stream, a cut-off JSON document otherwise)."""

    async def hang() -> AsyncIterator[bytes]:
        await asyncio.Event().wait()  # until the client goes away
        yield b""

    async def malformed() -> AsyncIterator[bytes]:
        for piece in MALFORMED_SSE:
            yield piece

    if fault == "hang_after_headers":
        return StreamingResponse(hang(), media_type=SSE if stream else JSON)
    if stream:
        return StreamingResponse(malformed(), media_type=SSE)
    return Response(b'{"id": "x", "object": "chat.completion", "choices": [{"index": 0, "mess', media_type=JSON)
