"""router.backends.h1 against a raw asyncio server on loopback that answers exactly as scripted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from router.backends.h1 import BrokenResponse, ConnectError, Disconnected, H1Pool, ReadTimeout, Target
from router.procs import free_port


class Server:
    """Counts connections and requests; ``answer`` answers each request once its head and body are in."""

    def __init__(self, answer: Callable[[int, asyncio.StreamWriter], Awaitable[bool]]) -> None:
        self.answer = answer  # (request number, writer) -> keep the connection open?
        self.connections = 0
        self.requests: list[bytes] = []
        self.disconnects = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                self.requests.append(head + await reader.readexactly(length))
                if not await self.answer(len(self.requests), writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            self.disconnects += 1
        finally:
            writer.close()

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    def target(self, path: str = "/v1/chat/completions") -> Target:
        return Target(f"http://127.0.0.1:{self.port}{path}")


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra + \
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


async def keep_alive_answer(n: int, w: asyncio.StreamWriter) -> bool:
    w.write(ok(b'{"n":%d}' % n))
    await w.drain()
    return True


@pytest.fixture
async def pool() -> AsyncIterator[H1Pool]:
    p = H1Pool(connect_timeout_s=2, read_timeout_s=2)
    yield p
    await p.aclose()


async def test_request_head_and_body_as_sent(pool: H1Pool) -> None:
    async with Server(keep_alive_answer) as srv:
        resp = await pool.request(srv.target("/v1/completions?x=1"), b"X-Request-Id: r1\r\n", b'{"a":1}')
        assert resp.status == 200 and await resp.read() == b'{"n":1}'
    head = srv.requests[0]
    assert head.startswith(b"POST /v1/completions?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % srv.port)
    assert b"X-Request-Id: r1\r\n" in head and b"Content-Length: 7\r\n\r\n" in head and head.endswith(b'{"a":1}')


async def test_keep_alive_reuses_one_connection(pool: H1Pool) -> None:
    async with Server(keep_alive_answer) as srv:
        for i in range(1, 4):
            resp = await pool.request(srv.target(), b"", b"{}")
            assert await resp.read() == b'{"n":%d}' % i
        assert srv.connections == 1 and pool.idle_count() == 1


async def test_a_connection_the_server_closed_while_idle_is_replaced(pool: H1Pool) -> None:
    async def close_after_each(n: int, w: asyncio.StreamWriter) -> bool:
        w.write(ok(b"{}"))  # keep-alive by HTTP/1.1 default, but the server hangs up anyway
        await w.drain()
        return False

    async with Server(close_after_each) as srv:
        for _ in range(3):
            resp = await pool.request(srv.target(), b"", b"{}")
            assert await resp.read() == b"{}"
            await asyncio.sleep(0.05)  # the server's FIN may or may not have arrived: both must work
        assert srv.connections == 3


async def test_a_reused_connection_lost_before_the_answer_is_retried_once_on_a_new_one(pool: H1Pool) -> None:
    async def drops_the_second(n: int, w: asyncio.StreamWriter) -> bool:
        if n == 2:  # the race: the server hangs up on an idle connection as the request arrives
            return False
        return await keep_alive_answer(n, w)

    async with Server(drops_the_second) as srv:
        assert await (await pool.request(srv.target(), b"", b"{}")).read() == b'{"n":1}'
        assert await (await pool.request(srv.target(), b"", b"{}")).read() == b'{"n":3}'
        assert srv.connections == 2 and len(srv.requests) == 3


async def test_a_new_connection_lost_before_the_answer_is_not_retried(pool: H1Pool) -> None:
    async def hang_up(n: int, w: asyncio.StreamWriter) -> bool:
        return False

    async with Server(hang_up) as srv:
        with pytest.raises(Disconnected):
            await pool.request(srv.target(), b"", b"{}")
        assert srv.connections == 1 and len(srv.requests) == 1


async def test_connection_close_answers_are_not_pooled(pool: H1Pool) -> None:
    async def close_header(n: int, w: asyncio.StreamWriter) -> bool:
        w.write(ok(b"{}", b"Connection: close\r\n"))
        await w.drain()
        return False

    async with Server(close_header) as srv:
        assert await (await pool.request(srv.target(), b"", b"{}")).read() == b"{}"
        assert pool.idle_count() == 0


async def test_chunked_stream_arrives_piece_by_piece(pool: H1Pool) -> None:
    second = asyncio.Event()

    async def chunked(n: int, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        w.write(b"9\r\ndata: a\n\n\r\n")
        await w.drain()
        await second.wait()  # the client must have the first piece before the second is sent
        w.write(b"9\r\ndata: b\n\n\r\n0\r\n\r\n")
        await w.drain()
        return True

    async with Server(chunked) as srv:
        resp = await pool.request(srv.target(), b"", b"{}")
        pieces = []
        async for piece in resp.iter_chunks():
            pieces.append(piece)
            second.set()
        assert b"".join(pieces) == b"data: a\n\ndata: b\n\n" and pieces[0] == b"data: a\n\n"
        assert pool.idle_count() == 1  # a complete chunked answer keeps the connection


async def test_chunks_that_arrive_together_come_as_one_piece(pool: H1Pool) -> None:
    async def two_events_one_write(n: int, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"9\r\ndata: a\n\n\r\n9\r\ndata: b\n\n\r\n0\r\n\r\n")
        await w.drain()
        return True

    async with Server(two_events_one_write) as srv:
        resp = await pool.request(srv.target(), b"", b"{}")
        assert [p async for p in resp.iter_chunks()] == [b"data: a\n\ndata: b\n\n"]  # SSE events stay grouped


async def test_large_answer_with_flow_control(pool: H1Pool) -> None:
    body = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MB: reading pauses and resumes

    async def big(n: int, w: asyncio.StreamWriter) -> bool:
        w.write(ok(body))
        await w.drain()
        return True

    async with Server(big) as srv:
        resp = await pool.request(srv.target(), b"", b"{}")
        got = []
        async for piece in resp.iter_chunks():
            got.append(piece)
            await asyncio.sleep(0)
        assert b"".join(got) == body


async def test_read_timeout_and_the_connection_is_dropped() -> None:
    async def silent(n: int, w: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    pool = H1Pool(connect_timeout_s=2, read_timeout_s=0.2)
    async with Server(silent) as srv:
        with pytest.raises(ReadTimeout):
            await pool.request(srv.target(), b"", b"{}")
        assert pool.idle_count() == 0
    await pool.aclose()


async def test_read_timeout_mid_stream() -> None:
    async def stalls(n: int, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await w.drain()
        await asyncio.sleep(5)
        return False

    pool = H1Pool(connect_timeout_s=2, read_timeout_s=0.2)
    async with Server(stalls) as srv:
        resp = await pool.request(srv.target(), b"", b"{}")
        pieces = []
        with pytest.raises(ReadTimeout):
            async for piece in resp.iter_chunks():
                pieces.append(piece)
        assert pieces == [b"abc"] and pool.idle_count() == 0
    await pool.aclose()


async def test_nothing_listening(pool: H1Pool) -> None:
    with pytest.raises(ConnectError, match="cannot connect"):
        await pool.request(Target(f"http://127.0.0.1:{free_port()}/x"), b"", b"{}")


async def test_cut_off_mid_answer(pool: H1Pool) -> None:
    async def cut(n: int, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\":")
        await w.drain()
        return False

    async with Server(cut) as srv:
        resp = await pool.request(srv.target(), b"", b"{}")
        with pytest.raises(BrokenResponse, match="mid-answer"):
            await resp.read()


async def test_malformed_answer(pool: H1Pool) -> None:
    async def garbage(n: int, w: asyncio.StreamWriter) -> bool:
        w.write(b"NOT HTTP AT ALL\r\n\r\n")
        await w.drain()
        await asyncio.sleep(1)
        return False

    async with Server(garbage) as srv:
        with pytest.raises(BrokenResponse, match="malformed"):
            await pool.request(srv.target(), b"", b"{}")


async def test_closing_mid_stream_hangs_up(pool: H1Pool) -> None:
    async def endless(n: int, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:  # until the client goes
            w.write(b"1\r\nx\r\n")
            await w.drain()
            await asyncio.sleep(0.01)

    async with Server(endless) as srv:
        resp = await pool.request(srv.target(), b"", b"{}")
        async for _ in resp.iter_chunks():
            break
        resp.close()
        for _ in range(100):
            if srv.disconnects:
                break
            await asyncio.sleep(0.02)
        assert srv.disconnects == 1 and pool.idle_count() == 0


def test_target_parsing() -> None:
    t = Target("https://sglang.internal/v1/chat/completions")
    assert t.origin == ("https", "sglang.internal", 443)
    assert t.head == b"POST /v1/chat/completions HTTP/1.1\r\nHost: sglang.internal\r\n"
    with pytest.raises(ValueError):
        Target("ftp://x/y")
