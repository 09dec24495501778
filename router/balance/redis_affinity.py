"""Prefix-cache affinity in Redis, shared by every proxy replica; one round trip per decision.

Keys (one hash tag per tier, so a tier's keys share a slot and Redis Cluster works), per replica:
``tierroute:{<tier>}:lru:<replica>`` zset block → last use, ``…:lease:<replica>`` zset lease →
expiry; each expires when unused.

``CHOOSE`` (Lua) does in one call what :class:`.affinity.MemoryAffinity` does: count each
replica's fresh entries and live leases, find its deepest held block (a ZSCORE of the first
block, then one ZMSCORE on the replicas that hold it), apply
the rule of :mod:`.rule` (the same steps, the same tie-breaking), record the prompt's blocks for
the chosen replica (one ZADD; deeper blocks get slightly older stamps so trimming drops a
prefix's tail first, as a radix LRU does), drop its expired entries and leases, trim it to
capacity (``affinity.MAX_ENTRIES`` per replica while its capacity is unknown), add the lease.
Three Redis calls per replica plus about eight: the count grows with replicas, not with the
prompt's length.
Times come from Redis' own clock, as whole microseconds (integer scores keep Redis' small
sorted sets fast: with fractional scores a 46-block ZADD cost ~0.5 ms instead of ~0.05 ms).

The choice, the prefill-mark checks and the release go through the process's pipelined connection
(:class:`..redis_client.RedisPipe`: one connection, every call of one event-loop turn in one
write; on a Redis Cluster redis-py's cluster client, :mod:`..redis_cluster`); lease renewal through
redis-py's pool, in the background. Every key a script touches is one of its ``KEYS`` (none is built
inside Lua), all with the scope's hash tag, as Redis Cluster requires.

Redis trouble never fails a request: commands time out after ``timeout_s``; after
``breaker_failures`` failures in a row the breaker opens for ``breaker_cooldown_s`` and
decisions are made locally (a :class:`.affinity.MemoryAffinity`); then one call is tried again
and success closes the breaker. Every such event is counted in ``status()`` and in the client's
shared :class:`..redis_breaker.RedisHealth` (errors, fallbacks: ``describe()["redis"]``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from ..clock import Clock
from ..redis_breaker import RedisBreaker
from ..redis_client import calls_of, health_of
from ..redis_connect import redis_client
from .affinity import MAX_ENTRIES, AffinityParams, Choice, MemoryAffinity
from .rule import Candidate

log = logging.getLogger("tierroute.affinity")
REDIS_EPOCH = 1_790_000_000  # stamps in the scripts are whole microseconds since then

_CHOOSE = """
-- KEYS: per candidate, its lru, lease and fill keys (one hash tag: one cluster slot)
local lease, nb, nc = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl, lease_ttl = tonumber(ARGV[4]), tonumber(ARGV[5])  -- seconds
local match_thr, abs_thr, rel_thr = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local fill_ttl = tonumber(ARGV[9])  -- seconds; 0: no prefill marks
-- stamps are whole microseconds since REDIS_EPOCH: integer scores keep small sorted sets fast
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1790000000) * 1000000 + tonumber(t[2])
local function us(x) return string.format('%d', x) end
local fresh = now - ttl * 1000000
local blocks = {}
for i = 1, nb do blocks[i] = ARGV[9 + i] end
local cands, base = {}, 9 + nb
for j = 1, nc do
  local o = base + (j - 1) * 6
  cands[j] = {key = ARGV[o + 1], healthy = ARGV[o + 2] == '1', max_running = tonumber(ARGV[o + 3]),
              external = tonumber(ARGV[o + 4]), weight = tonumber(ARGV[o + 5]), cap = tonumber(ARGV[o + 6]),
              lru = KEYS[3 * j - 2], lease = KEYS[3 * j - 1], fill = KEYS[3 * j]}
end
-- per replica: what it caches (fresh entries), what runs on it (live leases), the match
local cached, leases, matches, stamps = {}, {}, {}, {}
for _, c in ipairs(cands) do
  local lru = c.lru
  cached[c.key] = redis.call('ZCOUNT', lru, us(fresh), '+inf')
  leases[c.key] = redis.call('ZCOUNT', c.lease, '(' .. us(now), '+inf')
  local m = 0
  -- held blocks of one chain form a prefix: without the first block, nothing matches
  local first = nb > 0 and cached[c.key] > 0 and redis.call('ZSCORE', lru, blocks[1])
  if first and tonumber(first) >= fresh then
    local vals = redis.call('ZMSCORE', lru, unpack(blocks))
    for i = nb, 1, -1 do
      if vals[i] and tonumber(vals[i]) >= fresh then m = i; stamps[c.key] = vals[i]; break end
    end
  end
  matches[c.key] = m
end
-- the rule (router/balance/rule.py)
local healthy = {}
for _, c in ipairs(cands) do if c.healthy then healthy[#healthy + 1] = c end end
if #healthy == 0 then return {} end
local eligible = {}
for _, c in ipairs(healthy) do
  if c.max_running <= 0 or math.max(leases[c.key], c.external) < c.max_running then eligible[#eligible + 1] = c end
end
if #eligible == 0 then eligible = healthy end
local load, lo, hi = {}, nil, nil
for _, c in ipairs(eligible) do
  local l = math.max(leases[c.key], c.external) * c.weight
  load[c.key] = l
  if lo == nil or l < lo then lo = l end
  if hi == nil or l > hi then hi = l end
end
local function better(a, b, primary)
  local pa, pb = primary(a), primary(b)
  if pa ~= pb then return pa < pb end
  if cached[a.key] ~= cached[b.key] then return cached[a.key] < cached[b.key] end
  return a.key < b.key
end
local function pick(list, primary)
  local best = nil
  for _, c in ipairs(list) do if best == nil or better(c, best, primary) then best = c end end
  return best
end
local chosen, reason
if hi - lo > abs_thr and hi > lo * rel_thr then
  local least = {}
  for _, c in ipairs(eligible) do if load[c.key] == lo then least[#least + 1] = c end end
  chosen, reason = pick(least, function(c) return -matches[c.key] end), 'balance'
else
  local top = 0
  for _, c in ipairs(eligible) do if matches[c.key] > top then top = matches[c.key] end end
  if top >= 1 and top >= match_thr * nb then
    local holders = {}
    for _, c in ipairs(eligible) do if matches[c.key] == top then holders[#holders + 1] = c end end
    chosen, reason = pick(holders, function(c) return load[c.key] end), 'cache'
  else
    chosen, reason = pick(eligible, function(c) return load[c.key] end), 'least_loaded'
  end
end
-- prefill marks: is the matched prefix still being prefilled there? then mark this prompt's new blocks
local filling = '0'
if fill_ttl > 0 then
  local fk, m = chosen.fill, matches[chosen.key]
  redis.call('ZREMRANGEBYSCORE', fk, '-inf', us(now))
  if m > 0 and redis.call('ZSCORE', fk, blocks[m]) then filling = '1' end
  if nb > m then
    local fargs = {'NX'}  -- an earlier claim stands
    for i = m + 1, nb do fargs[#fargs + 1] = us(now + fill_ttl * 1000000); fargs[#fargs + 1] = blocks[i] end
    redis.call('ZADD', fk, unpack(fargs))
    redis.call('EXPIRE', fk, math.ceil(fill_ttl) + 1)
  end
end
-- record the prompt's blocks on the chosen replica (deeper = a little older), trim, lease
local lru = chosen.lru
redis.call('ZREMRANGEBYSCORE', lru, '-inf', '(' .. us(fresh))  -- expired entries go when their replica is chosen
if nb > 0 then
  local zargs = {}
  for i = 1, nb do
    zargs[#zargs + 1] = us(now - i); zargs[#zargs + 1] = blocks[i]
  end
  redis.call('ZADD', lru, unpack(zargs))
  redis.call('EXPIRE', lru, math.ceil(ttl))
  if chosen.cap > 0 then
    local excess = redis.call('ZCARD', lru) - chosen.cap
    if excess > 0 then redis.call('ZREMRANGEBYRANK', lru, 0, excess - 1) end
  end
end
local lk = chosen.lease
redis.call('ZREMRANGEBYSCORE', lk, '-inf', us(now))
redis.call('ZADD', lk, us(now + lease_ttl * 1000000), lease)
redis.call('EXPIRE', lk, math.ceil(lease_ttl * 2))
local out = {chosen.key, reason, tostring(matches[chosen.key]), stamps[chosen.key] or '', us(now), filling}
for _, c in ipairs(cands) do
  out[#out + 1] = c.key
  out[#out + 1] = tostring(matches[c.key])
  out[#out + 1] = tostring(math.max(leases[c.key], c.external) * c.weight)
end
return out
"""

_FILLING = """
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1790000000) * 1000000 + tonumber(t[2])
local exp = redis.call('ZSCORE', KEYS[1], ARGV[1])
if exp and tonumber(exp) > now then return 1 end
return 0
"""

_FINISH = """
-- KEYS: the replica's lease and lru keys
local lease, before, lru = ARGV[1], ARGV[2], KEYS[2]
redis.call('ZREM', KEYS[1], lease)
if #ARGV > 2 then
  local forget = {}
  for i = 3, #ARGV do forget[#forget + 1] = ARGV[i] end
  redis.call('ZREM', lru, unpack(forget))
end
if before ~= '' then redis.call('ZREMRANGEBYSCORE', lru, '-inf', '(' .. before) end
return 1
"""


SCRIPTS = {"choose": _CHOOSE, "finish": _FINISH, "filling": _FILLING}  # by name, for bench/redis_capacity.py


def key_prefix(scope: str) -> str:
    """A scope's (a tier's) keys' prefix: its name is their hash tag (the policy's tier names are never
    empty and hold no braces), so that every key of a call is in one Redis Cluster slot."""
    return f"tierroute:{{{scope}}}:"


def choose_keys(scope: str, replicas: Sequence[str]) -> list[str]:
    """``CHOOSE``'s keys: per replica its ``lru``, ``lease`` and ``fill`` keys."""
    p = key_prefix(scope)
    return [p + kind + r for r in replicas for kind in ("lru:", "lease:", "fill:")]


def finish_keys(scope: str, replica: str) -> list[str]:
    p = key_prefix(scope)
    return [p + "lease:" + replica, p + "lru:" + replica]


def choose_call(scope: str, blocks: Sequence[str], candidates: Sequence[Candidate], lease: str,
                params: AffinityParams, max_entries: int = MAX_ENTRIES) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of one ``CHOOSE`` call; a replica whose capacity is unknown is bounded by ``max_entries``."""
    args: list[Any] = [lease, len(blocks), len(candidates), params.entry_ttl_s,
                       params.lease_ttl_s, params.rule.match_threshold, params.rule.abs_threshold,
                       params.rule.rel_threshold, params.fill_ttl_s, *blocks]
    for c in candidates:
        args += [c.key, "1" if c.healthy else "0", c.max_running, c.external, c.weight,
                 c.capacity_blocks or max_entries]  # capacity unknown: a replica's zset is still bounded
    return choose_keys(scope, [c.key for c in candidates]), args


def finish_call(scope: str, replica: str, lease: str, forget: Sequence[str] = (),
                forget_older_than: float | None = None) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of one ``FINISH`` call (release ``lease``; forget blocks; drop entries older than a stamp)."""
    before = "" if forget_older_than is None else str(round(forget_older_than * 1e6))
    return finish_keys(scope, replica), [lease, before, *forget]


class RedisAffinity:
    def __init__(self, redis: Redis | RedisCluster, clock: Clock, *, breaker_failures: int = 3,
                 breaker_cooldown_s: float = 5.0, max_entries: int = MAX_ENTRIES) -> None:
        self._redis = redis
        self._clock = clock
        self._calls = calls_of(redis)
        self._health = health_of(redis)
        self._sha = {src: self._calls.register(src) for src in (_CHOOSE, _FINISH, _FILLING)}
        self._local = MemoryAffinity(clock, max_entries)
        self.max_entries = max_entries  # per replica, in Redis, while its capacity is unknown
        self._breaker = RedisBreaker(clock, "affinity", failures=breaker_failures, cooldown_s=breaker_cooldown_s)
        self.status = self._breaker.status
        self._background: set[asyncio.Future[Any]] = set()  # FINISH calls of requests that ended

    @classmethod
    def from_url(cls, url: str, clock: Clock, *, timeout_s: float = 0.05) -> RedisAffinity:
        return cls(redis_client(url, timeout_s=timeout_s), clock)

    async def choose(self, scope: str, blocks: Sequence[str], candidates: Sequence[Candidate], lease: str,
                     params: AffinityParams) -> Choice | None:
        if not self._breaker.usable():
            return await self._decide_locally(scope, blocks, candidates, lease, params)
        keys, args = choose_call(scope, blocks, candidates, lease, params, self.max_entries)
        try:
            out = await self._script(_CHOOSE, keys, args)
        except (TimeoutError, RedisError, OSError) as e:
            self._failed(e)
            return await self._decide_locally(scope, blocks, candidates, lease, params)
        self._breaker.succeeded()
        if not out:
            return None
        vals = [v.decode() if isinstance(v, bytes) else str(v) for v in out]
        matches = {vals[i]: int(vals[i + 1]) for i in range(6, len(vals), 3)}
        loads = {vals[i]: float(vals[i + 2]) for i in range(6, len(vals), 3)}
        return Choice(vals[0], vals[1], int(vals[2]), matches, loads,
                      int(vals[3]) / 1e6 if vals[3] else None, int(vals[4]) / 1e6, vals[5] == "1")

    async def _decide_locally(self, scope: str, blocks: Sequence[str], candidates: Sequence[Candidate], lease: str,
                              params: AffinityParams) -> Choice | None:
        self.status.local_decisions += 1
        self._health.fallback("affinity")
        return await self._local.choose(scope, blocks, candidates, lease, params)

    def _script(self, source: str, keys: list[str], args: Sequence[Any]) -> Any:
        return self._calls.script(self._sha[source], source, keys, args)

    def _failed(self, e: BaseException) -> None:
        self._breaker.failed(e)
        self._health.error("affinity")

    async def filling(self, scope: str, replica: str, block: str) -> bool:
        if not self._breaker.usable():
            return await self._local.filling(scope, replica, block)
        try:
            out = await self._script(_FILLING, [key_prefix(scope) + "fill:" + replica], [block])
        except (TimeoutError, RedisError, OSError) as e:
            self._failed(e)
            return False  # stop holding: the request goes on
        self._breaker.succeeded()
        return bool(out)

    async def filled(self, scope: str, replica: str, blocks: Sequence[str]) -> None:
        await self._local.filled(scope, replica, blocks)
        if not blocks or not self._breaker.usable():
            return
        try:
            await self._calls.call("ZREM", key_prefix(scope) + "fill:" + replica, *blocks)
        except (TimeoutError, RedisError, OSError) as e:
            self._failed(e)  # the marks expire by themselves
            return
        self._breaker.succeeded()

    async def finish(self, scope: str, replica: str, lease: str, forget: Sequence[str] = (),
                     forget_older_than: float | None = None) -> None:
        sent = self._release(scope, replica, lease, forget, forget_older_than)
        if sent is not None:
            await asyncio.wait({sent})  # its outcome is seen to by _finished, which runs first

    def finish_soon(self, scope: str, replica: str, lease: str, forget: Sequence[str] = (),
                    forget_older_than: float | None = None) -> None:
        self._release(scope, replica, lease, forget, forget_older_than)

    def _release(self, scope: str, replica: str, lease: str, forget: Sequence[str],
                 forget_older_than: float | None) -> asyncio.Future[Any] | None:
        """The local store's part at once; the ``FINISH`` script sent, its reply seen to by :meth:`_finished`."""
        self._local.finish_soon(scope, replica, lease, forget)
        if not self._breaker.usable():
            return None
        fut = self._calls.script_soon(self._sha[_FINISH], _FINISH,
                                      *finish_call(scope, replica, lease, forget, forget_older_than))
        self._background.add(fut)
        fut.add_done_callback(self._finished)
        return fut

    def _finished(self, fut: asyncio.Future[Any]) -> None:
        self._background.discard(fut)
        if fut.cancelled():  # the connection closed under it (shutdown)
            return
        e = fut.exception()
        if e is None:
            self._breaker.succeeded()
        elif isinstance(e, TimeoutError | RedisError | OSError):
            self._failed(e)  # the lease expires by itself
        else:
            raise e  # not Redis' doing: to the loop's exception handler (logged), never dropped

    async def renew(self, leases: Sequence[tuple[str, str, str]], ttl_s: float) -> None:
        await self._local.renew(leases, ttl_s)
        if not leases or not self._breaker.usable():
            return
        try:
            sec, usec = await self._redis.time()
            expiry = (sec - REDIS_EPOCH) * 1_000_000 + usec + round(ttl_s * 1e6)
            async with self._redis.pipeline(transaction=False) as pipe:
                for scope, replica, lease in leases:
                    pipe.zadd(key_prefix(scope) + "lease:" + replica, {lease: expiry}, xx=True)
                await pipe.execute()
        except (TimeoutError, RedisError, OSError) as e:
            self._failed(e)
            return
        self._breaker.succeeded()

    async def aclose(self) -> None:
        self._calls.close()
        await self._redis.aclose()

    def describe(self) -> dict[str, Any]:
        return {"store": "redis", **asdict(self.status), "redis": self._health.describe(),
                "max_entries_per_replica": self.max_entries,
                "local": self._local.describe()}  # the fallback's bounds
