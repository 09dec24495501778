"""How long one replica decision takes: ``RedisAffinity.choose`` vs ``MemoryAffinity.choose``.

Both stores get the same inputs, one decision at a time: the chain-hashed fingerprints
(:func:`router.balance.fingerprint.fingerprint`, the policy's default block size) of the
generated-shared-prefix workload's prompts, four candidate replicas with the benchmark's KV
capacity, and, after each decision, ``finish`` (lease released, nothing forgotten) so the store
holds what a running proxy's would. The time of ``choose`` is taken around the ``await``
(``time.perf_counter_ns``); the first ``warmup`` decisions (script load, connection set-up) are
left out. The two stores take turns on each prompt (memory, Redis, then one ``PING`` as the
floor of any round trip), so they see the machine in the same state; what Redis adds to a
request is the paired difference ``redis_i - memory_i``, whose p50/p99 are reported next to
each store's own distribution. The Redis decision is one ``EVALSHA`` round trip; with a private
Redis, its slow log (threshold 0) also gives the CHOOSE script's execution time inside Redis.

Run alone: ``python bench/affinity_latency.py [--redis-url URL] [--decisions N]`` (without
``--redis-url`` a private ``redis-server`` is started on a free port and stopped afterwards);
``bench/cache_affinity.py`` runs it as part of the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for p in (HERE.parent, HERE):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from cache_affinity_workloads import generated_shared_prefix, percentile  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from router.balance.affinity import AffinityParams, MemoryAffinity  # noqa: E402
from router.balance.cache_aware import capacity_blocks  # noqa: E402
from router.balance.fingerprint import fingerprint  # noqa: E402
from router.balance.redis_affinity import SCRIPTS, RedisAffinity, key_prefix  # noqa: E402
from router.balance.rule import Candidate, RuleParams  # noqa: E402
from router.clock import SystemClock  # noqa: E402
from router.policy.model import Balance  # noqa: E402
from router.redis_client import script_sha  # noqa: E402


async def measure(redis_url: str, *, decisions: int = 2000, warmup: int = 100, capacity_tokens: int = 32768,
                  model: str = "sim-model", seed: int = 0, private: bool = False,
                  balance: dict[str, Any] | None = None, inside_samples: int = 300) -> dict[str, Any]:
    """The latency figures; ``private``: the Redis is ours, so its slow log may be switched on;
    ``balance``: the policy's ``balance`` overrides (block size, thresholds)."""
    b = Balance(**(balance or {}))
    wl = generated_shared_prefix(groups=32, per_group=16, system_tokens=2048, question_tokens=128, max_tokens=32,
                                 seed=seed)
    prints = [fingerprint({"messages": r.messages}, model, block_chars=b.block_chars, max_blocks=b.max_blocks)
              for r in wl.requests]
    cap = capacity_blocks(capacity_tokens, b.block_chars)
    cands = [Candidate(f"sglang http://127.0.0.1:{9000 + i} {model}", True, 64, 0, 1.0, cap) for i in range(4)]
    params = AffinityParams(RuleParams(b.match_threshold, b.balance_abs_threshold, b.balance_rel_threshold),
                            b.entry_ttl_s, b.lease_ttl_s)
    clock = SystemClock()
    redis_store = RedisAffinity.from_url(redis_url, clock)
    stores: dict[str, Any] = {"memory": MemoryAffinity(clock), "redis": redis_store}
    scope = f"bench-latency-{uuid.uuid4().hex[:8]}"
    out: dict[str, Any] = {"decisions": decisions, "warmup": warmup, "block_chars": b.block_chars,
                           "blocks_per_prompt_mean":
                           sum(map(len, prints)) / len(prints), "candidates": len(cands),
                           "capacity_blocks": cap}
    client = Redis.from_url(redis_url, socket_timeout=60)  # pings, stats, slow log, clean-up
    try:
        await client.config_resetstat()
        samples: dict[str, list[float]] = {"memory": [], "redis": [], "ping": [], "diff": []}
        finish_us: dict[str, list[float]] = {"memory": [], "redis": []}
        for n in range(decisions + warmup):  # interleaved: both stores see the machine in the same state
            blocks = prints[n % len(prints)]
            lease = f"lease-{n}"
            took: dict[str, float] = {}
            for name, store in stores.items():
                t0 = time.perf_counter_ns()
                choice = await store.choose(scope, blocks, cands, lease, params)
                t1 = time.perf_counter_ns()
                assert choice is not None
                await store.finish(scope, choice.key, lease, [])
                t2 = time.perf_counter_ns()
                took[name] = (t1 - t0) / 1000
                if n >= warmup:
                    samples[name].append(took[name])
                    finish_us[name].append((t2 - t1) / 1000)
            t0 = time.perf_counter_ns()
            await client.ping()  # the floor: any round trip to this Redis, on this machine, now
            if n >= warmup:
                samples["ping"].append((time.perf_counter_ns() - t0) / 1000)
                samples["diff"].append(took["redis"] - took["memory"])
        for name in stores:
            xs = samples[name]
            out[name] = {"choose_p50_us": percentile(xs, 50), "choose_p99_us": percentile(xs, 99),
                         "choose_mean_us": sum(xs) / len(xs), "choose_max_us": max(xs),
                         "finish_p50_us": percentile(finish_us[name], 50),
                         "finish_p99_us": percentile(finish_us[name], 99)}
        out["ping"] = {"p50_us": percentile(samples["ping"], 50), "p99_us": percentile(samples["ping"], 99)}
        # what Redis adds to one decision: the paired difference, same prompt, same moment
        out["added_p50_us"] = percentile(samples["diff"], 50)
        out["added_p99_us"] = percentile(samples["diff"], 99)
        stats = await client.info("commandstats")
        server = stats.get("cmdstat_evalsha", {})
        out["redis"]["server_usec_per_evalsha"] = server.get("usec_per_call")  # choose and finish, inside Redis
        if private:  # Redis' own execution time of CHOOSE: a short second pass with every command logged
            n_inside = min(decisions, inside_samples)
            await client.config_set("slowlog-log-slower-than", 0)
            await client.config_set("slowlog-max-len", 200 * n_inside)  # the script's own calls are logged too
            await client.slowlog_reset()
            for n in range(n_inside):
                choice = await redis_store.choose(scope, prints[n % len(prints)], cands, f"inside-{n}", params)
                assert choice is not None
                await redis_store.finish(scope, choice.key, f"inside-{n}", [])
            sha = script_sha(SCRIPTS["choose"])
            log = await client.slowlog_get(200 * n_inside)
            inside = [float(e["duration"]) for e in log
                      if e["command"].startswith(b"EVALSHA " + sha.encode())]
            out["redis"]["server_choose_p50_us"] = percentile(inside, 50)
            out["redis"]["server_choose_p99_us"] = percentile(inside, 99)
            out["redis"]["server_choose_samples"] = len(inside)
            await client.config_set("slowlog-log-slower-than", 10000)
            await client.config_set("slowlog-max-len", 128)
            await client.slowlog_reset()
        status = redis_store.status
        out["redis"]["errors"] = status.errors
        out["redis"]["local_decisions"] = status.local_decisions
    finally:
        keys = [k async for k in client.scan_iter(match=key_prefix(scope) + "*")]
        if keys:
            await client.delete(*keys)
        await redis_store.aclose()
        await client.aclose()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--redis-url", help="default: a private redis-server on a free port")
    p.add_argument("--decisions", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--block-chars", type=int, help="balance.block_chars (default: the policy default)")
    ns = p.parse_args(argv)
    from cache_affinity_procs import Procs, start_redis

    with Procs() as procs:
        url = ns.redis_url or start_redis(procs)
        balance = {"block_chars": ns.block_chars} if ns.block_chars else None
        res = asyncio.run(measure(url, decisions=ns.decisions, warmup=ns.warmup, private=not ns.redis_url,
                                  balance=balance))
    for name in ("memory", "redis"):
        r = res[name]
        print(f"{name:<7} choose p50 {r['choose_p50_us']:8.1f} µs  p99 {r['choose_p99_us']:8.1f} µs  "
              f"max {r['choose_max_us']:8.1f} µs")
    print(f"redis PING p50 {res['ping']['p50_us']:.1f} µs  p99 {res['ping']['p99_us']:.1f} µs; "
          f"EVALSHA inside Redis {res['redis']['server_usec_per_evalsha']} µs per call (choose and finish)")
    if "server_choose_p50_us" in res["redis"]:
        print(f"CHOOSE script inside Redis: p50 {res['redis']['server_choose_p50_us']:.0f} µs, "
              f"p99 {res['redis']['server_choose_p99_us']:.0f} µs")
    print(f"added by Redis: p50 {res['added_p50_us']:.1f} µs, p99 {res['added_p99_us']:.1f} µs "
          f"({res['blocks_per_prompt_mean']:.0f} blocks per prompt, {res['candidates']} replicas)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
