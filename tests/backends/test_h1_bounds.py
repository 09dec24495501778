"""router.backends.h1: the pool keeps at most N idle connections per origin and closes ones idle too long."""

from __future__ import annotations

import asyncio

from router.backends import h1
from router.backends.h1 import H1Pool
from tests.backends.test_h1 import Server, keep_alive_answer


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def _settle(server: Server, disconnects: int) -> None:
    for _ in range(200):
        if server.disconnects >= disconnects:
            return
        await asyncio.sleep(0.01)


async def test_idle_connections_beyond_the_cap_are_closed_on_release() -> None:
    pool = H1Pool(connect_timeout_s=2, read_timeout_s=2, max_idle_per_origin=2)
    async with Server(keep_alive_answer) as server:
        responses = await asyncio.gather(*(pool.request(server.target(), b"", b"{}") for _ in range(5)))
        assert server.connections == 5  # five at once: five connections
        for r in responses:
            await r.read()
        assert pool.idle_count() == 2  # two kept, three closed
        assert pool.describe()["closed_over_cap"] == 3
        await _settle(server, 3)
        assert server.disconnects == 3
        for _ in range(4):  # sequential requests reuse the kept ones
            await (await pool.request(server.target(), b"", b"{}")).read()
        assert server.connections == 5
    await pool.aclose()


async def test_a_connection_idle_too_long_is_closed_instead_of_reused() -> None:
    clock = FakeTime()
    pool = H1Pool(connect_timeout_s=2, read_timeout_s=2, idle_expiry_s=10, now=clock)
    async with Server(keep_alive_answer) as server:
        await (await pool.request(server.target(), b"", b"{}")).read()
        clock.t += 9
        await (await pool.request(server.target(), b"", b"{}")).read()
        assert server.connections == 1  # 9 s idle: reused
        clock.t += 11
        await (await pool.request(server.target(), b"", b"{}")).read()
        assert server.connections == 2  # 11 s idle: closed, a new one opened
        assert pool.describe()["closed_expired"] == 1 and pool.idle_count() == 1
        await _settle(server, 1)
        assert server.disconnects == 1  # the expired one was really closed
    await pool.aclose()


async def test_expired_connections_at_the_old_end_are_closed_too() -> None:
    clock = FakeTime()
    pool = H1Pool(connect_timeout_s=2, read_timeout_s=2, idle_expiry_s=10, now=clock)
    async with Server(keep_alive_answer) as server:
        two = await asyncio.gather(*(pool.request(server.target(), b"", b"{}") for _ in range(2)))
        await two[0].read()
        clock.t += 8
        await two[1].read()  # one released at t, one at t+8
        clock.t += 5  # the first is 13 s idle, the second 5 s
        await (await pool.request(server.target(), b"", b"{}")).read()
        assert server.connections == 2  # the fresh one reused
        assert pool.idle_count() == 1 and pool.describe()["closed_expired"] == 1
    await pool.aclose()


def test_the_bounds_are_defaulted_in_one_place() -> None:
    d = H1Pool(connect_timeout_s=1, read_timeout_s=1).describe()
    assert d["max_idle_per_origin"] == h1.MAX_IDLE_PER_ORIGIN and d["idle_expiry_s"] == h1.IDLE_EXPIRY_S
