"""`tierroute serve --learn`: the learning sidecar as a child of the proxy, stopped with it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import yaml

from fleet.sim import worker
from router.procs import ProcessGroup, free_port, tierroute_cmd
from tests.support import ServerThread, policy_dict


def learners(models: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-f", f"router learn --models-dir {models}"], capture_output=True, text=True)
    return out.stdout.split()


def test_serve_learn_starts_and_stops_the_sidecar(tmp_path: Path) -> None:
    sim = worker.create_app(worker.WorkerConfig(model="sim-small", ttft_ms=1, decode_tokens_per_s=20000))
    models = tmp_path / "models"
    with ServerThread(sim) as w:
        pol = policy_dict(small=[w.url])
        pol["learning"] = {"labels": {"path": str(tmp_path / "labels.jsonl")}}
        policy = tmp_path / "policy.yaml"
        policy.write_text(yaml.safe_dump(pol, sort_keys=False))
        port = free_port()
        procs = ProcessGroup(tmp_path / "logs")
        procs.start("proxy", tierroute_cmd("serve", "--policy", str(policy), "--port", str(port), "--learn",
                                           "--models-dir", str(models)),
                    env={"TIERROUTE_API_KEYS": "sk-x", "TIERROUTE_ADMIN_KEY": "sk-admin"})
        try:
            procs.wait_http("proxy", f"http://127.0.0.1:{port}/ready", timeout=180)
            procs.wait_until(lambda: (models / "CURRENT").exists(), 120, "the sidecar to register the shipped model",
                             "proxy")
            assert len(learners(models)) == 1
        finally:
            procs.stop(grace=15)
        deadline = time.monotonic() + 15
        while learners(models) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert learners(models) == []  # stopped with the proxy


def test_serve_learn_needs_a_registry_and_a_learning_policy(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(policy_dict(small=["http://127.0.0.1:9"]), sort_keys=False))
    out = subprocess.run(tierroute_cmd("serve", "--policy", str(policy), "--learn", "--models-dir",
                                       str(tmp_path / "m")), capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "learning:" in out.stderr
