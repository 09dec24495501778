"""The pipelined Redis connection the stores' per-request calls share (router.redis_client.RedisPipe)."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from router.balance.affinity import AffinityParams
from router.balance.redis_affinity import RedisAffinity
from router.balance.rule import Candidate, RuleParams
from router.clock import SystemClock
from router.conversations import MemoryConversations, RedisConversations
from router.redis_client import RedisPipe, _pack, _pack_str, script_sha
from router.redis_connect import redis_client
from tests.conftest import RedisServer

PARAMS = AffinityParams(RuleParams(0.3, 16, 1.5), 600, 60, 0.0)
CANDS = [Candidate("r1", True, 0, 0, 1.0, 0), Candidate("r2", True, 0, 0, 1.0, 0)]


def test_pack_is_resp_with_byte_lengths() -> None:
    assert _pack(["SET", "k", 1, 0.5, "é"]) == (b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n$3\r\n0.5\r\n"
                                                b"$2\r\n\xc3\xa9\r\n")


@pytest.mark.parametrize("args", [
    ("EVALSHA", "a" * 40, 2, "k1", "k2", 600.0, 1e-06, 0.30000000000000004, 12345678901234567890, -5, "é", ""),
    ("SET", "k", "v", "PX", 1),
])
def test_hiredis_packs_what_the_str_packer_packs(args: tuple) -> None:
    assert _pack(args) == _pack_str(args)


def test_what_hiredis_refuses_is_packed_as_text() -> None:
    assert _pack(("X", True)) == b"*2\r\n$1\r\nX\r\n$4\r\nTrue\r\n"


async def test_concurrent_calls_share_one_connection_and_answer_in_order(private_redis: RedisServer) -> None:
    client = redis_client(private_redis.url, timeout_s=2.0)
    pipe = client.calls  # type: ignore[attr-defined]
    watcher = redis.Redis(port=private_redis.port)
    before = int(watcher.info("stats")["total_connections_received"])
    try:
        await asyncio.gather(*(pipe.set(f"k{i}", f"v{i}", px=60_000) for i in range(300)))
        got = await asyncio.gather(*(pipe.get(f"k{i}") for i in range(300)))
        assert got == [f"v{i}".encode() for i in range(300)]
        assert int(watcher.info("stats")["total_connections_received"]) == before + 1  # 600 commands, one connection
        with pytest.raises(ResponseError):
            await pipe.call("INCR", "k0")  # an error reply fails its own command only
        assert await pipe.get("k1") == b"v1"
    finally:
        await client.aclose()


async def test_a_script_unknown_to_redis_is_sent_whole_once(private_redis: RedisServer) -> None:
    client = redis_client(private_redis.url, timeout_s=2.0)
    pipe: RedisPipe = client.calls  # type: ignore[attr-defined]
    src = "return ARGV[1] .. KEYS[1]"
    try:
        await pipe.call("SCRIPT", "FLUSH")
        assert await pipe.script(script_sha(src), src, ["k"], ["a"]) == b"ak"
        assert await pipe.call("SCRIPT", "EXISTS", script_sha(src)) == [1]
    finally:
        await client.aclose()


async def test_send_and_script_soon_hand_out_the_replies_future(private_redis: RedisServer) -> None:
    """What a caller that does not wait uses (writes after the answer): the pipe's own future, or a task
    while the connection is not open yet; a flushed script is sent whole, an error reply is the future's."""
    client = redis_client(private_redis.url, timeout_s=2.0)
    pipe: RedisPipe = client.calls  # type: ignore[attr-defined]
    src = "return ARGV[1] .. KEYS[1]"
    try:
        first = pipe.send("SET", "soon", "1")  # not connected yet: a task that connects
        assert isinstance(first, asyncio.Task) and await first == b"OK"
        second = pipe.send("GET", "soon")
        assert not isinstance(second, asyncio.Task) and await second == b"1"
        await pipe.call("SCRIPT", "FLUSH")
        assert await pipe.script_soon(script_sha(src), src, ["k"], ["a"]) == b"ak"  # NOSCRIPT, then EVAL
        assert await pipe.script_soon(script_sha(src), src, ["k"], ["b"]) == b"bk"  # loaded now
        await pipe.call("SET", "k-not-a-number", "x")
        with pytest.raises(ResponseError):
            await pipe.send("INCR", "k-not-a-number")
        with pytest.raises(ResponseError):
            await pipe.script_soon(script_sha("return redis.call('INCR', KEYS[1])"),
                                   "return redis.call('INCR', KEYS[1])", ["k-not-a-number"], [])
    finally:
        await client.aclose()


async def test_no_reply_within_the_timeout_fails_every_waiting_call() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)  # reads the commands, never answers
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = redis_client(f"redis://127.0.0.1:{port}/0", timeout_s=0.1, read_timeout_s=0.1)
    t0 = time.monotonic()
    try:
        results = await asyncio.gather(*(client.calls.get(f"k{i}") for i in range(5)),  # type: ignore[attr-defined]
                                       return_exceptions=True)
        assert all(isinstance(r, RedisTimeoutError) for r in results), results
        assert time.monotonic() - t0 < 1.0
    finally:
        await client.aclose()
        server.close()


async def test_a_lost_server_fails_fast_and_the_next_call_reconnects(private_redis: RedisServer) -> None:
    client = redis_client(private_redis.url, timeout_s=1.0)
    pipe: RedisPipe = client.calls  # type: ignore[attr-defined]
    try:
        assert await pipe.call("PING") == b"PONG"
        private_redis.kill()
        with pytest.raises((RedisConnectionError, RedisTimeoutError)):
            await pipe.call("PING")
        private_redis.start()
        assert await pipe.call("PING") == b"PONG"
    finally:
        await client.aclose()


async def test_fallbacks_are_counted_for_every_store_of_a_client(private_redis: RedisServer) -> None:
    client = redis_client(private_redis.url, timeout_s=0.2)
    affinity = RedisAffinity(client, SystemClock())
    conversations = RedisConversations(client, MemoryConversations(SystemClock()))
    try:
        assert await affinity.choose("t", ["b1"], CANDS, "L1", PARAMS) is not None
        assert affinity.describe()["redis"]["fallbacks"] == 0
        private_redis.kill()
        assert await affinity.choose("t", ["b1"], CANDS, "L2", PARAMS) is not None  # decided locally
        assert await conversations.get("c1") is None
        seen = affinity.describe()["redis"]
        assert seen["fallbacks"] == 2 and seen["fallbacks_by_store"] == {"affinity": 1, "conversations": 1}
        assert seen["errors"] == 2
    finally:
        await affinity.aclose()
