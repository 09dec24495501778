"""Serving needs no training stack (issue 13, point 5): not in the base install, never imported."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAINING = ("torch", "sentence-transformers", "scikit-learn")

SERVE = """
import sys, tempfile, httpx
from pathlib import Path
from router.app import create_app
from router.settings import Settings
from fleet.sim import fake_provider, worker
from tests.support import ServerThread, policy_dict, write_policy
with ServerThread(worker.create_app(worker.WorkerConfig(model="s"))) as w, \\
     ServerThread(fake_provider.create_app(fake_provider.FakeProviderConfig(api_key="k"))) as prov:
    pol = policy_dict(small=[w.url], frontier={"model": "openai/gpt-4o", "api_base": prov.url + "/v1",
                                               "api_key_env": "K"})
    app = create_app(Settings(policy_path=str(write_policy(Path(tempfile.mkdtemp()) / "p.yaml", pol))),
                     env={"K": "k"})
    with ServerThread(app) as s:
        for model in ("auto", "small", "frontier"):
            r = httpx.post(s.url + "/v1/chat/completions", timeout=30,
                           json={"model": model, "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code == 200, r.text
print(sorted({m.split(".")[0] for m in sys.modules} & {"torch", "sklearn", "sentence_transformers", "scipy"}))
"""


def test_training_packages_are_an_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"])
    assert not [p for p in TRAINING if p in base]
    train = " ".join(project["optional-dependencies"]["train"])
    assert all(p in train for p in TRAINING)


def test_serving_imports_no_training_package() -> None:
    done = subprocess.run([sys.executable, "-c", SERVE], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
