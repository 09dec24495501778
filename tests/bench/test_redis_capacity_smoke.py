"""bench/redis_capacity.py's pieces: the calls it hands redis-benchmark are valid calls of the stores' scripts,
and the paired mix releases every lease it takes. Nothing here is timed."""

from __future__ import annotations

import sys
from pathlib import Path

import redis

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import redis_capacity as rc  # noqa: E402

from router.balance.redis_affinity import SCRIPTS  # noqa: E402
from router.redis_client import script_sha  # noqa: E402
from tests.conftest import RedisServer  # noqa: E402


def _shapes() -> dict[str, rc.Shape]:
    return {"short": rc.short_shape(60), "long": rc.long_shape(seeds=1)}


def test_bench_commands_randomize_only_what_a_request_does_not_share(private_redis: RedisServer) -> None:
    shapes = _shapes()
    long = shapes["long"]
    assert 0 < long.shared_blocks < len(long.example.blocks)  # a group's system prompt, then its question
    cmds = {c.name: c for c in rc.bench_commands(shapes)}
    choose = cmds["CHOOSE long"].argv
    assert choose[:2] == ["EVALSHA", script_sha(SCRIPTS["choose"])]
    assert sum(rc.RAND in a for a in choose) == len(long.example.blocks) - long.shared_blocks
    assert sum(rc.RAND in a for a in cmds["CHOOSE short"].argv) == len(shapes["short"].example.blocks)
    client = redis.Redis(port=private_redis.port)
    for src in rc.SCRIPT_SOURCES.values():
        client.script_load(src)
    for c in cmds.values():  # what redis-benchmark sends, with its substitution done: no error reply
        reply = client.execute_command(*(a.replace(rc.RAND, "000000000042") for a in c.argv))
        if c.name.startswith("CHOOSE"):
            assert reply[0].decode() in {x.key for x in shapes[c.name.split()[1]].candidates}
    out = rc.redis_benchmark(private_redis.port, cmds["CHOOSE short"].argv, 40, 2, 4)
    assert out["rps"] > 0
    client.close()


async def test_the_mix_releases_every_lease_it_takes(private_redis: RedisServer) -> None:
    shapes = _shapes()
    client = redis.Redis(port=private_redis.port)
    for src in rc.SCRIPT_SOURCES.values():
        client.script_load(src)
    sent = {}
    for shape in shapes.values():
        for limits in (False, True):
            d = rc.Driver(private_redis.port, shape, rc.Mix(shape.name, limits))
            await d.run(2, 3, None, 30)
            assert d.counts.requests == 30 and sum(d.counts.reasons.values()) == 30
            sent[(shape.name, limits)] = d.counts.sent
            if shape.name == "long":
                assert d.counts.reasons.get("cache", 0) > 0  # questions of one group find its prefix
    assert sent[("short", False)] == 30 * 3 and sent[("short", True)] == 30 * 5  # [ADMIT] CHOOSE SET FINISH [CHARGE]
    assert 30 * 3 < sent[("long", False)] <= 30 * 4  # + the ZREM of the prefill marks a request set
    assert list(client.scan_iter(match="tierroute:{small}:lease:*")) == []  # every CHOOSE's lease went: zsets empty
    assert len(list(client.scan_iter(match="tierroute:*:lru:*"))) == 2 + 4  # the replicas' entries stay
    assert len(list(client.scan_iter(match="tierroute:conv:*"))) == 30 + 30  # each driver: the shape's first 30
    client.close()


def test_the_single_commands_add_up_per_mix() -> None:
    bench = [{"command": n, "clients": 4, "depth": 8, "redis_cpu_us_per_call": (us, us, us)}
             for n, us in (("CHOOSE short", 30.0), ("SET conversation", 4.0), ("FINISH", 3.0), ("ADMIT", 13.0),
                           ("CHARGE", 14.0))]
    mixes = [{"mix": "short", "commands": "CHOOSE + SET + FINISH", "conns": 4, "depth": 8,
              "redis_cpu_us_per_request": (40.0, 39.0, 41.0)},
             {"mix": "short +limits", "commands": "ADMIT + CHOOSE + SET + FINISH + CHARGE", "conns": 4, "depth": 8,
              "redis_cpu_us_per_request": (70.0, 69.0, 71.0)},
             {"mix": "long", "commands": "CHOOSE + SET + FINISH", "conns": 4, "depth": 8,
              "redis_cpu_us_per_request": (1.0, 1.0, 1.0)}]
    out = rc.derived(bench, mixes)
    assert [(d["mix"], d["sum_us"], d["per_core_rps_measured"]) for d in out] == [
        ("short", 37.0, 25_000.0), ("short +limits", 64.0, 1e6 / 70)]  # no CHOOSE long measured: left out
