"""Shadow comparisons against real servers: sim workers answer, the sim judge judges, labels land in the store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from fleet.sim import judge, worker
from router.learning.judging import judge_messages, parse_verdict, prompt_digest
from router.learning.labels import FileLabelStore, Label
from router.stats.learning import wilson
from tests.integration.conftest import Cluster
from tests.learning.support import (
    ask,
    client,
    judge_policy,
    judge_stats,
    learning_proxy,
    learning_section,
    learning_stats,
    wait_for,
)
from tests.support import ServerThread


def _shadow(url: str, **kw: Any) -> dict[str, Any]:
    return {"enabled": True, "rate": 1.0, "judge": judge_policy(url), **kw}


def _labels(tmp_path: Path) -> list[Label]:
    return FileLabelStore(tmp_path / "labels.jsonl", 1000).read_sync()


def _shadow_labels(tmp_path: Path, n: int, timeout: float = 15.0) -> list[Label]:
    return wait_for(lambda: (got := [x for x in _labels(tmp_path) if x.source == "shadow"]) and len(got) >= n
                    and got, timeout, f"{n} shadow labels")


def test_cheap_answer_judged_in_the_background_not_on_the_clients_path(cluster: Cluster, tmp_path: Path,
                                                                       sim_judge: str) -> None:
    httpx.post(sim_judge + "/judge/mode", json={"latency_ms": 1500}, timeout=5).raise_for_status()
    with learning_proxy(cluster, tmp_path, learning_section(tmp_path, shadow=_shadow(sim_judge))) as proxy:
        t0 = time.monotonic()
        rid, tier, answer = ask(proxy, "What is the capital of Italy?")
        latency = time.monotonic() - t0
        assert tier == "small"
        assert latency < 0.5, f"the client waited {latency:.2f} s: the shadow job is on its path"
        [label] = _shadow_labels(tmp_path, 1)
        assert time.monotonic() - t0 >= 1.5  # the judge was slow, the client was not
        assert (label.request_id, label.tier, label.reference_tier) == (rid, "small", "large")
        assert label.target == 0.0 and label.extra["verdicts"] == ["B", "A"]  # heuristic: the cheap one is fine
        assert label.features and label.prompt is None and label.score == pytest.approx(0.1)
        js = judge_stats(sim_judge)
        digest = prompt_digest("What is the capital of Italy?")
        assert (js["round_1"], js["round_2"]) == (1, 1) and sorted(js["digests"]) == [f"{digest}.1", f"{digest}.2"]
        assert answer in js["last_prompt"]  # the cheap answer the client got is what was judged
        assert cluster.sim_stats(cluster.large[0])["requests"] == 1  # the reference answer, asked in the background
        stats = proxy.admin("/admin/stats")
        assert "large" not in stats["tiers"] and stats["totals"]["requests"] == 1  # not billed as served
        spend = stats["learning"]["shadow"]["spend_usd"]
        assert spend["shadow"] > 0 and spend["judge"] > 0
        assert stats["savings"]["cost_usd"] == pytest.approx(stats["tiers"]["small"]["cost_usd"])


@pytest.fixture
def slow_small() -> Iterator[str]:
    cfg = worker.WorkerConfig(model="sim-small", ttft_ms=1.0, prefill_tokens_per_s=1e6, decode_tokens_per_s=40.0)
    with ServerThread(worker.create_app(cfg)) as server:
        yield server.url


def test_stream_is_shadowed_after_it_ends_and_not_when_abandoned(cluster: Cluster, tmp_path: Path, sim_judge: str,
                                                                slow_small: str) -> None:
    section = learning_section(tmp_path, shadow=_shadow(sim_judge))
    with learning_proxy(cluster, tmp_path, section, small=[slow_small]) as proxy:
        oai = client(proxy)
        stream = oai.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Tell me a story"}],
                                             max_tokens=40, stream=True)
        chunks = iter(stream)
        pieces = [next(chunks).choices[0].delta.content or ""]
        time.sleep(0.3)  # mid-stream: nothing compared yet
        assert judge_stats(sim_judge).get("requests", 0) == 0
        assert cluster.sim_stats(cluster.large[0])["requests"] == 0
        pieces += [c.choices[0].delta.content or "" for c in chunks if c.choices]
        streamed = "".join(pieces)
        assert len(streamed.split()) > 10
        [label] = _shadow_labels(tmp_path, 1)
        assert label.tier == "small" and streamed in judge_stats(sim_judge)["last_prompt"]

        left = oai.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Another story"}],
                                           max_tokens=40, stream=True)
        next(iter(left))
        left.close()  # the client leaves mid-stream
        time.sleep(1.5)
        assert len(_labels(tmp_path)) == 1
        assert learning_stats(proxy)["shadow"]["jobs"]["sampled"] == 1
        assert judge_stats(sim_judge)["requests"] == 2  # the first stream's two rounds only


def test_rate_exclusions_and_daily_cap(cluster: Cluster, tmp_path: Path, sim_judge: str) -> None:
    shadow = _shadow(sim_judge, rate=0.0)
    with learning_proxy(cluster, tmp_path, learning_section(tmp_path, shadow=shadow)) as proxy:
        for i in range(5):
            ask(proxy, f"question {i}")
        time.sleep(0.3)
        assert learning_stats(proxy)["shadow"]["jobs"]["sampled"] == 0
    shadow = _shadow(sim_judge, exclude_keys=["env-key-0"])  # the test client's key
    with learning_proxy(cluster, tmp_path, learning_section(tmp_path, shadow=shadow)) as proxy:
        ask(proxy, "question")
        time.sleep(0.3)
        assert learning_stats(proxy)["shadow"]["jobs"]["sampled"] == 0
    shadow = _shadow(sim_judge, exclude_tiers=["small"])
    with learning_proxy(cluster, tmp_path, learning_section(tmp_path, shadow=shadow)) as proxy:
        ask(proxy, "question")
        time.sleep(0.3)
        assert learning_stats(proxy)["shadow"]["jobs"]["sampled"] == 0
    shadow = _shadow(sim_judge, rate=0.5)
    with learning_proxy(cluster, tmp_path, learning_section(tmp_path, shadow=shadow)) as proxy:
        for i in range(60):
            ask(proxy, f"question number {i}")
        sampled = learning_stats(proxy)["shadow"]["jobs"]["sampled"]
        assert 15 <= sampled <= 45, sampled
    assert judge_stats(sim_judge).get("requests", 0) <= 2 * 45

    httpx.post(sim_judge + "/judge/reset", timeout=5)
    shadow = _shadow(sim_judge, daily_usd_cap=0.0)
    with learning_proxy(cluster, tmp_path / "capped", learning_section(tmp_path / "capped", shadow=shadow)) as proxy:
        for i in range(3):
            ask(proxy, f"capped {i}")
        jobs = wait_for(lambda: (j := learning_stats(proxy)["shadow"]["jobs"])["capped"] == 3 and j, what="capped")
        assert jobs["sampled"] == 3
        assert judge_stats(sim_judge).get("requests", 0) == 0


def test_spend_stops_at_the_cap(cluster: Cluster, tmp_path: Path, sim_judge: str) -> None:
    shadow = _shadow(sim_judge, daily_usd_cap=1e-9)  # the first job's spend passes it
    with learning_proxy(cluster, tmp_path, learning_section(tmp_path, shadow=shadow)) as proxy:
        ask(proxy, "first")
        _shadow_labels(tmp_path, 1)
        for i in range(3):
            ask(proxy, f"later {i}")
        wait_for(lambda: learning_stats(proxy)["shadow"]["jobs"]["capped"] == 3, what="capped jobs")
        assert len(_labels(tmp_path)) == 1
        assert judge_stats(sim_judge)["requests"] == 2


def test_garbage_verdicts_are_counted_not_stored(cluster: Cluster, tmp_path: Path, sim_judge: str) -> None:
    httpx.post(sim_judge + "/judge/mode", json={"garbage": True}, timeout=5).raise_for_status()
    with learning_proxy(cluster, tmp_path, learning_section(tmp_path, shadow=_shadow(sim_judge))) as proxy:
        ask(proxy, "one")
        ask(proxy, "two")
        failures = wait_for(lambda: (f := learning_stats(proxy)["shadow"]["judge_failures"])["no_verdict"] == 2 and f,
                            what="no verdicts")
        assert failures["errors"] == 0
        assert _labels(tmp_path) == []
        assert judge_stats(sim_judge)["garbage"] == 4


def test_max_pending_drops_and_counts(cluster: Cluster, tmp_path: Path, sim_judge: str) -> None:
    httpx.post(sim_judge + "/judge/mode", json={"latency_ms": 1000}, timeout=5).raise_for_status()
    shadow = _shadow(sim_judge, max_pending=1)
    with learning_proxy(cluster, tmp_path, learning_section(tmp_path, shadow=shadow)) as proxy:
        for i in range(4):
            ask(proxy, f"question {i}")
        jobs = learning_stats(proxy)["shadow"]["jobs"]
        assert (jobs["sampled"], jobs["dropped_full"]) == (1, 3)
        _shadow_labels(tmp_path, 1)


@pytest.fixture
def outcome_judge(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    pairs = tmp_path / "outcomes.jsonl"
    rows = [{"id": str(i), "prompt": f"recorded prompt {i}", "weak_score": 0 if i % 3 == 0 else 1,
             "strong_score": 1} for i in range(6)]  # 0 and 3: the strong model did better
    pairs.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    with ServerThread(judge.create_app(judge.JudgeConfig(outcomes=judge.load_outcomes(pairs)))) as server:
        yield server.url, pairs


def test_recorded_outcomes_set_targets_and_quality_retained(cluster: Cluster, tmp_path: Path,
                                                            outcome_judge: tuple[str, Path]) -> None:
    url, _ = outcome_judge
    with learning_proxy(cluster, tmp_path, learning_section(tmp_path, shadow=_shadow(url))) as proxy:
        rids = {ask(proxy, f"recorded prompt {i}")[0]: i for i in range(6)}
        labels = _shadow_labels(tmp_path, 6)
        got = {rids[x.request_id]: (x.target, tuple(x.extra["verdicts"])) for x in labels}
        assert got == {i: ((1.0, ("A", "B")) if i % 3 == 0 else (0.0, ("B", "A"))) for i in range(6)}
        assert judge_stats(url)["matched"] == 12
        learning = learning_stats(proxy)
        q = learning["quality"]
        lo, hi = wilson(4, 6)  # type: ignore[misc]
        assert q["by_tier"]["small"] == {"parity": pytest.approx(4 / 6), "ci95": [round(lo, 4), round(hi, 4)],
                                         "n": 6, "as_good": 4}
        assert q["overall"]["n"] == 6 and q["overall"]["parity"] == pytest.approx(4 / 6)
        assert learning["summary"].startswith("saved ") and learning["summary"].endswith("judged parity, n = 6")
        assert learning["labels"]["stored_here"]["shadow"] == 6 and learning["shadow"]["jobs"]["judged"] == 6


def test_noise_flips_verdicts_deterministically(tmp_path: Path) -> None:
    pairs = tmp_path / "o.jsonl"
    pairs.write_bytes(orjson.dumps({"id": "1", "prompt": "p", "weak_score": 0, "strong_score": 1}) + b"\n")
    flipped = judge._Judge(judge.JudgeConfig(outcomes=judge.load_outcomes(pairs), noise=1.0))
    straight = judge._Judge(judge.JudgeConfig(outcomes=judge.load_outcomes(pairs), noise=0.0))
    text = judge_messages("p", "ref answer", "cheap answer", 1)[1]["content"]
    assert parse_verdict(straight.verdict(text)) == "A" and parse_verdict(flipped.verdict(text)) == "B"
    half = [judge._Judge(judge.JudgeConfig(outcomes={}, noise=0.5, seed=s)).verdict(text) for s in range(40)]
    assert 5 < sum(parse_verdict(v) == "B" for v in half) < 35  # seeded coin per (seed, prompt, round)
    assert half == [judge._Judge(judge.JudgeConfig(outcomes={}, noise=0.5, seed=s)).verdict(text) for s in range(40)]


def test_exploration_compares_strong_answers_with_the_cheapest_tier(cluster: Cluster, tmp_path: Path,
                                                                    sim_judge: str) -> None:
    shadow = _shadow(sim_judge, rate=0.0, explore_rate=1.0)
    with learning_proxy(cluster, tmp_path, learning_section(tmp_path, shadow=shadow)) as proxy:
        rid, tier, _ = ask(proxy, "A hard proof about primes")
        assert tier == "large"
        [label] = _shadow_labels(tmp_path, 1)
        assert (label.request_id, label.tier, label.reference_tier, label.extra["explore"]) == (rid, "small", "large",
                                                                                                True)
        assert label.target == 1.0  # heuristic judge: a hard prompt needs the reference
        assert sum(cluster.sim_stats(u)["requests"] for u in cluster.small) == 1
        learning = learning_stats(proxy)
        assert learning["quality"]["overall"]["n"] == 0 and learning["quality"]["exploration"]["n"] == 1
        assert learning["shadow"]["jobs"]["explored"] == 1


def test_wilson_interval() -> None:
    lo, hi = wilson(8, 10)  # type: ignore[misc]
    assert (round(lo, 3), round(hi, 3)) == (0.49, 0.943)
    assert wilson(0, 0) is None
    lo, hi = wilson(0, 5)  # type: ignore[misc]
    assert lo == 0.0 and 0.4 < hi < 0.5
