"""SSE splitting of upstream bytes, whatever the chunk boundaries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from router.backends.sglang import sse_payloads


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


async def _collect(parts: list[bytes]) -> list[bytes]:
    return [p async for p in sse_payloads(_chunks(parts))]


STREAM = b'data: {"a":1}\n\ndata: {"b":2}\n\n: keep-alive comment\n\ndata: [DONE]\n\n'


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
async def test_any_chunking(size: int) -> None:
    parts = [STREAM[i:i + size] for i in range(0, len(STREAM), size)]
    assert await _collect(parts) == [b'{"a":1}', b'{"b":2}']


async def test_crlf_multiline_and_no_space() -> None:
    raw = b'event: x\r\ndata:{"a":\r\ndata: 1}\r\n\r\ndata: {"b":2}'
    assert await _collect([raw]) == [b'{"a":\n1}', b'{"b":2}']


async def test_stops_at_done() -> None:
    assert await _collect([b"data: [DONE]\n\ndata: {\"late\":1}\n\n"]) == []
