"""The pipe to the primary that Redis Sentinel names (``redis+sentinel://``).

:class:`SentinelPipe` is :class:`router.redis_client.RedisPipe` connected wherever the Sentinels say
the primary is: asked on every connect and, while calls go through it, every
:data:`RELOCATE_EVERY_S` in the background. When they name another primary, new calls wait for the
ones in flight to be answered (none fails), then the pipe connects to the new one. Without that
check it would stay on a demoted primary until Sentinel reconfigures it as a replica, about ten
seconds after a failover whose old primary is still up (Sentinel waits before converting it),
writing there what that replica will then drop. A ``READONLY`` reply also sends it to the Sentinels
(:class:`RedisPipe` closes on one).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from .redis_client import Arg, RedisPipe

log = logging.getLogger("tierroute.redis")
RELOCATE_EVERY_S = 0.5


class SentinelPipe(RedisPipe):
    def __init__(self, kwargs: dict[str, Any], timeout_s: float, locate: Callable[[], Awaitable[tuple[str, int]]],
                 *, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(kwargs, timeout_s, tls=tls)
        self._locate = locate  # redis-py's SentinelConnectionPool.get_master_address: asks the Sentinels
        self._at: tuple[str, int] | None = None  # the primary it is connected to
        self._next_check = 0.0
        self._moving: asyncio.Future[None] | None = None  # another primary is named: calls wait for the switch
        self._checks: set[asyncio.Task[None]] = set()

    async def call(self, *args: Arg) -> Any:
        while self._moving is not None:
            await asyncio.shield(self._moving)
        loop = asyncio.get_running_loop()
        if self._transport is not None and loop.time() >= self._next_check:
            self._next_check = loop.time() + RELOCATE_EVERY_S
            task = loop.create_task(self._check_primary())
            self._checks.add(task)
            task.add_done_callback(self._checks.discard)
        return await super().call(*args)

    async def _address(self) -> tuple[str, int]:
        async with asyncio.timeout(self._timeout):
            host, port = await self._locate()
        self._at = (str(host), int(port))
        return self._at

    async def _check_primary(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                host, port = await self._locate()
        except (RedisError, OSError, TimeoutError):
            return  # the Sentinels cannot say now: stay (a dead primary fails the calls anyway)
        if self._transport is None or self._moving is not None or (str(host), int(port)) == self._at:
            return
        log.warning("redis primary moved: switching to it", extra={"primary": f"{host}:{port}"})
        self._moving = asyncio.get_running_loop().create_future()
        self._idle()

    def _idle(self) -> None:
        if self._moving is not None and not self._waiting:
            self._fail(RedisConnectionError("the primary has moved"))  # nothing in flight: this only closes it

    def _fail(self, e: Exception) -> None:
        super()._fail(e)
        moving, self._moving = self._moving, None
        if moving is not None and not moving.done():
            moving.set_result(None)

    def close(self) -> None:
        for task in self._checks:
            task.cancel()
        super().close()
