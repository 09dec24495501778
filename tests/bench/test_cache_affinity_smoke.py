"""Smoke test of bench/cache_affinity.py's pure parts: workload generators, the oracle, the report.

No processes, no network, no sgl-router: tiny workloads, the simulator's tokenizer and radix
cache, and one in-process simulated worker (ASGI) to check the predicted answers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import cache_affinity as ca  # noqa: E402
import cache_affinity_workloads as w  # noqa: E402

from fleet.sim import worker  # noqa: E402
from fleet.sim.tokenize import Tokenizer  # noqa: E402

SIM = w.SimParams(seed=3, min_output_tokens=4, max_output_tokens=12)


def _gsp(seed: int = 0) -> w.Workload:
    return w.generated_shared_prefix(groups=3, per_group=4, system_tokens=60, question_tokens=8, max_tokens=8,
                                     seed=seed)


def _mt(seed: int = 0) -> w.Workload:
    return w.multi_turn(conversations=3, turns=3, first_tokens=40, question_tokens=6, max_tokens=8, sim=SIM,
                        seed=seed)


def _common(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def test_generated_shared_prefix_shape_and_determinism() -> None:
    wl = _gsp()
    assert wl.name == w.GSP and len(wl.requests) == 12 and len(wl.keys) == 3
    assert [r.rid for r in wl.requests] == [r.rid for r in _gsp().requests]  # seeded
    assert [r.rid for r in wl.requests] != [r.rid for r in _gsp(seed=1).requests]
    assert [r.rid for r in wl.requests] != sorted(r.rid for r in wl.requests)  # shuffled, groups interleaved
    by_key: dict[str, list[w.Request]] = {}
    for r in wl.requests:
        by_key.setdefault(r.key, []).append(r)
        assert [m["role"] for m in r.messages] == ["system", "user"] and r.after is None
    systems = {k: {r.messages[0]["content"] for r in rs} for k, rs in by_key.items()}
    assert all(len(s) == 1 for s in systems.values())  # one system prompt per group ...
    assert len({next(iter(s)) for s in systems.values()}) == 3  # ... distinct across groups
    assert len({r.messages[1]["content"] for r in wl.requests}) == 12  # every question distinct
    tokens = w.tokenize(wl, SIM)
    assert all(55 <= len(r.messages[0]["content"].split()) <= 70 for r in wl.requests)
    assert all(len(p) > 60 for p in tokens.prompt)
    body = wl.requests[0].body("pool")
    assert body["model"] == "pool" and body["stream"] and body["stream_options"] == {"include_usage": True}


def test_multi_turn_grows_by_the_previous_answer_and_a_question() -> None:
    wl = _mt()
    assert wl.name == w.MULTI_TURN and len(wl.requests) == 9 and len(wl.keys) == 3
    keys = [r.key for r in wl.requests]
    assert keys != sorted(keys)  # the chats' turns interleave
    idx = {r.rid: i for i, r in enumerate(wl.requests)}
    tokens = w.tokenize(wl, SIM)
    for i, r in enumerate(wl.requests):
        if r.after is None:
            assert r.rid.endswith("t00") and r.messages[0]["content"] == w.SHARED_SYSTEM
            continue
        prev = wl.requests[idx[r.after]]
        assert idx[r.after] < i and prev.key == r.key
        assert r.messages[:-2] == prev.messages
        assert r.messages[-2] == {"role": "assistant", "content": prev.expect}
        assert r.messages[-1]["role"] == "user"
        j = idx[r.after]
        seen = tokens.prompt[j] + tokens.answer[j]  # what the worker caches after the previous turn
        assert tokens.prompt[i][:len(seen)] == seen  # ... is a prefix of this turn's prompt
    assert [r.expect for r in wl.requests] == [r.expect for r in _mt().requests]


def test_predicted_answers_are_what_the_simulated_worker_says() -> None:
    wl = _mt()
    app = worker.create_app(worker.WorkerConfig(model="m", seed=SIM.seed, ttft_ms=0, decode_tokens_per_s=1e6,
                                                min_output_tokens=SIM.min_output_tokens,
                                                max_output_tokens=SIM.max_output_tokens))
    with TestClient(app) as client:
        for r in wl.requests[:4]:
            body = {**r.body("m"), "stream": False}
            body.pop("stream_options")
            got = client.post("/v1/chat/completions", json=body).json()
            assert got["choices"][0]["message"]["content"] == r.expect


def test_upper_bound_is_the_longest_earlier_prefix() -> None:
    for wl in (_gsp(), _mt()):
        tokens = w.tokenize(wl, SIM)
        ub = w.upper_bound(wl, tokens, SIM)
        for i, p in enumerate(tokens.prompt):
            best = max((_common(p[:-1], tokens.prompt[j] + tokens.answer[j]) for j in range(i)), default=0)
            assert ub.cached[i] == best
        assert ub.hit_rate == pytest.approx(sum(ub.cached) / sum(map(len, tokens.prompt)))
        assert ub.ttft_ms[0] == pytest.approx(SIM.ttft_ms + len(tokens.prompt[0]) / SIM.prefill_tps * 1000)


def test_oracle_keeps_each_key_on_one_replica_with_capacity() -> None:
    wl = _gsp()
    tokens = w.tokenize(wl, SIM)
    where = w.assign(wl, tokens, 2)
    assert set(where) == set(wl.keys) and sorted(list(where.values()).count(i) for i in (0, 1)) == [1, 2]
    big = w.oracle(wl, tokens, replicas=2, capacity=10**9, sim=SIM)
    assert sorted(big.per_replica_requests) == [4, 8] and big.load_max_over_mean == pytest.approx(8 / 6)
    ub = w.upper_bound(wl, tokens, SIM)
    assert big.hit_rate <= ub.hit_rate + 1e-12
    tok = Tokenizer()
    seen = set()
    for i, r in enumerate(wl.requests):  # after a group's first request, its system prompt always hits
        if r.key in seen:
            assert big.cached[i] >= len(tok.chat_prompt_ids(r.messages[:1], add_generation_prompt=False))
        seen.add(r.key)
    # a cache of less than one prompt keeps only the newest sequence (as the worker's does)
    tiny = w.oracle(wl, tokens, replicas=2, capacity=20, sim=SIM)
    assert tiny.hit_rate < big.hit_rate
    mt = _mt()
    mt_tokens = w.tokenize(mt, SIM)
    res = w.oracle(mt, mt_tokens, replicas=3, capacity=10**9, sim=SIM)
    idx = {r.rid: i for i, r in enumerate(mt.requests)}
    for i, r in enumerate(mt.requests):  # one chat per replica: every later turn hits all it sent before
        if r.after:
            j = idx[r.after]
            assert res.cached[i] == len(mt_tokens.prompt[j]) + len(mt_tokens.answer[j])
    assert res.per_replica_requests == [3, 3, 3]
    fp = w.footprint(tokens, wl)
    assert fp["largest_key_tokens"] < fp["total_tokens"]


def test_helpers_dispatch_and_report() -> None:
    assert w.percentile([1, 2, 3, 4], 50) == 2.5 and w.percentile([5], 90) == 5
    assert w.load_max_over_mean([3, 3, 6]) == pytest.approx(1.5) and w.load_max_over_mean([0, 0]) == 0.0
    rr = ca.Dispatch(["a", "b", "c"], "rr")
    assert [rr.acquire() for _ in range(4)] == ["a", "b", "c", "a"]
    least = ca.Dispatch(["a", "b"], "least", direct=True)
    x = least.acquire()
    y = least.acquire()
    assert {x, y} == {"a", "b"}
    least.release(y)
    assert least.acquire() == y
    row = {"hit_rate": 0.5, "ttft_p50_ms": 10.0, "ttft_p90_ms": 20.0, "load_max_over_mean": 1.1}
    table = {w.GSP: {"tierroute_1": row, "sgl_router_1": {**row, "hit_rate": 0.4},
                     "tierroute_3": {**row, "hit_rate": 0.49}, "sgl_router_3": {**row, "hit_rate": 0.45},
                     "oracle": row}}
    latency = {"added_p99_us": 400.0, "added_p50_us": 100.0, "decisions": 10, "warmup": 1,
               "blocks_per_prompt_mean": 4.0, "candidates": 4, "ping": {"p50_us": 50.0, "p99_us": 90.0},
               "memory": {"choose_p50_us": 20.0, "choose_p99_us": 40.0, "choose_max_us": 50.0},
               "redis": {"choose_p50_us": 120.0, "choose_p99_us": 440.0, "choose_max_us": 500.0}}
    ts = {t["target"]: t["pass"] for t in ca.targets(table, latency)}
    assert list(ts.values()) == [True, True, False, True]  # 0.49 is not 10 points above 0.45
    assert ca.oracle_row(w.upper_bound(_gsp(), w.tokenize(_gsp(), SIM), SIM))["load_max_over_mean"] == 1.0


def test_six_proxies_are_a_policy_with_its_own_targets() -> None:
    assert [ca.processes(p) for p in ("round_robin", "least_loaded", "tierroute_1", "tierroute_6", "sgl_router_3")] \
        == [0, 0, 1, 6, 3]
    assert "tierroute_6" in ca.POLICIES and "tierroute_6" not in ca.DEFAULT_POLICIES  # only when asked for
    row = {"hit_rate": 0.8, "ttft_p50_ms": 10.0, "ttft_p90_ms": 20.0, "load_max_over_mean": 1.1}
    table = {w.GSP: {"tierroute_1": row, "tierroute_3": {**row, "hit_rate": 0.79},
                     "tierroute_6": {**row, "hit_rate": 0.75}}}
    latency = {"added_p99_us": 400.0, "ping": {"p99_us": 90.0}, "memory": {"choose_p99_us": 40.0},
               "redis": {"choose_p99_us": 440.0}}
    ts = {t["target"]: t["pass"] for t in ca.targets(table, latency)}
    assert ts["tierroute_3 within 2 points of tierroute_1"] is True
    assert ts["tierroute_6 within 2 points of tierroute_1"] is False  # 5 points below
