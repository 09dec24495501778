"""Conversations keep their tier: keys that identify a conversation, and where tiers are kept.

Answers change character when a conversation hops between models, so ``auto`` routing
remembers the tier each conversation got and never goes below it on a later turn (it may go
up: see ``floor`` in :func:`router.policy.decide.decide`).

A conversation is identified by, in order of preference:
1. the client's session id (header ``x-tierroute-session``), or
2. a fingerprint of what came before the newest user turn: the system and user messages in
   order (assistant replies are left out, so the key of turn n+1 is known at turn n without
   waiting for the reply). Each turn looks up the fingerprint of its earlier messages and
   stores its tier under the fingerprint that includes its own user message.
Keys are scoped by API-key principal and requested model, and hashed (nothing of the prompt
is kept). A first turn without a session id has nothing to look up.

:class:`MemoryConversations` is the single-process store: a TTL'd LRU of at most
``routing.sticky.max_conversations`` entries; :class:`RedisConversations` shares the tiers among
proxy replicas (with ``--redis-url``) through the process's pipelined Redis connection
(:class:`router.redis_client.RedisPipe`), its writes in the background, at most
:data:`MAX_PENDING_WRITES` at once (more are dropped and counted: the local store still has them).
A lookup that fails is answered by the local store and counted as a fallback in the client's
:class:`router.redis_breaker.RedisHealth`. The local store is not asked first: another proxy may have
moved the conversation up since, and a stale local tier would let it go back down.
Both ``describe()`` their size and caps for ``/admin/stats``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from classifiers.text import content_text

from .clock import Clock
from .redis_client import Calls, calls_of, health_of

SESSION_HEADER = "x-tierroute-session"
MAX_PENDING_WRITES = 1024  # background Redis writes in flight; a slow Redis must not grow them without bound
_ROLES = frozenset({"system", "developer", "user"})


@dataclass(frozen=True, slots=True)
class ConversationKeys:
    lookup: str | None  # where an earlier turn stored this conversation's tier
    store: str  # where this turn stores it for the next one


def conversation_keys(messages: list[dict[str, Any]], headers: Mapping[str, str], scope: str) -> ConversationKeys:
    session = headers.get(SESSION_HEADER)
    if session:
        key = _digest(f"s|{scope}|{session}".encode())
        return ConversationKeys(key, key)
    kept = [(m.get("role"), content_text(m.get("content"))) for m in messages if m.get("role") in _ROLES]
    last_user = max((i for i, (role, _) in enumerate(kept) if role == "user"), default=None)
    earlier = kept[:last_user] if last_user is not None else kept
    has_earlier_turn = any(role == "user" for role, _ in earlier)
    lookup = _digest(b"f|" + scope.encode() + b"|" + orjson.dumps(earlier)) if has_earlier_turn else None
    return ConversationKeys(lookup, _digest(b"f|" + scope.encode() + b"|" + orjson.dumps(kept)))


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class ConversationStore(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def put(self, key: str, tier: str, ttl_s: float) -> None: ...

    def describe(self) -> dict[str, object]:
        """Size and caps, for ``/admin/stats``."""
        ...


class MemoryConversations:
    """Tier per conversation key, forgotten after ``ttl_s`` idle; at most ``max_entries`` kept."""

    def __init__(self, clock: Clock, max_entries: int = 100_000) -> None:
        self._clock = clock
        self.max_entries = max_entries
        self._items: OrderedDict[str, tuple[str, float]] = OrderedDict()  # key -> (tier, expires)

    async def get(self, key: str) -> str | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] <= self._clock.now():
            del self._items[key]
            return None
        return item[0]

    async def put(self, key: str, tier: str, ttl_s: float) -> None:
        self._items[key] = (tier, self._clock.now() + ttl_s)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def describe(self) -> dict[str, object]:
        return {"store": "memory", "entries": len(self._items), "max_entries": self.max_entries}


class RedisConversations:
    """Conversation tiers in Redis, so every proxy replica keeps a conversation on its tier.

    Lookups and writes time out fast; on any Redis error the in-memory store answers instead
    (this proxy's own memory), so a Redis outage costs stickiness across proxies, never a
    request. Writes are not awaited by the request: they run as background tasks.
    """

    def __init__(self, redis: Redis | RedisCluster, local: MemoryConversations) -> None:
        # redis-py's client: through its calls; anything else with redis-py's get/set (a test's stand-in) as it is
        self._kv: Calls | Redis = calls_of(redis) if isinstance(redis, Redis | RedisCluster) else redis
        self._health = health_of(redis)
        self._local = local
        self.errors = 0
        self.dropped_writes = 0  # not sent: MAX_PENDING_WRITES were already in flight
        self._pending: set[asyncio.Future[Any]] = set()  # writes sent, reply not yet in

    async def get(self, key: str) -> str | None:
        try:
            value = await self._kv.get(redis_key(key))
        except (RedisError, OSError, TimeoutError):
            self.errors += 1
            self._health.error("conversations")
            self._health.fallback("conversations")
            return await self._local.get(key)
        return value.decode() if isinstance(value, bytes) else value

    async def put(self, key: str, tier: str, ttl_s: float) -> None:
        await self._local.put(key, tier, ttl_s)
        if len(self._pending) >= MAX_PENDING_WRITES:
            self.dropped_writes += 1
            return
        # not awaited: the pipe's own future for the reply (a task only for a stand-in client)
        fut = self._kv.send("SET", redis_key(key), tier, "PX", ttl_px(ttl_s)) if isinstance(self._kv, Calls) \
            else asyncio.ensure_future(self._kv.set(redis_key(key), tier, px=ttl_px(ttl_s)))
        self._pending.add(fut)
        fut.add_done_callback(self._written)

    def describe(self) -> dict[str, object]:
        return {"store": "redis", "local": self._local.describe(), "pending_writes": len(self._pending),
                "max_pending_writes": MAX_PENDING_WRITES, "dropped_writes": self.dropped_writes,
                "errors": self.errors}

    def _written(self, fut: asyncio.Future[Any]) -> None:
        self._pending.discard(fut)
        e = None if fut.cancelled() else fut.exception()
        if e is None:
            return
        if not isinstance(e, RedisError | OSError | TimeoutError):
            raise e  # not Redis' doing: to the loop's exception handler (logged), never dropped
        self.errors += 1
        self._health.error("conversations")


_KEY = "tierroute:conv:"


def redis_key(key: str) -> str:
    """Where a conversation key (a digest of :func:`conversation_keys`) keeps its tier in Redis."""
    return _KEY + key


def ttl_px(ttl_s: float) -> int:
    """The Redis TTL of a conversation's tier in milliseconds (``SET … PX``), at least 1."""
    return max(1, int(ttl_s * 1000))
