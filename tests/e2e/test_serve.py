"""`tierroute serve` as users run it: a subprocess, the shipped classifier, several workers."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import openai
import yaml

from fleet.sim import worker
from router.procs import ProcessGroup, free_port, tierroute_cmd
from tests.support import ServerThread, policy_dict

KEY, ADMIN = "sk-e2e", "sk-e2e-admin"


def test_serve_with_two_workers_and_the_real_classifier(tmp_path: Path) -> None:
    sim = worker.create_app(worker.WorkerConfig(model="sim-small", ttft_ms=1, decode_tokens_per_s=20000))
    with ServerThread(sim) as w, ProcessGroup(tmp_path / "logs") as procs:
        policy = tmp_path / "policy.yaml"
        policy.write_text(yaml.safe_dump(policy_dict(small=[w.url])))
        port = free_port()
        procs.start("proxy", tierroute_cmd("serve", "--policy", str(policy), "--host", "0.0.0.0", "--port", str(port),
                                           "--workers", "2"),
                    env={"TIERROUTE_API_KEYS": KEY, "TIERROUTE_ADMIN_KEY": ADMIN})
        base = f"http://127.0.0.1:{port}"
        procs.wait_http("proxy", base + "/ready", timeout=180)
        client = openai.OpenAI(base_url=base + "/v1", api_key=KEY, max_retries=0, timeout=30)
        scores = set()
        for i in range(16):
            raw = client.chat.completions.with_raw_response.create(
                model="auto", max_tokens=4, messages=[{"role": "user", "content": f"Question {i}: what is {i}+{i}?"}])
            assert raw.parse().model == "sim-small"  # one sim worker serves both tiers' URLs
            scores.add(raw.headers["x-tierroute-score"])
        assert len(scores) > 1  # the real model scores different prompts differently
        time.sleep(1.5)  # each worker publishes its stats snapshot every second
        stats = httpx.get(base + "/admin/stats", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10).json()
        assert stats["workers"] == 2
        assert stats["totals"]["requests"] == 16 and stats["classifier"]["decisions"] == 16
        policy_doc = httpx.get(base + "/admin/policy", headers={"Authorization": f"Bearer {ADMIN}"}).json()
        assert policy_doc["classifier"]["kind"] == "embedding-logreg"
        log = procs.tail("proxy", 400)
        assert KEY not in log and ADMIN not in log and "what is" not in log  # no keys, no prompts in logs
        assert '"request_id"' in log
