"""SSE splitting of upstream bytes, whatever the chunk boundaries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from router.backends.sglang import sse_batches


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


async def _batches(parts: list[bytes]) -> list[list[bytes]]:
    return [b async for b in sse_batches(_chunks(parts))]


async def _collect(parts: list[bytes]) -> list[bytes]:
    return [p for b in await _batches(parts) for p in b]


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


async def test_events_completed_by_one_read_come_as_one_group() -> None:
    parts = [b'data: {"a":1}\n\ndata: {"b"', b':2}\n\ndata: {"c":3}\n\ndata: {"d":4}\n', b"\n: ping\n\n",
             b"data: [DONE]\n\n"]
    assert await _batches(parts) == [[b'{"a":1}'], [b'{"b":2}', b'{"c":3}'], [b'{"d":4}']]  # never an empty group


async def test_events_before_done_in_the_same_read_are_kept() -> None:
    assert await _batches([b'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n']) == [[b'{"a":1}', b'{"b":2}']]
