"""Replay a pair file through a real proxy that learns from it, and report the learning curve.

    .venv/bin/python bench/learning.py PAIRS.jsonl [--label-rate R] [--judge-noise P] [--window N]
        [--seed S] [--start-model DIR | --start-exclude NAME] [--data-dir ../shared/data] [--limit N]

What runs (all real processes on loopback, as in production):

- two simulated SGLang workers, tier ``weak`` and tier ``strong`` (the pair's two models);
- ``tierroute sim-judge --outcomes PAIRS.jsonl --noise P``: asked to compare the two answers to a
  prompt, it returns the recorded outcome (``strong_score > weak_score``: the reference was
  better), flipped with probability P to model a judge's errors;
- ``tierroute serve --models-dir REG`` with ``learning.shadow`` on: a share R of ``auto`` requests
  answered by ``weak`` is compared in the background with ``strong`` (and the same share of those
  answered by ``strong`` with ``weak``: ``explore_rate``), judged, and stored as labels;
- ``tierroute learn`` on the same label file and registry, as the sidecar runs in production:
  it has the start model and the labels, not the shipped training data.

The file's prompts are sent once, in a seeded order, through ``model: auto`` with the official
``openai`` SDK; each prompt is scored before its own label can exist. After each window of N
requests the replay waits until the shadow jobs are judged, the learner has trained on the
labels so far (when enough are new) and the proxy serves the registry's current model, so the
curve does not depend on how fast this machine trains (production sees the same labels over a
longer stretch of traffic). Per window it reports the labels so far, the model version the
window was scored with, and the APGR of the scores the live model gave that window's prompts
(RouteLLM's protocol on the file's weak/strong scores). For reference: ``tierroute eval --cv 5``
on the same file from the same start model (what the learner's recipes make of 4/5 of the file
as labels), the same with the labels alone (``--cv-from labels``), and the start model's APGR
on the file.

Writes ``docs/benchmarks/learning.{md,json}`` (``--out``) and ``learning.png``: the JSON is
``{file: {"windows": [{"requests", "labels", "model", "apgr"}], "cv5_apgr", "default_apgr", ...}}``;
runs on other files are merged into the same JSON by file name.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifiers.training.data import PairRow, load_pairs  # noqa: E402
from classifiers.training.evaluate import routing_curve  # noqa: E402
from classifiers.training.progress import progress  # noqa: E402
from router.procs import ProcessGroup, free_port, tierroute_cmd  # noqa: E402

CLIENT_KEY = "sk-bench-client"
ADMIN_KEY = "sk-bench-admin"
JUDGE_KEY = "sk-bench-judge"
FAST = ["--ttft-ms", "1", "--decode-tps", "20000", "--prefill-tps", "1000000"]

POLICY = """\
version: 1
tiers:
  - name: weak
    context_tokens: 1000000
    price: {{input_per_mtok: 0.2, output_per_mtok: 0.2}}
    backends:
      - kind: sglang
        model: {weak_model}
        replicas: [http://127.0.0.1:{weak}]
  - name: strong
    context_tokens: 1000000
    price: {{input_per_mtok: 5.0, output_per_mtok: 15.0}}
    backends:
      - kind: sglang
        model: {strong_model}
        replicas: [http://127.0.0.1:{strong}]
routing:
  auto:
    - {{tier: weak, share: 0.5}}
    - {{tier: strong, share: 0.5}}
  sticky: {{enabled: false}}
health: {{interval_s: 5, timeout_s: 2}}
learning:
  store_prompts: false
  labels: {{path: {labels}, max_labels: 1000000}}
  shadow:
    enabled: true
    rate: {rate}
    explore_rate: {rate}
    daily_usd_cap: 1000000
    reference_tier: strong
    max_pending: 4096
    judge:
      model: openai/sim-judge
      api_base: http://127.0.0.1:{judge}/v1
      api_key_env: BENCH_JUDGE_KEY
      price: {{input_per_mtok: 1.0, output_per_mtok: 1.0}}
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", metavar="PAIRS.jsonl")
    p.add_argument("--label-rate", type=float, default=0.4, help="shadowed share of auto requests (default 0.4)")
    p.add_argument("--judge-noise", type=float, default=0.2, help="probability the sim judge is wrong (default 0.2)")
    p.add_argument("--window", type=int, default=500, help="requests per reported window (default 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start-model", help="model directory to start from (default: the shipped one)")
    p.add_argument("--start-exclude", metavar="NAME", help="train the start model now, without data files "
                   "whose name starts with NAME (e.g. mmlupro: a domain the start model never saw)")
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"),
                   help="training data for --start-exclude's start model (the learner itself, as in production, "
                        "has only the start model and the labels)")
    p.add_argument("--min-new-labels", type=int, default=200, help="the learner retrains after this many")
    p.add_argument("--limit", type=int, help="replay only the first N prompts of the seeded order")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--skip-cv", action="store_true", help="leave out the --cv 5 reference (faster)")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks"), help="where learning.{md,json,png} go")
    ns = p.parse_args(argv)

    rows = load_pairs(ns.data)
    order = np.random.default_rng(ns.seed).permutation(len(rows))
    rows = [rows[i] for i in order][: ns.limit or None]
    work = ROOT / "bench" / ".work" / f"learning-{Path(ns.data).stem}-{int(time.time())}"
    work.mkdir(parents=True, exist_ok=True)
    exclude = [ns.start_exclude] if ns.start_exclude else []
    start_model = ns.start_model or (_train_start(work, ns.data_dir, exclude) if exclude else None)
    print(f"replaying {len(rows)} prompts of {ns.data} (label rate {ns.label_rate}, judge noise "
          f"{ns.judge_noise}, window {ns.window}, seed {ns.seed}); work dir {work}", flush=True)
    result = replay(ns, rows, work, start_model, exclude)
    result["default_apgr"] = _eval_apgr(ns.data, ["--model", start_model] if start_model else [])
    result["shipped_default_apgr"] = _eval_apgr(ns.data, []) if start_model else result["default_apgr"]
    start = ["--model", start_model] if start_model else []
    result["cv5_apgr"] = None if ns.skip_cv else _eval_apgr(ns.data, ["--cv", "5", *start])
    result["cv5_labels_only_apgr"] = None if ns.skip_cv else _eval_apgr(ns.data, ["--cv", "5", "--cv-from", "labels"])
    _write(Path(ns.out), Path(ns.data).name, result)
    return 0


def _train_start(work: Path, data_dir: str, exclude: list[str]) -> str:
    out = work / "start-model"
    cmd = tierroute_cmd("train-default", "--data-dir", data_dir, "-o", str(out))
    for name in exclude:
        cmd += ["--exclude", name]
    print(f"training the start model without {', '.join(exclude)}: {' '.join(cmd[2:])}", flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    return str(out)


def replay(ns: argparse.Namespace, rows: list[PairRow], work: Path, start_model: str | None,
           exclude: list[str]) -> dict[str, Any]:
    ports = {name: free_port() for name in ("weak", "strong", "judge", "proxy")}
    labels = work / "labels.jsonl"
    models = work / "models"
    policy = work / "policy.yaml"
    policy.write_text(POLICY.format(weak_model="sim-weak", strong_model="sim-strong", labels=json.dumps(str(labels)),
                                    rate=ns.label_rate, **ports))
    base = f"http://127.0.0.1:{ports['proxy']}"
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    windows: list[dict[str, Any]] = []
    with ProcessGroup(work / "logs") as procs:
        for tier in ("weak", "strong"):
            procs.start(tier, tierroute_cmd("sim-worker", "--port", str(ports[tier]), "--model", f"sim-{tier}", *FAST))
        procs.start("judge", tierroute_cmd("sim-judge", "--port", str(ports["judge"]), "--outcomes", ns.data,
                                           "--noise", str(ns.judge_noise), "--seed", str(ns.seed)))
        learn = ["learn", "--models-dir", str(models), "--labels", str(labels),
                 "--min-new-labels", str(ns.min_new_labels), "--interval", "1"]
        if start_model:
            learn += ["--start-model", start_model]
        procs.start("learn", tierroute_cmd(*learn))
        procs.wait_until(lambda: (models / "CURRENT").exists(), 600, "the learner to register the start model",
                         "learn")
        for name in ("weak", "strong", "judge"):
            procs.wait_http(name, f"http://127.0.0.1:{ports[name]}/health")
        procs.start("proxy", tierroute_cmd("serve", "--policy", str(policy), "--port", str(ports["proxy"]),
                                           "--models-dir", str(models), "--log-level", "warning"),
                    env={"TIERROUTE_API_KEYS": CLIENT_KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY,
                         "BENCH_JUDGE_KEY": JUDGE_KEY})
        procs.wait_http("proxy", base + "/ready", timeout=180)
        t0 = time.monotonic()
        windows = list(_windows(len(rows), ns.window))
        for start, end in progress(windows, desc="windows", total=len(windows)):
            chunk = rows[start:end]
            version = httpx.get(base + "/admin/stats", headers=admin, timeout=10).json()["model"]["version"]
            n_labels = _count_lines(labels)
            scores = asyncio.run(_send(base + "/v1", [r.prompt for r in chunk], ns.concurrency))
            weak = np.array([r.weak_score for r in chunk])
            strong = np.array([r.strong_score for r in chunk])
            apgr = float(routing_curve(np.array(scores), weak, strong).apgr)
            windows.append({"requests": start + len(chunk), "labels": n_labels, "model": version,
                            "apgr": round(apgr, 4)})
            print(f"  requests {start + len(chunk):>6}  labels before {n_labels:>5}  model {version}  "
                  f"APGR {apgr:.3f}  ({time.monotonic() - t0:.0f} s)", flush=True)
            _settle(base, admin, labels, models, ns.min_new_labels, procs)
        stats = httpx.get(base + "/admin/stats", headers=admin, timeout=10).json()
    history = [json.loads(line) for line in (models / "history.jsonl").read_text().splitlines() if line.strip()]
    return {"windows": windows, "labels": _count_lines(labels), "label_rate": ns.label_rate,
            "judge_noise": ns.judge_noise, "window": ns.window, "seed": ns.seed, "requests": len(rows),
            "start_model": "trained without " + ", ".join(exclude) if exclude else (start_model or "shipped default"),
            "promotions": [h for h in history if h.get("event") in ("promote", "refuse")],
            "learning_stats": stats.get("learning")}


def _windows(n: int, size: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each window; a last window shorter than half a window joins the one before
    (APGR on a handful of prompts says nothing)."""
    bounds = [(i, min(i + size, n)) for i in range(0, n, size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < size / 2:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


async def _send(base_url: str, prompts: list[str], concurrency: int) -> list[float]:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key=CLIENT_KEY, max_retries=2, timeout=60)
    gate = asyncio.Semaphore(concurrency)

    async def one(prompt: str) -> float:
        async with gate:
            raw = await client.chat.completions.with_raw_response.create(
                model="auto", max_tokens=16, messages=[{"role": "user", "content": prompt}])
            return float(raw.headers["x-tierroute-score"])

    try:
        return list(await asyncio.gather(*(one(p) for p in prompts)))
    finally:
        await client.close()


def _settle(base: str, admin: dict[str, str], labels: Path, models: Path, min_new: int, procs: ProcessGroup) -> None:
    """Wait for the shadow backlog to be judged, the learner to train on it, the proxy to swap."""
    def backlog_done() -> bool:
        learning = httpx.get(base + "/admin/stats", headers=admin, timeout=10).json().get("learning") or {}
        return int((learning.get("shadow") or {}).get("pending", 0)) == 0

    procs.wait_until(backlog_done, 600, "the shadow backlog", "proxy")
    n = _count_lines(labels)

    def learner_caught_up() -> bool:
        done = [h for h in _history(models) if h.get("event") in ("promote", "refuse")]
        trained = max((int(h.get("labels", 0)) for h in done), default=0)
        return n - trained < min_new

    procs.wait_until(learner_caught_up, 900, "the learner", "learn")
    current = (models / "CURRENT").read_text().strip()
    procs.wait_until(lambda: httpx.get(base + "/admin/stats", headers=admin, timeout=10).json()["model"]["version"]
                     == current, 120, "the proxy to serve the current model", "proxy")


def _history(models: Path) -> list[dict[str, Any]]:
    path = models / "history.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def _eval_apgr(data: str, extra: list[str]) -> float:
    out = subprocess.run(tierroute_cmd("eval", data, "--json", *extra), check=True, capture_output=True,
                         text=True, cwd=ROOT).stdout
    return round(float(json.loads(out.strip().splitlines()[-1])["apgr"]), 4)


def _write(out: Path, name: str, result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "learning.json"
    doc: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    doc[name] = result
    path.write_text(json.dumps(doc, indent=2) + "\n")
    (out / "learning.md").write_text(render(doc))
    _plot(out / "learning.png", doc)
    print(render({name: result}))
    print(f"wrote {path}, {out / 'learning.md'}, {out / 'learning.png'}")


def render(doc: dict[str, Any]) -> str:
    lines = ["# Learning from traffic: replay benchmark (`bench/learning.py`)", "",
             "APGR of the scores the live model gave each window's prompts (RouteLLM's protocol on the "
             "file's recorded weak/strong outcomes), next to the start model on the whole file and a model "
             "trained on the file itself by 5-fold cross-validation.", ""]
    for name, r in doc.items():
        lines += [f"## {name}", "",
                  f"{r['requests']} prompts, label rate {r['label_rate']}, judge noise {r['judge_noise']}, "
                  f"seed {r['seed']}; start model: {r['start_model']}; labels at the end: {r['labels']}.", "",
                  f"- start model on the whole file: APGR {r['default_apgr']}",
                  f"- `tierroute eval --cv 5 [--model START]` on the file (the learner's recipes from the same "
                  f"start model, 4/5 of the file as labels): APGR {r['cv5_apgr']}",
                  f"- `tierroute eval --cv 5 --cv-from labels` (the labels alone): APGR "
                  f"{r.get('cv5_labels_only_apgr')}", "",
                  "| requests | labels before | model | APGR |", "|---:|---:|---|---:|"]
        lines += [f"| {w['requests']} | {w['labels']} | {w['model']} | {w['apgr']:.3f} |" for w in r["windows"]]
        lines += ["", "| round | labels | recipe | champion APGR | challenger APGR | 90% CI of gain | promoted |",
                  "|---:|---:|---:|---:|---:|---|---|"]
        for i, h in enumerate(r.get("promotions") or [], 1):
            ci = h.get("diff_ci90") or [None, None]
            recipe = h.get("recipe", h.get("label_weight"))
            lines.append(f"| {i} | {h.get('labels')} | {recipe} | {h.get('champion_apgr')} | "
                         f"{h.get('challenger_apgr')} | {ci[0]} … {ci[1]} | {h['event'] == 'promote'} |")
        lines.append("")
    return "\n".join(lines)


def _plot(path: Path, doc: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (name, r) in enumerate(doc.items()):
        color = f"C{i}"
        xs = [w["labels"] for w in r["windows"]]
        ax.plot(xs, [w["apgr"] for w in r["windows"]], marker="o", color=color, label=f"{name} (live)")
        if r.get("cv5_apgr") is not None:
            ax.axhline(r["cv5_apgr"], color=color, linestyle="--", linewidth=1, label=f"{name} --cv 5")
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1, label="random")
    ax.set_xlabel("labels collected before the window")
    ax.set_ylabel("APGR of the window's live scores")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
