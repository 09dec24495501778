"""Prefix-cache affinity in Redis, shared by every proxy replica; one round trip per decision.

Keys (one hash tag per tier, so a tier's keys share a slot and Redis Cluster works):
``tierroute:{<tier>}:b:<block>`` hash replica → last use (expires ``entry_ttl_s`` after its last
write), ``…:lru:<replica>`` zset block → last use, ``…:lease:<replica>`` zset lease → expiry.

``CHOOSE`` (Lua) does in one call what :class:`.affinity.MemoryAffinity` does: purge expired
entries and leases, find each replica's deepest held block, apply the rule of :mod:`.rule`
(the same steps, the same tie-breaking), record the blocks for the chosen replica (deeper
blocks get slightly older stamps so capacity trimming drops a prefix's tail first, as a radix
LRU does), trim it to capacity, add the lease. Times come from Redis' own clock.

Redis trouble never fails a request: commands time out after ``timeout_s``; after
``breaker_failures`` failures in a row the breaker opens for ``breaker_cooldown_s`` and
decisions are made locally (a :class:`.affinity.MemoryAffinity`); then one call is tried again
and success closes the breaker. Every such event is counted in ``status()``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..clock import Clock
from ..redis_client import redis_client
from .affinity import AffinityParams, Choice, MemoryAffinity
from .rule import Candidate

log = logging.getLogger("tierroute.affinity")
REDIS_EPOCH = 1_700_000_000  # subtracted from Redis' clock in the scripts, so stamps keep microseconds

_CHOOSE = """
local prefix, lease, nb, nc = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl, lease_ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
local match_thr, abs_thr, rel_thr = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1700000000) + tonumber(t[2]) / 1e6  -- small numbers keep microseconds exact
local fresh = now - ttl
local blocks, cands = {}, {}
for i = 1, nb do blocks[i] = ARGV[9 + i] end
local base = 9 + nb
for j = 1, nc do
  local o = base + (j - 1) * 6
  cands[j] = {key = ARGV[o + 1], healthy = ARGV[o + 2] == '1', max_running = tonumber(ARGV[o + 3]),
              external = tonumber(ARGV[o + 4]), weight = tonumber(ARGV[o + 5]), cap = tonumber(ARGV[o + 6])}
end
local keys = {}
for j = 1, nc do keys[j] = cands[j].key end
-- purge expired entries and leases; count cached blocks and live leases
local cached, leases = {}, {}
for j, c in ipairs(cands) do
  local lru = prefix .. 'lru:' .. c.key
  local old = redis.call('ZRANGEBYSCORE', lru, '-inf', '(' .. fresh)
  for _, b in ipairs(old) do
    local bk = prefix .. 'b:' .. b
    local v = redis.call('HGET', bk, c.key)
    if v and tonumber(v) < fresh then redis.call('HDEL', bk, c.key) end
  end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', lru, '-inf', '(' .. fresh) end
  cached[c.key] = redis.call('ZCARD', lru)
  local lk = prefix .. 'lease:' .. c.key
  redis.call('ZREMRANGEBYSCORE', lk, '-inf', now)
  leases[c.key] = redis.call('ZCARD', lk)
end
-- deepest block each replica holds
local matches, found = {}, 0
for i = nb, 1, -1 do
  if found == nc then break end
  local vals = redis.call('HMGET', prefix .. 'b:' .. blocks[i], unpack(keys))
  for j = 1, nc do
    local k = keys[j]
    if matches[k] == nil and vals[j] and tonumber(vals[j]) >= fresh then
      matches[k] = i
      found = found + 1
    end
  end
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
local load = {}
local lo, hi = nil, nil
for _, c in ipairs(eligible) do
  local l = math.max(leases[c.key], c.external) * c.weight
  load[c.key] = l
  if lo == nil or l < lo then lo = l end
  if hi == nil or l > hi then hi = l end
end
local function m(c) return matches[c.key] or 0 end
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
  chosen, reason = pick(least, function(c) return -m(c) end), 'balance'
else
  local top = 0
  for _, c in ipairs(eligible) do if m(c) > top then top = m(c) end end
  if top >= 1 and top >= match_thr * nb then
    local holders = {}
    for _, c in ipairs(eligible) do if m(c) == top then holders[#holders + 1] = c end end
    chosen, reason = pick(holders, function(c) return load[c.key] end), 'cache'
  else
    chosen, reason = pick(eligible, function(c) return load[c.key] end), 'least_loaded'
  end
end
-- record: the blocks now live on the chosen replica too; trim it to capacity; lease the request
local lru = prefix .. 'lru:' .. chosen.key
for i = 1, nb do
  local stamp = now - i * 1e-6
  local bk = prefix .. 'b:' .. blocks[i]
  redis.call('HSET', bk, chosen.key, stamp)
  redis.call('EXPIRE', bk, math.ceil(ttl))
  redis.call('ZADD', lru, stamp, blocks[i])
end
redis.call('EXPIRE', lru, math.ceil(ttl))
if chosen.cap > 0 then
  local excess = redis.call('ZCARD', lru) - chosen.cap
  if excess > 0 then
    for _, b in ipairs(redis.call('ZRANGE', lru, 0, excess - 1)) do
      redis.call('HDEL', prefix .. 'b:' .. b, chosen.key)
    end
    redis.call('ZREMRANGEBYRANK', lru, 0, excess - 1)
  end
end
local lk = prefix .. 'lease:' .. chosen.key
redis.call('ZADD', lk, now + lease_ttl, lease)
redis.call('EXPIRE', lk, math.ceil(lease_ttl * 2))
local out = {chosen.key, reason, tostring(matches[chosen.key] or 0)}
for _, c in ipairs(cands) do
  out[#out + 1] = c.key
  out[#out + 1] = tostring(matches[c.key] or 0)
  out[#out + 1] = tostring(math.max(leases[c.key], c.external) * c.weight)
end
return out
"""

_FINISH = """
local prefix, replica, lease = ARGV[1], ARGV[2], ARGV[3]
redis.call('ZREM', prefix .. 'lease:' .. replica, lease)
for i = 4, #ARGV do
  redis.call('HDEL', prefix .. 'b:' .. ARGV[i], replica)
  redis.call('ZREM', prefix .. 'lru:' .. replica, ARGV[i])
end
return 1
"""


@dataclass
class RedisStatus:
    state: str = "closed"  # closed | open | half_open
    errors: int = 0
    breaker_opened: int = 0
    recovered: int = 0
    local_decisions: int = 0
    last_error: str | None = None


def key_prefix(scope: str) -> str:
    return f"tierroute:{{{scope}}}:"


class RedisAffinity:
    def __init__(self, redis: Redis, clock: Clock, *, breaker_failures: int = 3,
                 breaker_cooldown_s: float = 5.0) -> None:
        self._redis = redis
        self._clock = clock
        self._choose = redis.register_script(_CHOOSE)
        self._finish = redis.register_script(_FINISH)
        self._local = MemoryAffinity(clock)
        self._failures_in_row = 0
        self._open_until = 0.0
        self._breaker_failures = breaker_failures
        self._cooldown = breaker_cooldown_s
        self.status = RedisStatus()

    @classmethod
    def from_url(cls, url: str, clock: Clock, *, timeout_s: float = 0.05) -> RedisAffinity:
        return cls(redis_client(url, timeout_s=timeout_s), clock)

    async def choose(self, scope: str, blocks: Sequence[str], candidates: Sequence[Candidate], lease: str,
                     params: AffinityParams) -> Choice | None:
        if not self._usable():
            self.status.local_decisions += 1
            return await self._local.choose(scope, blocks, candidates, lease, params)
        args: list[Any] = [key_prefix(scope), lease, len(blocks), len(candidates), params.entry_ttl_s,
                           params.lease_ttl_s, params.rule.match_threshold, params.rule.abs_threshold,
                           params.rule.rel_threshold, *blocks]
        for c in candidates:
            args += [c.key, "1" if c.healthy else "0", c.max_running, c.external, c.weight, c.capacity_blocks]
        try:
            out = await self._choose(keys=[key_prefix(scope) + "lease"], args=args)
        except (TimeoutError, RedisError, OSError) as e:
            self._failed(e)
            self.status.local_decisions += 1
            return await self._local.choose(scope, blocks, candidates, lease, params)
        self._succeeded()
        if not out:
            return None
        vals = [v.decode() if isinstance(v, bytes) else str(v) for v in out]
        matches = {vals[i]: int(vals[i + 1]) for i in range(3, len(vals), 3)}
        loads = {vals[i]: float(vals[i + 2]) for i in range(3, len(vals), 3)}
        return Choice(vals[0], vals[1], int(vals[2]), matches, loads)

    async def finish(self, scope: str, replica: str, lease: str, forget: Sequence[str]) -> None:
        await self._local.finish(scope, replica, lease, forget)
        if not self._usable():
            return
        try:
            await self._finish(keys=[key_prefix(scope) + "lease"], args=[key_prefix(scope), replica, lease, *forget])
        except (TimeoutError, RedisError, OSError) as e:
            self._failed(e)  # the lease expires by itself
            return
        self._succeeded()

    async def renew(self, leases: Sequence[tuple[str, str, str]], ttl_s: float) -> None:
        await self._local.renew(leases, ttl_s)
        if not leases or not self._usable():
            return
        try:
            sec, usec = await self._redis.time()
            expiry = (sec - REDIS_EPOCH) + usec / 1e6 + ttl_s
            async with self._redis.pipeline(transaction=False) as pipe:
                for scope, replica, lease in leases:
                    pipe.zadd(key_prefix(scope) + "lease:" + replica, {lease: expiry}, xx=True)
                await pipe.execute()
        except (TimeoutError, RedisError, OSError) as e:
            self._failed(e)
            return
        self._succeeded()

    async def aclose(self) -> None:
        await self._redis.aclose()

    def describe(self) -> dict[str, Any]:
        return {"store": "redis", **asdict(self.status)}

    def _usable(self) -> bool:
        if self.status.state != "open":
            return True
        if self._clock.now() >= self._open_until:
            self.status.state = "half_open"  # let one call through
            return True
        return False

    def _failed(self, e: BaseException) -> None:
        self.status.errors += 1
        self.status.last_error = f"{type(e).__name__}: {e}"[:200]
        self._failures_in_row += 1
        if self.status.state == "half_open" or self._failures_in_row >= self._breaker_failures:
            if self.status.state != "open":
                self.status.breaker_opened += 1
                log.warning("redis unavailable: deciding locally", extra={"error": self.status.last_error,
                                                                          "cooldown_s": self._cooldown})
            self.status.state = "open"
            self._open_until = self._clock.now() + self._cooldown

    def _succeeded(self) -> None:
        self._failures_in_row = 0
        if self.status.state != "closed":
            self.status.recovered += 1
            log.info("redis is back: affinity shared again")
        self.status.state = "closed"


def capacity_blocks(max_total_tokens: int | None, block_chars: int) -> int:
    """Blocks of ``block_chars`` characters that fit a KV cache of ``max_total_tokens`` (0: unknown)."""
    if not max_total_tokens:
        return 0
    return max(1, math.floor(max_total_tokens * 4 / block_chars))
