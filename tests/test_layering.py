"""The houses stay apart (issue 13, point 6): the proxy loads neither the test fleet nor training code.

- ``router`` never imports ``fleet`` (the CLI names the fleet's commands as strings, imported only
  when one runs), and imports ``classifiers.training`` only inside functions (the learner, the
  training commands), never when a module loads; serving ``classifiers`` never imports training.
- ``tierroute serve`` (``router.cli.main``, as the console script calls it), answering ``auto``
  requests from a simulated worker, has in ``sys.modules`` none of the fleet, the training code,
  the other commands' modules, litellm (no litellm backend in its policy) or the training extra's
  libraries; ``serve --help`` loads only the CLI.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from router.procs import ProcessGroup, free_port, tierroute_cmd
from tests.support import policy_dict

ROOT = Path(__file__).resolve().parents[1]
NEVER_SERVING = ("fleet", "classifiers.training", "torch", "sklearn", "scipy", "sentence_transformers",
                 "transformers", "model2vec", "matplotlib")


def imports(path: Path, package: str) -> list[tuple[str, bool]]:
    """Every module ``path`` imports, resolved to an absolute name, and whether at module level
    (outside any function: what runs when the module is imported)."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, top) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                found.extend((f"{base}.{a.name}" if not child.module else base, top) for a in child.names)
            visit(child, inner)

    visit(ast.parse(path.read_text()), True)
    return found


def package_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).parts[:-1])


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_router_never_imports_the_fleet_and_training_only_lazily() -> None:
    wrong = []
    for path in sorted((ROOT / "router").rglob("*.py")):
        for name, top in imports(path, package_of(path)):
            if under(name, "fleet") or (top and under(name, "classifiers.training")):
                wrong.append(f"{path.relative_to(ROOT)}: {name}{' (module level)' if top else ''}")
    assert not wrong, wrong


def test_serving_classifiers_never_import_training_or_the_fleet() -> None:
    wrong = [f"{path.relative_to(ROOT)}: {name}"
             for path in sorted((ROOT / "classifiers").glob("*.py"))
             for name, _ in imports(path, package_of(path))
             if under(name, "classifiers.training") or under(name, "fleet")]
    assert not wrong, wrong


def test_the_import_scan_sees_relative_lazy_and_module_level_imports() -> None:
    src = ROOT / "router" / "learning" / "learn_cli.py"  # imports the learner inside its functions
    found = imports(src, "router.learning")
    assert ("router.learning.labels", True) in found
    assert ("classifiers.training.learn", False) in found


# `tierroute serve` itself, in this process's main thread (uvicorn wants it); a thread waits for /ready,
# sends auto requests, writes sys.modules and the statuses, then stops the server with SIGTERM.
SERVE = """
import json, os, signal, sys, threading, time
import httpx
from router.cli import main

port, policy, out = sys.argv[1:4]
base = f"http://127.0.0.1:{port}"

def drive():
    statuses = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        for i in range(8):
            r = httpx.post(base + "/v1/chat/completions", timeout=30, json={
                "model": "auto", "max_tokens": 4, "messages": [{"role": "user", "content": f"prove lemma {i}"}]})
            statuses.append([r.status_code, r.headers.get("x-tierroute-score")])
        with open(out, "w") as f:
            json.dump({"statuses": statuses, "modules": sorted(sys.modules)}, f)
    finally:
        os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=drive, daemon=True).start()
main(["serve", "--policy", policy, "--port", port, "--workers", "1", "--log-level", "warning"])
"""


def other_commands_modules() -> set[str]:
    """The modules of every command but serve, as the CLI's table names them."""
    from router.cli import COMMANDS

    serve = {COMMANDS["serve"].run.partition(":")[0]}
    named = {t.partition(":")[0] for c in COMMANDS.values() for t in (c.run, c.arguments) if t}
    return named - serve


@pytest.mark.parametrize("learning", [False, True], ids=["plain", "learning"])
def test_serve_loads_no_fleet_training_other_command_or_heavy_library(tmp_path: Path, learning: bool) -> None:
    """With a ``learning:`` section the proxy featurizes labelled prompts (classifiers.featurize)
    and keeps a label store, still without any training module: the learner is its own process."""
    worker, proxy = free_port(), free_port()
    out = tmp_path / "serving.json"
    with ProcessGroup(tmp_path / "logs") as procs:  # the simulated worker runs in its own process
        procs.start("worker", tierroute_cmd("sim-worker", "--port", str(worker), "--model", "sim-small"))
        procs.wait_http("worker", f"http://127.0.0.1:{worker}/health")
        policy = tmp_path / "policy.yaml"
        doc = policy_dict(small=[f"http://127.0.0.1:{worker}"])
        if learning:
            doc["learning"] = {"labels": {"path": str(tmp_path / "labels.jsonl")}}
        policy.write_text(yaml.safe_dump(doc))
        done = subprocess.run([sys.executable, "-c", SERVE, str(proxy), str(policy), str(out)], capture_output=True,
                              text=True, timeout=180, cwd=ROOT)
    assert out.exists(), done.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert [s for s, _ in doc["statuses"]] == [200] * 8 and all(score for _, score in doc["statuses"]), doc["statuses"]
    names = doc["modules"]
    assert "classifiers.logreg" in names and "router.pipeline" in names  # it did classify and forward
    assert ("classifiers.featurize" in names) == learning
    others = other_commands_modules()
    assert "router.calibrate" in others and "fleet.cli" in others
    wrong = [n for n in names if n in others or any(under(n, p) for p in (*NEVER_SERVING, "litellm"))]
    assert not wrong, wrong


def loaded(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    names: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return names


def test_serve_help_loads_only_the_cli() -> None:
    code = ("import json, sys\nfrom router.cli import main\ntry:\n    main(['serve', '--help'])\n"
            "except SystemExit:\n    pass\nprint(json.dumps(sorted(sys.modules)))")
    names = loaded(code)
    own = [n for n in names if under(n, "router") or under(n, "classifiers") or under(n, "fleet")]
    assert set(own) <= {"router", "router.cli", "router.serve_cli", "router.errors", "router.logs"}, own
    assert not [n for n in names if any(under(n, p) for p in (*NEVER_SERVING, "litellm", "uvicorn", "starlette"))]
