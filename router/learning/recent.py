"""Requests this proxy answered recently, by request id: what a feedback label about one needs.

:class:`Served` holds the tier that answered, the classifier's score and model version, the
recipe's features of the scored text and, only when ``learning.store_prompts`` is on, the text
itself. :class:`RecentRequests` keeps them in a TTL'd, size-bounded LRU in this process, as
their JSON (~1 KB each; as dicts of Python floats they took ~4-5 KB, ~450 MB per process at the
default 100,000), and, with Redis, also under ``<prefix>req:<request id>`` with the same TTL, so
feedback may reach any proxy replica. Redis trouble costs cross-replica feedback, never a
request: errors are counted and the local copy answers.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from ..clock import Clock


@dataclass(frozen=True, slots=True)
class Served:
    request_id: str
    principal: str
    tier: str
    score: float | None
    model_version: str | None
    features: dict[str, Any] | None
    prompt: str | None  # only with store_prompts

    def dumps(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def loads(cls, data: bytes | str) -> Served:
        return cls(**orjson.loads(data))


class RecentRequests:
    def __init__(self, clock: Clock, max_entries: int, *, redis: Redis | RedisCluster | None = None,
                 prefix: str = "tierroute:learn:") -> None:
        self._clock = clock
        self.max_entries = max_entries
        self._items: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # id -> (served's JSON, expires)
        self._redis = redis
        self._prefix = prefix + "req:"
        self.errors = 0

    async def put(self, served: Served, ttl_s: float) -> None:
        data = served.dumps()
        # a right-sized copy: the bytes orjson returns keep its ~8 KB output buffer allocated
        self._items[served.request_id] = (memoryview(data).tobytes(), self._clock.now() + ttl_s)
        self._items.move_to_end(served.request_id)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)
        if self._redis is not None:
            try:
                await self._redis.set(self._prefix + served.request_id, data, px=max(1, int(ttl_s * 1000)))
            except (RedisError, OSError, TimeoutError):
                self.errors += 1

    async def get(self, request_id: str) -> Served | None:
        item = self._items.get(request_id)
        if item is not None:
            if item[1] > self._clock.now():
                return Served.loads(item[0])
            del self._items[request_id]
        if self._redis is None:
            return None
        try:
            raw = await self._redis.get(self._prefix + request_id)
        except (RedisError, OSError, TimeoutError):
            self.errors += 1
            return None
        return Served.loads(raw) if raw else None

    def __len__(self) -> int:
        return len(self._items)
