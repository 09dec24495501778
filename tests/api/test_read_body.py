"""Bodies are read in linear time and bounded as they arrive (issue 10, point 2)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from router.api.edge import read_body
from router.errors import PayloadTooLarge

MIB = 1024 * 1024


def _receiver(total: int, piece: int) -> Any:
    data = b"x" * piece
    left = [total // piece]

    async def receive() -> dict[str, Any]:
        left[0] -= 1
        return {"type": "http.request", "body": data, "more_body": left[0] > 0}

    return receive


async def _cpu(total: int, piece: int, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        receive = _receiver(total, piece)
        t0 = time.process_time()
        body = await read_body(receive, {}, 16 * MIB)
        best = min(best, time.process_time() - t0)
        assert len(body) == total
    return best


async def test_chunked_bodies_cost_linear_time() -> None:
    """8 MiB in 4 KiB pieces must cost about what it costs in 256 KiB pieces (one copy of the bytes
    either way). ``body += chunk`` copied the body so far at every piece: quadratic, over a second of
    event-loop CPU for this upload, about 60x its cost in the larger pieces."""
    coarse = await _cpu(8 * MIB, 256 * 1024, 5)
    fine = await _cpu(8 * MIB, 4096, 5)
    assert fine < 15 * max(coarse, 1e-3), (coarse, fine)


async def test_the_limit_holds_as_chunks_arrive() -> None:
    calls = 0
    inner = _receiver(64 * MIB, 4096)

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return await inner()

    with pytest.raises(PayloadTooLarge):
        await read_body(receive, {}, MIB)
    assert calls <= MIB // 4096 + 1  # refused at the first chunk over the limit, not at the end


async def test_declared_length_over_the_limit_reads_nothing() -> None:
    async def receive() -> dict[str, Any]:
        raise AssertionError("no body byte should be read")

    with pytest.raises(PayloadTooLarge):
        await read_body(receive, {"content-length": str(2 * MIB)}, MIB)


async def test_one_piece_and_many_pieces_give_the_same_body() -> None:
    assert await read_body(_receiver(4096, 4096), {}, MIB) == b"x" * 4096
    assert await read_body(_receiver(3 * 4096, 4096), {}, MIB) == b"x" * 3 * 4096
