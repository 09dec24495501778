"""The clients suite: real client packages, in their own environment, against a proxy on loopback.

`make test` builds ``.venv-clients`` (``tests/clients/requirements.lock``) and, when ``node``
exists, ``tests/clients/node/node_modules``; each test runs one client's script there as a
subprocess against a proxy in front of the simulated stack (two SGLang tiers and the fake
provider through litellm), once per model: ``auto`` and every tier by name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from classifiers.fake import FunctionClassifier
from fleet.sim import worker
from router.app import create_app
from router.settings import Settings
from tests.integration.conftest import (  # noqa: F401 - fixtures, used by name
    ADMIN_KEY,
    CLIENT_KEY,
    FAST,
    PROVIDER_KEY,
    Cluster,
    cluster,
    default_policy,
    keyword_score,
)
from tests.support import ServerThread, write_policy

ROOT = Path(__file__).resolve().parents[2]
CLIENTS_PYTHON = ROOT / ".venv-clients" / "bin" / "python"
NODE_DIR = Path(__file__).parent / "node"
MODELS = ("auto", "small", "large", "frontier")


@pytest.fixture(scope="session")
def clients_python() -> Path:
    if not CLIENTS_PYTHON.exists():
        pytest.skip(".venv-clients is missing: `make test` builds it (make clients-env)")
    return CLIENTS_PYTHON


@pytest.fixture(scope="session")
def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        pytest.skip("node is not installed")
    if not (NODE_DIR / "node_modules").exists():
        pytest.skip("tests/clients/node/node_modules is missing: `make test` installs it (make clients-env)")
    return exe


def clients_policy(cluster: Cluster, embed: list[str]) -> dict[str, Any]:  # noqa: F811
    pol = default_policy(cluster)
    pol["embeddings"] = {
        "text-embedding-3-small": {"kind": "sglang", "model": "sim-embed", "replicas": embed,
                                   "input_per_mtok": 0.02}}
    return pol


@pytest.fixture(scope="module")
def stack(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # noqa: F811
    """A proxy (its base URL, no ``/v1``) in front of the simulated stack, embeddings included."""
    with ExitStack() as es:
        embed = [es.enter_context(ServerThread(worker.create_app(worker.WorkerConfig(model="sim-embed", **FAST)))).url]
        path = write_policy(tmp_path_factory.mktemp("clients") / "policy.yaml", clients_policy(cluster, embed))
        env = {"TIERROUTE_API_KEYS": CLIENT_KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY, "PROVIDER_KEY": PROVIDER_KEY}
        app = create_app(Settings(policy_path=str(path)), classifier=FunctionClassifier(keyword_score), env=env)
        yield es.enter_context(ServerThread(app)).url


def run_client(command: list[str], base: str, models: tuple[str, ...] = MODELS,
               timeout: float = 300) -> dict[tuple[str, str], dict[str, Any]]:
    """Run one client script; its results by (model, check)."""
    env = {**os.environ, "OPENAI_BASE_URL": base + "/v1", "OPENAI_API_KEY": CLIENT_KEY,
           "ANTHROPIC_BASE_URL": base, "ANTHROPIC_API_KEY": CLIENT_KEY, "PYTHONPATH": str(Path(__file__).parent / "py"),
           "OPENAI_AGENTS_DISABLE_TRACING": "1", "LANGSMITH_TRACING": "false"}
    done = subprocess.run([*command, base, CLIENT_KEY, ",".join(models)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=Path(__file__).parent)
    results = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            results[(r["model"], r["check"])] = r
    assert results, (f"the client printed no results (exit {done.returncode}):\n"
                     f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return results


def assert_all_pass(results: dict[tuple[str, str], dict[str, Any]], checks: list[str],
                    models: tuple[str, ...] = MODELS) -> None:
    missing = [(m, c) for m in models for c in checks if (m, c) not in results]
    failed = {f"{m}/{c}": r["detail"] for (m, c), r in results.items() if not r["ok"]}
    assert not missing and not failed, f"missing: {missing}\nfailed:\n" + json.dumps(failed, indent=1)


def python_client(clients_python: Path, script: str) -> list[str]:
    return [str(clients_python), str(Path(__file__).parent / "py" / script)]

