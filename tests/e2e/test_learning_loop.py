"""The whole learning loop with real processes: `tierroute serve` and `tierroute learn` on one Redis.

Traffic through the proxy → shadow comparisons judged in the background → labels in Redis's
stream → the sidecar retrains and promotes → the proxy, which shares no model directory with the
sidecar, gets the model's files through Redis and swaps it live; feedback lands in the same store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import redis
import yaml

from classifiers.featurize import Featurizer
from classifiers.registry import Registry
from fleet.sim import judge, worker
from router.procs import ProcessGroup, free_port, tierroute_cmd
from tests.conftest import RedisServer
from tests.support import ServerThread, policy_dict

KEY, ADMIN, JUDGE_KEY = "sk-e2e", "sk-e2e-admin", "sk-e2e-judge"
PREFIX = "tierroute:e2e-learn:"
EASY = ["What is {i} plus {i}?", "Say hello to user {i}.", "Name a colour, number {i}.",
        "Translate 'cat {i}' to French."]
HARD = ["Prove that the sum of the first {i} odd numbers is a perfect square, step by step.",
        "Derive the time complexity of an algorithm that merges {i} sorted lists, and prove it optimal.",
        "Explain, step by step, a hard theorem about graph colouring with {i} colours and prove it."]


def test_labels_retrain_promote_and_swap_across_processes(tmp_path: Path, private_redis: RedisServer) -> None:
    fast = dict(ttft_ms=1.0, prefill_tokens_per_s=1e6, decode_tokens_per_s=20000.0)
    small = worker.create_app(worker.WorkerConfig(model="sim-small", **fast))
    large = worker.create_app(worker.WorkerConfig(model="sim-large", **fast))
    judge_app = judge.create_app(judge.JudgeConfig())  # "reference better" iff the prompt looks hard
    models = tmp_path / "models"
    with ServerThread(small) as s, ServerThread(large) as lg, ServerThread(judge_app) as j, \
            ProcessGroup(tmp_path / "logs") as procs:
        pol = policy_dict(small=[s.url], large=[lg.url])
        pol["routing"]["auto"] = [{"tier": "small", "share": 0.5}, {"tier": "large", "share": 0.5}]
        pol["routing"]["min_samples"] = 8  # cut points from this traffic's scores after 8 requests
        pol["learning"] = {"redis_prefix": PREFIX, "shadow": {
            "enabled": True, "rate": 1.0, "explore_rate": 1.0, "max_pending": 1000,
            "judge": {"model": "openai/sim-judge", "api_base": j.url + "/v1", "api_key_env": "E2E_JUDGE_KEY",
                      "price": {"input_per_mtok": 1, "output_per_mtok": 1}}}}
        policy = tmp_path / "policy.yaml"
        policy.write_text(yaml.safe_dump(pol, sort_keys=False))
        procs.start("learn", tierroute_cmd("learn", "--models-dir", str(models), "--redis-url", private_redis.url,
                                           "--redis-prefix", PREFIX, "--min-new-labels", "40", "--interval", "0.5",
                                           "--min-holdout", "12", "--margin", "-1"))
        procs.wait_until(lambda: (models / "CURRENT").exists(), 120,
                         "the learner to register the shipped model", "learn")
        first = (models / "CURRENT").read_text().strip()
        port = free_port()
        procs.start("proxy", tierroute_cmd("serve", "--policy", str(policy), "--port", str(port),
                                           "--redis-url", private_redis.url,
                                           "--models-dir", str(tmp_path / "proxy-models")),  # no shared disk
                    env={"TIERROUTE_API_KEYS": KEY, "TIERROUTE_ADMIN_KEY": ADMIN, "E2E_JUDGE_KEY": JUDGE_KEY,
                         "TIERROUTE_MODEL_POLL_S": "0.2"})
        base = f"http://127.0.0.1:{port}"
        procs.wait_http("proxy", base + "/ready", timeout=180)

        def stats() -> dict[str, Any]:
            return httpx.get(base + "/admin/stats", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10).json()

        assert stats()["model"]["version"] == first
        client = openai.OpenAI(base_url=base + "/v1", api_key=KEY, max_retries=0, timeout=30)
        ids = []
        for i in range(60):
            text = (HARD[i % len(HARD)] if i % 2 else EASY[i % len(EASY)]).format(i=i)
            raw = client.chat.completions.with_raw_response.create(
                model="auto", max_tokens=8, messages=[{"role": "user", "content": text}])
            ids.append(raw.headers["x-tierroute-request-id"])
        fb = httpx.post(base + "/v1/feedback", headers={"Authorization": f"Bearer {KEY}"}, timeout=10,
                        json={"request_id": ids[0], "thumbs": "up", "comment": "fine"})
        assert fb.status_code == 200, fb.text

        procs.wait_until(lambda: any(e["event"] == "promote" for e in Registry(models).history()), 180,
                 "a promotion by the sidecar", "learn")
        promoted = Registry(models).current()
        assert promoted and promoted != first
        procs.wait_until(lambda: stats()["model"]["version"] == promoted, 30,
                         "the proxy to swap the promoted model", "proxy")
        # The store's counts in /admin/stats are refreshed every 2 s.
        procs.wait_until(lambda: stats()["learning"]["labels"]["store"]["by_source"]["feedback"] == 1, 15,
                         "the feedback label in the store's counts", "proxy")
        doc = stats()
        assert doc["model"]["swaps"] >= 1
        learning = doc["learning"]
        assert learning["labels"]["store"]["by_source"]["shadow"] >= 40
        assert learning["quality"]["overall"]["n"] > 0
        r = redis.Redis.from_url(private_redis.url)
        stream = [json.loads(v[b"label"]) for _, v in r.xrange(PREFIX + "labels")]
        assert {lb["source"] for lb in stream} == {"shadow", "feedback"}
        assert all(lb["prompt"] is None and lb["features"] for lb in stream)  # store_prompts is off
        assert {lb["extra"]["feature_spec"] for lb in stream} == {Featurizer.load().spec}  # the learner checks it
        entry = next(e for e in Registry(models).history() if e["event"] == "promote")
        assert entry["labels"] >= 40 and entry["holdout_labels"] >= 12
        log = procs.tail("proxy", 400) + procs.tail("learn", 400)
        assert KEY not in log and JUDGE_KEY not in log and "Prove that" not in log
