"""``tierroute serve --workers 1`` start-up: time to ready, memory, import time, what it imports.

Issue 13 point 6 asks whether the house move (the test fleet out of ``router/``, training out of
``classifiers/``, a lazy CLI) makes the serving process lighter. This measures a source tree as
users start it, ``python -m router.cli serve --workers 1`` with ``cwd`` and ``PYTHONPATH`` set to
the tree (so the tree's code runs, not the editable install's), against upstreams on loopback:

- ``sglang`` policy: one tier, one simulated SGLang worker (``tierroute sim-worker``).
- ``mixed`` policy: that tier and a ``kind: litellm`` tier on the fake provider
  (``tierroute fake-provider``): the proxy imports litellm at start-up for it.

Per repetition and policy, in a fresh process: **ready** = spawn until ``/ready`` answers 200
(polled every 10 ms: the classifier is loaded and a tier is healthy); **RSS** = VmRSS of the
process (``--workers 1`` serves in-process) at ready and after ``--requests`` ``model: auto``
chat requests with unique prompts (4 concurrent); **native libraries** = the ``.so`` files
mapped (``/proc/PID/maps``) that belong to torch, scikit-learn, scipy, transformers, ...

Once per policy, the same start under ``python -X importtime``: the modules the serving process
imported until it had answered the requests (their count, the project's own, the non-serving
ones, the heavy libraries) and the sum of their self times (import time, inflated by the
tracing itself; started again when imports in two threads at once corrupted the times). And,
repeated: ``python -X importtime -m router.cli serve --help`` (what the command line loads before
``serve`` does anything: its import time and modules) and the wall time of
``python -m router.cli serve --help`` without tracing.

Several trees can be measured in one run, repetitions interleaved (``--tree before=/tmp/old
--tree after=.``), so that the machine's load hits them alike. Results merge by label into
``docs/benchmarks/serve_startup.json`` and the whole file is rendered to ``serve_startup.md``.

    .venv/bin/python bench/serve_startup.py --tree before=. [--reps 7] [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from router.procs import ProcessGroup, free_port  # noqa: E402

POLICIES = ("sglang", "mixed")
PROVIDER_KEY = "sk-bench-provider"
# Third-party packages serving should never load (the training extra, plotting).
HEAVY = ("torch", "sklearn", "scipy", "sentence_transformers", "transformers", "model2vec", "matplotlib")
HEAVY_SO = re.compile(r"/(torch|sklearn|scipy|transformers|sentence_transformers|matplotlib|model2vec)[/.]")
# The project's modules that are not the proxy, by their names before and after the issue 13 point 6 move:
# the test and demo fleet, everything that fits, evaluates or reads training data, and other commands' code.
NOT_SERVING = ("fleet", "router.sim", "router.demo", "router.demo_traffic", "router.up",
               "router.calibrate", "router.ops_cli", "router.learning.cli", "router.learning.learn_cli",
               "classifiers.training", *(f"classifiers.{m}" for m in (
                   "adapt", "baselines", "cli", "corpus", "crossval", "data", "default_cli", "distill", "eval_cli",
                   "eval_data", "evaluate", "learn", "progress", "recipe", "recipe_cache", "recipe_cv", "softfit",
                   "targets", "tiers", "tiers_cli", "train")))
PROJECT = ("router", "classifiers", "fleet")


def policy_yaml(kind: str, worker_port: int, provider_port: int) -> str:
    tiers = f"""\
  - name: small
    context_tokens: 32768
    price: {{input_per_mtok: 0.1, output_per_mtok: 0.2}}
    backends:
      - kind: sglang
        model: sim-small
        replicas: [http://127.0.0.1:{worker_port}]
"""
    auto = "    - {tier: small}\n"
    if kind == "mixed":
        tiers += f"""\
  - name: frontier
    context_tokens: 128000
    backends:
      - kind: litellm
        model: openai/gpt-4o
        api_base: http://127.0.0.1:{provider_port}/v1
        api_key_env: BENCH_PROVIDER_KEY
"""
        auto = "    - {tier: small, below: 0.5}\n    - {tier: frontier}\n"
    return f"version: 1\ntiers:\n{tiers}routing:\n  auto:\n{auto}health: {{interval_s: 2, timeout_s: 1}}\n"


def tree_env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "TOKENIZERS_PARALLELISM": "false", "BENCH_PROVIDER_KEY": PROVIDER_KEY}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def heavy_libraries(pid: int) -> list[str]:
    found = {m.group(1) for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
             if ".so" in line and (m := HEAVY_SO.search(line))}
    return sorted(found)


def drive(base: str, n: int, tag: str) -> None:
    """``n`` ``model: auto`` chat requests, unique prompts, 4 at a time; every answer must be 200."""
    with httpx.Client(base_url=base, timeout=30) as client:
        def one(i: int) -> None:
            r = client.post("/v1/chat/completions", json={
                "model": "auto", "max_tokens": 8,
                "messages": [{"role": "user", "content": f"{tag} #{i}: explain how {i} tides and {i % 7} moons "
                                                         "relate, step by step, with a proof if one exists."}]})
            if r.status_code != 200:
                raise RuntimeError(f"request {i}: HTTP {r.status_code} {r.text[:300]}")

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(one, range(n)))


class Upstreams:
    """One simulated SGLang worker and one fake provider, for every start measured."""

    def __init__(self, procs: ProcessGroup, work: Path) -> None:
        self.worker, self.provider = free_port(), free_port()
        cmd = [sys.executable, "-m", "router.cli"]
        procs.start("worker", [*cmd, "sim-worker", "--port", str(self.worker), "--model", "sim-small",
                               "--ttft-ms", "1", "--decode-tps", "20000"])
        procs.start("provider", [*cmd, "fake-provider", "--port", str(self.provider), "--api-key", PROVIDER_KEY,
                                 "--latency-ms", "1", "--tokens-per-s", "0"])
        procs.wait_http("worker", f"http://127.0.0.1:{self.worker}/health", timeout=120)
        procs.wait_http("provider", f"http://127.0.0.1:{self.provider}/fake/stats", timeout=120)
        self.policies = {}
        for kind in POLICIES:
            path = work / f"{kind}.yaml"
            path.write_text(policy_yaml(kind, self.worker, self.provider))
            self.policies[kind] = path


def start_serve(tree: Path, policy: Path, log: Path, *, importtime: bool = False) -> tuple[subprocess.Popen[bytes],
                                                                                           int, float]:
    port = free_port()
    flags = ["-X", "importtime"] if importtime else []
    cmd = [sys.executable, *flags, "-m", "router.cli", "serve", "--policy", str(policy), "--port", str(port),
           "--workers", "1", "--log-level", "warning"]
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=tree, env=tree_env(tree), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}/ready"
    deadline = t0 + 180
    with httpx.Client(timeout=2) as client:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                if client.get(url).status_code == 200:
                    return proc, port, time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            if time.perf_counter() > deadline:
                raise TimeoutError(f"serve not ready in 180 s:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.01)


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
    except ProcessLookupError:
        pass


def measure_start(tree: Path, policy: Path, work: Path, requests: int, tag: str) -> dict[str, Any]:
    proc, port, ready = start_serve(tree, policy, work / f"serve-{tag}.log")
    try:
        row: dict[str, Any] = {"ready_s": ready, "rss_ready_mb": rss_mb(proc.pid)}
        drive(f"http://127.0.0.1:{port}", requests, tag)
        row["rss_after_mb"] = rss_mb(proc.pid)
        row["heavy_so"] = heavy_libraries(proc.pid)
        return row
    finally:
        stop(proc)


def parse_importtime(text: str) -> tuple[list[str], int | None]:
    """(module names in import order, sum of self µs) from ``-X importtime`` lines.

    The sum is None when a self time is negative: CPython keeps the tracing's running total per
    interpreter, so imports in two threads at once (litellm's, in a worker thread, next to the
    event loop's) corrupt the times, though not the list of modules."""
    names, total, corrupt = [], 0, False
    for line in text.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cum, name = line[len("import time:"):].split("|", 2)
        names.append(name.strip())
        total += int(self_us)
        corrupt = corrupt or int(self_us) < 0
    return names, None if corrupt else total


def classify(modules: Iterable[str]) -> dict[str, Any]:
    mods = sorted(set(modules))
    own = [m for m in mods if m.split(".")[0] in PROJECT]
    not_serving = [m for m in own if any(m == p or m.startswith(p + ".") for p in NOT_SERVING)]
    return {"modules": len(mods), "project_modules": len(own), "not_serving": not_serving,
            "heavy": sorted({m.split(".")[0] for m in mods} & set(HEAVY)),
            "litellm": any(m == "litellm" for m in mods)}


def measure_imports(tree: Path, policy: Path, work: Path, requests: int, tag: str, tries: int = 5) -> dict[str, Any]:
    """One traced start; started again (up to ``tries`` times) while threads corrupted the times."""
    for attempt in range(tries):
        log = work / f"importtime-{tag}-{attempt}.log"
        proc, port, _ = start_serve(tree, policy, log, importtime=True)
        try:
            drive(f"http://127.0.0.1:{port}", requests, tag)
        finally:
            stop(proc)
        names, total = parse_importtime(log.read_text(errors="replace"))
        if total is not None:
            break
    return {"import_ms": None if total is None else total / 1000, "import_tries": attempt + 1, **classify(names)}


def cli_costs(tree: Path) -> dict[str, Any]:
    """What ``tierroute serve --help`` loads (traced), and its wall time (not traced)."""
    help_cmd = ["-m", "router.cli", "serve", "--help"]
    done = subprocess.run([sys.executable, "-X", "importtime", *help_cmd], cwd=tree, env=tree_env(tree),
                          capture_output=True, text=True, check=True)
    names, total = parse_importtime(done.stderr)
    if total is None:
        raise RuntimeError("serve --help imported in two threads at once?")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *help_cmd], cwd=tree, env=tree_env(tree), capture_output=True, check=True)
    return {"cli_import_ms": total / 1000, "help_s": time.perf_counter() - t0,
            "cli": classify(names)}


def which_router(tree: Path) -> str:
    done = subprocess.run([sys.executable, "-c", "import router; print(router.__file__)"], cwd=tree,
                          env=tree_env(tree), capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit_of(tree: Path) -> str:
    done = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if done.returncode != 0:
        stamp = tree / "COMMIT"  # a `git archive` export: the caller writes the commit there
        return stamp.read_text().strip() if stamp.exists() else "unknown"
    dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no", "--", ".",
                            ":!docs/benchmarks"], capture_output=True, text=True).stdout.strip()  # not our output
    return done.stdout.strip() + ("+changes" if dirty else "")


def median_range(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def run(trees: dict[str, Path], reps: int, requests: int, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    results: dict[str, Any] = {label: {"tree": str(tree), "router": which_router(tree), "commit": commit_of(tree),
                                       "starts": {k: [] for k in POLICIES}, "cli": []}
                               for label, tree in trees.items()}
    for label, tree in trees.items():
        if not results[label]["router"].startswith(str(tree.resolve())):
            raise RuntimeError(f"{label}: router imports from {results[label]['router']}, not from {tree}")
    with ProcessGroup(work / "logs") as procs:
        up = Upstreams(procs, work)
        for rep in range(reps):
            order = list(trees.items())
            order = order[rep % len(order):] + order[:rep % len(order)]  # rotate who goes first
            for label, tree in order:
                for kind in POLICIES:
                    row = measure_start(tree, up.policies[kind], work, requests, f"{label}-{kind}-{rep}")
                    results[label]["starts"][kind].append(row)
                    log(f"{label:>8} {kind:<7} rep {rep}: ready {row['ready_s']:.2f} s, RSS {row['rss_ready_mb']:.0f}"
                        f" -> {row['rss_after_mb']:.0f} MB, heavy {row['heavy_so'] or '-'}")
                results[label]["cli"].append(cli_costs(tree))
        for label, tree in trees.items():
            results[label]["imports"] = {kind: measure_imports(tree, up.policies[kind], work, requests,
                                                               f"{label}-{kind}-imports") for kind in POLICIES}
            log(f"{label:>8} imports: " + ", ".join(f"{k} {v['modules']} modules {v['import_ms']} ms"
                                                     for k, v in results[label]["imports"].items()))
    return {label: summarise(r) for label, r in results.items()}


def summarise(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"tree": r["tree"], "commit": r["commit"], "reps": len(r["cli"]), "policies": {}}
    for kind, rows in r["starts"].items():
        out["policies"][kind] = {
            "ready_s": median_range([x["ready_s"] for x in rows]),
            "rss_ready_mb": median_range([x["rss_ready_mb"] for x in rows]),
            "rss_after_mb": median_range([x["rss_after_mb"] for x in rows]),
            "heavy_so": sorted({lib for x in rows for lib in x["heavy_so"]}),
            **r["imports"][kind],
        }
    out["cli_import_ms"] = median_range([x["cli_import_ms"] for x in r["cli"]])
    out["serve_help_s"] = median_range([x["help_s"] for x in r["cli"]])
    out["cli"] = r["cli"][0]["cli"]
    out["cli_measured"] = "serve --help"
    return out


PAIRS = (("before", "after"), ("main", "main+reorg"))  # labels compared side by side when both are present


def compare(runs: dict[str, Any]) -> list[str]:
    """Before → after per pair of labels: the medians, and after minus before."""
    rows = []
    for a, b in PAIRS:
        if a not in runs or b not in runs:
            continue
        x, y = runs[a], runs[b]
        for name, get, fmt in (
                ("ready s, sglang", lambda r: r["policies"]["sglang"]["ready_s"]["median"], ".2f"),
                ("ready s, mixed", lambda r: r["policies"]["mixed"]["ready_s"]["median"], ".2f"),
                ("RSS at ready MB, sglang", lambda r: r["policies"]["sglang"]["rss_ready_mb"]["median"], ".1f"),
                ("RSS at ready MB, mixed", lambda r: r["policies"]["mixed"]["rss_ready_mb"]["median"], ".1f"),
                ("RSS after requests MB, mixed", lambda r: r["policies"]["mixed"]["rss_after_mb"]["median"], ".1f"),
                ("modules loaded, mixed", lambda r: r["policies"]["mixed"]["modules"], ".0f"),
                ("project modules, mixed", lambda r: r["policies"]["mixed"]["project_modules"], ".0f"),
                ("not-serving modules, mixed", lambda r: len(r["policies"]["mixed"]["not_serving"]), ".0f"),
                ("`serve --help` import ms", lambda r: r["cli_import_ms"]["median"], ".0f"),
                ("`serve --help` modules", lambda r: r["cli"]["modules"], ".0f"),
                ("`serve --help` s", lambda r: r["serve_help_s"]["median"], ".2f")):
            va, vb = get(x), get(y)
            rows.append(f"| {a} → {b} | {name} | {va:{fmt}} | {vb:{fmt}} | {vb - va:+{fmt}} |")
    if not rows:
        return []
    return ["Side by side (medians; the full table below):", "", "| trees | measure | before | after | change |",
            "|---|---|---|---|---|", *rows, ""]


def render(doc: dict[str, Any]) -> str:
    runs = doc["runs"]
    labels = list(runs)
    lines = ["# `tierroute serve --workers 1` start-up (issue 13, point 6)", "",
             "Written by `bench/serve_startup.py` (how it measures: its docstring). Medians over the repetitions, "
             "min…max in brackets. *import ms* is the sum of `-X importtime` self times (tracing inflates it; "
             "? when every try imported in two threads at once, which corrupts the times); "
             "*not serving* counts the project's modules that are the test fleet or training code "
             "(`NOT_SERVING` in the script); *heavy* lists torch, scikit-learn, scipy, transformers, "
             "sentence-transformers, model2vec, matplotlib as imported modules / mapped `.so` files.", ""]
    for label in labels:
        r = runs[label]
        lines.append(f"- **{label}**: commit `{r['commit']}`, {r['reps']} repetitions, {r['when']}, "
                     f"load average {r['load'][0]:.1f} → {r['load'][1]:.1f}; `{r['command']}`")
    lines += ["", f"Machine: {doc['machine']}.", ""]
    lines += compare(runs)

    def cell(m: dict[str, float], fmt: str, scale: float = 1.0) -> str:
        return f"{m['median'] * scale:{fmt}} [{m['min'] * scale:{fmt}}…{m['max'] * scale:{fmt}}]"

    lines += ["| tree | policy | ready s | RSS at ready MB | RSS after requests MB | modules | project | not serving "
              "| import ms | litellm | heavy |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label in labels:
        for kind, p in runs[label]["policies"].items():
            heavy = sorted(set(p["heavy"]) | set(p["heavy_so"]))
            lines.append(f"| {label} | {kind} | {cell(p['ready_s'], '.2f')} | {cell(p['rss_ready_mb'], '.0f')} | "
                         f"{cell(p['rss_after_mb'], '.0f')} | {p['modules']} | {p['project_modules']} | "
                         f"{len(p['not_serving'])} | {_ms(p.get('import_ms'))} | {'yes' if p['litellm'] else 'no'} | "
                         f"{', '.join(heavy) or 'none'} |")
    lines += ["", "The command line alone: `python -m router.cli serve --help` under `-X importtime` (import ms, "
              "modules, not serving) and its wall time untraced:", "",
              "| tree | import ms | modules | not serving | `serve --help` s |", "|---|---|---|---|---|"]
    for label in labels:
        r = runs[label]
        if r.get("cli_measured") != "serve --help":
            continue  # an older run measured `import router.cli; build_parser()` instead
        lines.append(f"| {label} | {cell(r['cli_import_ms'], '.0f')} | {r['cli']['modules']} | "
                     f"{len(r['cli']['not_serving'])} | {cell(r['serve_help_s'], '.2f')} |")
    lines += ["", "Non-serving modules in the serving process (policy `mixed`):", ""]
    for label in labels:
        names = runs[label]["policies"]["mixed"]["not_serving"]
        lines.append(f"- {label}: {', '.join(f'`{n}`' for n in names) if names else 'none'}")
    return "\n".join(lines) + "\n"


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", action="append", default=[], metavar="LABEL=DIR",
                    help="a source tree to measure under a label (repeatable; repetitions interleave)")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--requests", type=int, default=200, help="auto requests after ready, before the second RSS")
    ap.add_argument("--json", default=str(ROOT / "docs/benchmarks/serve_startup.json"))
    ap.add_argument("--md", default=str(ROOT / "docs/benchmarks/serve_startup.md"))
    ap.add_argument("--render-only", action="store_true", help="rewrite the .md from the .json, measure nothing")
    ns = ap.parse_args()
    if ns.render_only:
        Path(ns.md).write_text(render(json.loads(Path(ns.json).read_text())))
        return 0
    if not ns.tree:
        ap.error("give at least one --tree LABEL=DIR")
    trees = {}
    for spec in ns.tree:
        label, _, where = spec.partition("=")
        if not where:
            ap.error(f"--tree {spec!r}: write LABEL=DIR")
        trees[label] = Path(where).resolve()
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="serve-startup-") as tmp:
        runs = run(trees, ns.reps, ns.requests, Path(tmp), lambda s: print(s, flush=True))
    load1 = os.getloadavg()[0]
    path = Path(ns.json)
    doc = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    doc["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python " \
                     f"{platform.python_version()}"
    for label, r in runs.items():
        doc["runs"][label] = {**r, "when": time.strftime("%Y-%m-%d %H:%M"), "load": [load0, load1],
                              "command": "bench/serve_startup.py " + " ".join(sys.argv[1:])}
    path.write_text(json.dumps(doc, indent=1) + "\n")
    Path(ns.md).write_text(render(doc))
    print(render(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
