"""Classifier speed, memory and quality, option by option, each in its own subprocess.

Run: ``.venv/bin/python bench/classifier.py [--quick]`` (from the repository root). Writes
``docs/benchmarks/classifier.md`` and ``docs/benchmarks/classifier.json``.

Options (all use the shipped recipe: focus view + text features + balanced logistic
regression, trained on the routerbench pair view's ``train`` split; only the embedding differs):

- ``minilm``: all-MiniLM-L6-v2 under torch / sentence-transformers, embedding weight fixed at 1
  (the reference "full MiniLM" model; trained once into ``$TMPDIR/tierroute-bench/minilm``);
- ``minilm-cache``: the same behind :class:`classifiers.embed.CachedEmbedder`, prompts repeated
  (every timed call after the first is a cache hit: the best case of an embedding cache);
- ``static-emb``: the distilled static embedding (numpy + ``tokenizers``), embedding weight
  fixed at 1 (``$TMPDIR/tierroute-bench/static-emb``): the like-for-like replacement of ``minilm``;
- ``static``: the shipped default (``classifiers/default``); its training chose embedding weight
  0 by CV, so it computes the text features only.

Per option, measured inside a fresh interpreter: load time (imports + files), VmRSS after
loading and after all scoring, one-prompt decision latency (``classifier.score([text])``,
p50/p99) for a ~20-word and a ~400-word prompt, decisions/s through
:class:`classifiers.batching.MicroBatcher` with 64 concurrent async callers, held-out APGR on
the routerbench ``test`` split and on AlpacaEval mixtral (out of domain), and whether torch was
imported. Timings are wall-clock on a shared machine: compare options as ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("TR_DATA", ROOT.parent / "shared" / "data"))
RB = DATA / "routerbench0shot_mistral7b_vs_gpt4.jsonl"
MIXTRAL = DATA / "alpaca_eval_mixtral_vs_gpt4turbo.jsonl"
OPTIONS = ("minilm", "minilm-cache", "static-emb", "static")
SHORT = "How do I reverse a linked list in Python without using extra memory, and what is its complexity?"
LONG_WORDS = ("The committee reviewed the quarterly figures and asked whether the new pricing model "
              "would survive a downturn in demand across the northern regions where margins are thin ")
CONCURRENCY = 64


def long_prompt() -> str:
    words = (LONG_WORDS * 40).split()[:390]
    return " ".join(words) + " Summarise the main risks and propose three mitigations."


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def model_dir(kind: str) -> Path:
    return Path(tempfile.gettempdir()) / "tierroute-bench" / kind


def ensure_model(kind: str) -> Path:
    """Train the recipe with embedding weight 1 and the ``kind`` embedding once (MiniLM: minutes)."""
    out = model_dir(kind)
    if not (out / "model.json").exists():
        make = "MiniLMEmbedder.load()" if kind == "minilm" else "default_embedder()"
        code = ("from classifiers.embed import MiniLMEmbedder; "
                "from classifiers.training.train import train, default_embedder; "
                f"train({str(RB)!r}, {str(out)!r}, embedder={make}, embedding_weight=1.0, "
                f"command='bench/classifier.py ({kind}, embedding weight 1)')")
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    return out


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q))


def worker(option: str, quick: bool) -> dict[str, Any]:
    """Everything measured for one option, in this (fresh) process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    rss_start = rss_mb()
    t0 = time.perf_counter()
    from classifiers.logreg import load_classifier

    if option == "static":
        clf = load_classifier(None)
    elif option == "static-emb":
        clf = load_classifier(model_dir("static-emb"))
    else:
        clf = load_classifier(model_dir("minilm"))
        if option == "minilm-cache":
            from classifiers.embed import CachedEmbedder
            from classifiers.logreg import EmbeddingLogRegClassifier

            clf = EmbeddingLogRegClassifier(CachedEmbedder(clf.embedder), clf.model)  # type: ignore[attr-defined]
    clf.score(["warm up"])
    load_s = time.perf_counter() - t0
    rss_loaded = rss_mb()
    n_lat = 30 if quick else (100 if option == "minilm" else 300)
    latency = {}
    for name, text in (("short", SHORT), ("long", long_prompt())):
        times = []
        for i in range(n_lat):
            t = text if option == "minilm-cache" else f"{text} {i}"  # the cache option repeats the prompt
            start = time.perf_counter()
            clf.score([t])
            times.append((time.perf_counter() - start) * 1000.0)
        latency[name] = {"p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99), "n": n_lat}
    throughput = asyncio.run(_throughput(clf, option, quick))
    quality = _quality(clf, quick)
    return {"option": option, "load_s": load_s, "rss_start_mb": rss_start, "rss_loaded_mb": rss_loaded,
            "rss_after_mb": rss_mb(), "latency": latency, "throughput": throughput, "quality": quality,
            "torch_imported": "torch" in sys.modules,
            "describe": {k: v for k, v in clf.describe().items() if k in ("embedding", "text", "features")}}


async def _throughput(clf: Any, option: str, quick: bool) -> dict[str, float]:
    from classifiers.batching import MicroBatcher

    n = {"minilm": 256, "minilm-cache": 2000, "static-emb": 4000, "static": 4000}[option] // (4 if quick else 1)
    texts = [f"{SHORT} (variant {i % 50 if option == 'minilm-cache' else i})" for i in range(n)]
    batcher = MicroBatcher(clf)
    await batcher.start()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for t in texts:
        queue.put_nowait(t)

    async def caller() -> None:
        while not queue.empty():
            await batcher.score(queue.get_nowait())

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - start
    await batcher.aclose()
    return {"decisions": n, "seconds": elapsed, "per_s": n / elapsed, "concurrency": CONCURRENCY}


def _quality(clf: Any, quick: bool) -> dict[str, float]:
    from classifiers.training.data import load_pairs
    from classifiers.training.evaluate import apgr

    out = {}
    for name, path, split in (("routerbench_test", RB, "test"), ("alpaca_mixtral", MIXTRAL, None)):
        rows = load_pairs(path, split=split)
        if quick:
            rows = rows[::4]
        scores = clf.score([r.prompt for r in rows])
        out[name] = apgr(scores, [r.weak_score for r in rows], [r.strong_score for r in rows])
    return out


def run_option(option: str, quick: bool) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", option] + (["--quick"] if quick else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{option} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(results: list[dict[str, Any]]) -> str:
    ref = next((r for r in results if r["option"] == "minilm"), results[0])
    head = ("| option | load s | RSS loaded / after MB | short p50 / p99 ms | long p50 / p99 ms "
            "| decisions/s (64 conc.) | speed-up vs minilm (short p50) | APGR rb test | APGR alpaca mixtral "
            "| torch imported |")
    lines = [head, "|" + "---|" * 10]
    for r in results:
        s, lg, q = r["latency"]["short"], r["latency"]["long"], r["quality"]
        lines.append(
            f"| {r['option']} | {r['load_s']:.2f} | {r['rss_loaded_mb']:.0f} / {r['rss_after_mb']:.0f} | "
            f"{s['p50_ms']:.2f} / {s['p99_ms']:.2f} | {lg['p50_ms']:.2f} / {lg['p99_ms']:.2f} | "
            f"{r['throughput']['per_s']:.0f} | {ref['latency']['short']['p50_ms'] / s['p50_ms']:.0f}x | "
            f"{q['routerbench_test']:.3f} | {q['alpaca_mixtral']:.3f} | {'yes' if r['torch_imported'] else 'no'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, a quarter of the APGR rows")
    parser.add_argument("--worker", choices=OPTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--options", default=",".join(OPTIONS), help="comma-separated subset of " + ",".join(OPTIONS))
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "classifier"), help="output path stem")
    parser.add_argument("--render", action="store_true", help="rewrite the .md from the existing .json only")
    ns = parser.parse_args(argv)
    if ns.render:
        saved = json.loads(Path(ns.out).with_suffix(".json").read_text())
        Path(ns.out).with_suffix(".md").write_text(_markdown(saved["meta"], table(saved["results"])))
        return 0
    if ns.worker:
        print(json.dumps(worker(ns.worker, ns.quick)))
        return 0
    options = [o for o in ns.options.split(",") if o]
    if any(o.startswith("minilm") for o in options):
        ensure_model("minilm")
    if "static-emb" in options:
        ensure_model("static-emb")
    load_before = os.getloadavg()
    results = [run_option(o, ns.quick) for o in options]
    meta = {"cores": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
            "python": platform.python_version(), "quick": ns.quick, "machine": platform.machine(),
            "command": "python bench/classifier.py" + (" --quick" if ns.quick else "")}
    text = table(results)
    print(text)
    print(f"cores {meta['cores']}, load average before {load_before}, after {meta['loadavg_after']}")
    out = Path(ns.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    out.with_suffix(".md").write_text(_markdown(meta, text))
    return 0


def _markdown(meta: dict[str, Any], text: str) -> str:
    la_b = ", ".join(f"{v:.2f}" for v in meta["loadavg_before"])
    la_a = ", ".join(f"{v:.2f}" for v in meta["loadavg_after"])
    return f"""# Classifier benchmark

`{meta['command']}` on {meta['cores']} cores ({meta['machine']}, Python {meta['python']}); load average
(1/5/15 min) before {la_b}, after {la_a}. Other work shared the machine: read the timings as
ratios between options measured in the same run, not as absolute claims.

{text}

- Every option is the same recipe (focus view + text features + balanced logistic regression,
  trained on the routerbench pair view's `train` split); only the embedding differs:
  `minilm` = all-MiniLM-L6-v2 under torch (embedding weight fixed at 1, the "full MiniLM"
  reference); `minilm-cache` = the same behind an LRU embedding cache; `static-emb` = the
  distilled static embedding (numpy + `tokenizers`, weight fixed at 1); `static` = the shipped
  default, whose training chose embedding weight 0 by CV (text features only).
- Latency: one `classifier.score([text])` call (embed + score), short ≈ 20 words, long ≈ 400
  words; `minilm-cache` repeats the same prompt, so it measures cache hits only.
- Throughput: 64 concurrent async callers through `MicroBatcher` (one executor thread).
- RSS: VmRSS of the benchmark process after loading, and after all scoring.
- APGR: RouteLLM protocol; routerbench `test` split (never trained on or chosen on) and
  AlpacaEval mixtral vs gpt-4-turbo (out of domain, evaluation only){_quick_note(meta)}.
"""


def _quick_note(meta: dict[str, Any]) -> str:
    return " on a quarter of the rows (--quick)" if meta["quick"] else ""


if __name__ == "__main__":
    raise SystemExit(main())
