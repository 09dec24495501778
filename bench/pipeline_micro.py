"""CPU time of tierroute's own work per request, without the network: the pipeline with a fake backend.

Builds the app exactly as ``tierroute serve`` does (policy file, keys, stats, pickers), swaps the
SGLang backend for one that answers from memory, and calls :func:`router.pipeline.handle` plus
the OpenAI dialect's answer in a loop. What it reports is the gateway's own cost per request
(auth, parse, decide, pick, stats, headers); the HTTP hops are what ``bench/overhead.py``
measures. ``--profile`` prints the top functions by own time (cProfile).

``--concurrency N`` keeps N requests in flight (the classifier then scores batches);
``--shipped`` scores with the shipped classifier instead of a constant (``--classifier DIR``: with
the model in DIR; ``--classifier zero``: the shipped one with every weight 0, which leaves the auto
path as served, batches on the loop included, without the scoring). Times are CPU time of
the process (``time.process_time``: the classifier's thread included).

``--instructions`` counts instead of timing: the same run under ``valgrind --tool=callgrind``
twice, with N and 3N requests after a short warm-up, and the difference of the two instruction
counts divided by 2N: the instructions per request, the same for the same code and inputs
whatever else the machine is doing (``PYTHONHASHSEED=0``; repeatable within about 1 %, within 2 %
with Redis, whose batches follow timing; CPU time moved by ±15 % between runs here). Compare two
versions of the code with it, side by side; it takes a minute or two.

    .venv/bin/python bench/pipeline_micro.py [--requests N] [--auto] [--shipped] [--thread]
        [--concurrency N] [--redis-url URL | --two-replicas] [--profile] [--instructions]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead_router import policy_replicas  # noqa: E402

from classifiers.batching import MicroBatcher  # noqa: E402
from classifiers.fake import ConstantClassifier  # noqa: E402
from classifiers.logreg import default_model_dir, load_classifier  # noqa: E402
from router import pipeline  # noqa: E402
from router.api.openai import OpenAIDialect  # noqa: E402
from router.app import create_app  # noqa: E402
from router.backends.base import Reply  # noqa: E402
from router.domain import Endpoint  # noqa: E402
from router.parse import decode_json  # noqa: E402
from router.settings import Settings  # noqa: E402

POLICY = """\
version: 1
tiers:
  - name: small
    context_tokens: 32768
    price: {input_per_mtok: 0.04, output_per_mtok: 0.12}
    backends: [{kind: sglang, model: mock-small, replicas: [http://127.0.0.1:9]}]
  - name: large
    context_tokens: 131072
    price: {input_per_mtok: 0.35, output_per_mtok: 0.90}
    backends: [{kind: sglang, model: mock-large, replicas: [http://127.0.0.1:10]}]
routing:
  auto: [{tier: small, below: 0.5}, {tier: large}]
"""
ANSWER = orjson.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "mock-small",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "word " * 47}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 30, "completion_tokens": 47, "total_tokens": 77,
              "prompt_tokens_details": {"cached_tokens": 0}}})


class MemoryBackend:
    """Answers every request with the same completion, after serialising the body like the real one."""

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def complete(self, replica: Any, endpoint: Endpoint, body: dict[str, Any], request_id: str) -> Reply:
        orjson.dumps(body)
        await asyncio.sleep(0)  # a real upstream's answer comes in a later turn of the loop
        return Reply(orjson.loads(ANSWER), ANSWER)


async def run(requests: int, auto: bool, profile: bool, shipped: bool = False, concurrency: int = 1,
              thread: bool = False, redis_url: str | None = None, two_replicas: bool = False,
              warmup: int = 2000, classifier_dir: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policy.yaml"
        # with Redis: what bench/overhead.py's tierroute_auto_redis runs (two replicas per tier,
        # cache-aware choice, sticky conversations)
        path.write_text(policy_replicas(POLICY, {"small": 11, "large": 12}) if redis_url or two_replicas else POLICY)
        app = create_app(Settings(policy_path=str(path), redis_url=redis_url), classifier=ConstantClassifier(0.1),
                         env={"TIERROUTE_API_KEYS": "sk-bench"})
    svc = app._svc  # noqa: SLF001 - the benchmark drives the pipeline directly
    front = app._front  # noqa: SLF001
    svc.backends["sglang"] = MemoryBackend()  # type: ignore[index]
    if classifier_dir == "zero":
        with tempfile.TemporaryDirectory() as tmp:
            classifier = load_classifier(zero_model(Path(tmp)))
    else:
        classifier = load_classifier(classifier_dir) if shipped or classifier_dir else ConstantClassifier(0.1)
    batcher = MicroBatcher(classifier)  # what the app's start-up does
    if thread:
        batcher.loop_chars = 0  # every batch through the executor, as before docs/performance.md §12
    await batcher.start()
    svc.scorer.fill(batcher, {"kind": "constant"})  # type: ignore[attr-defined]
    dialect = OpenAIDialect()
    model = "auto" if auto else "small"

    async def one(i: int) -> None:
        raw = orjson.dumps({"model": model, "max_tokens": 64,
                            "messages": [{"role": "user", "content": f"Question {i}: how do tides work?"}]})
        headers = {"authorization": "Bearer sk-bench", "content-length": str(len(raw))}
        caller = await front.client(headers, f"r{i}", f"r{i}", svc.clock.now())  # the edge's auth gate
        await pipeline.handle(svc, caller, Endpoint.CHAT, decode_json(raw), headers, respond)

    async def respond(routed: pipeline.Routed) -> None:
        dialect.reply(routed)
        dialect.headers(routed)

    async def many(start: int, n: int) -> None:
        todo = iter(range(start, start + n))

        async def lane() -> None:
            for i in todo:
                await one(i)

        await asyncio.gather(*(lane() for _ in range(concurrency)))

    await many(0, min(warmup, requests))
    t0 = time.process_time()
    await many(10**6, requests)
    per = (time.process_time() - t0) / requests * 1e6
    print(f"{'auto' if auto else 'pinned'}{' (shipped classifier)' if shipped else ''}"
          f"{', every batch in the thread' if thread else ''}, {concurrency} in flight: "
          f"{per:.1f} µs of CPU per request ({requests} requests, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f})")
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        await many(2 * 10**6, min(requests, 5000))
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    await batcher.aclose()


def zero_model(tmp: Path) -> Path:
    """The shipped model's files with every weight 0 (score sigmoid(-2) = 0.12: tier small): the auto path as
    served (static embedder, batches on the loop) with no scoring work left."""
    d = tmp / "zero"
    shutil.copytree(default_model_dir(), d)
    m = orjson.loads((d / "model.json").read_bytes())
    m.update(format="tierroute.logreg/2", features=["embedding"], embedding_weight=0.0,
             coef=[0.0] * m["embedding"]["dim"], intercept=-2.0)
    m.pop("ngrams", None)
    m.pop("text_features", None)
    (d / "model.json").write_bytes(orjson.dumps(m))
    return d


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--auto", action="store_true", help="model auto (classification included)")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--shipped", action="store_true", help="score with the shipped classifier (default: a constant)")
    p.add_argument("--concurrency", type=int, default=1, help="requests in flight")
    p.add_argument("--thread", action="store_true", help="score every batch in the executor (no loop batches)")
    p.add_argument("--redis-url", help="two replicas per tier, cache_aware, sticky, this Redis (e.g. a private "
                   "redis-server: its CPU is not counted)")
    p.add_argument("--two-replicas", action="store_true", help="the --redis-url policy with the in-memory stores")
    p.add_argument("--classifier", help="a classifier model directory (as `serve --classifier`) instead of the "
                   "shipped one, or 'zero': the shipped one with every weight 0 (the auto path without scoring)")
    p.add_argument("--warmup", type=int, default=2000, help="requests before the measured ones")
    p.add_argument("--instructions", action="store_true",
                   help="instructions per request under callgrind (N and 3N requests; see the docstring)")
    ns = p.parse_args()
    if ns.instructions:
        return count_instructions(ns)
    import uvloop  # what uvicorn runs the proxy on

    uvloop.run(run(ns.requests, ns.auto, ns.profile, ns.shipped, ns.concurrency, ns.thread, ns.redis_url,
                   ns.two_replicas, ns.warmup, ns.classifier))
    return 0


def count_instructions(ns: argparse.Namespace) -> int:
    """Run this script under callgrind with N and 3N requests; print the instructions per request."""
    args = [a for a in sys.argv[1:] if a != "--instructions"]
    args = [a for i, a in enumerate(args) if a != "--requests" and (i == 0 or args[i - 1] != "--requests")]
    n = ns.requests if "--requests" in sys.argv else 500

    def collected(requests: int) -> int:
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__, *args,
               "--requests", str(requests), "--warmup", str(min(ns.warmup, 200))]
        env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same str hashes, so the same dict and set layouts
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        found = re.search(r"Collected : (\d+)", out.stderr)
        if found is None:
            raise SystemExit(f"no instruction count from callgrind:\n{out.stderr[-2000:]}")
        return int(found.group(1))

    per = (collected(3 * n) - collected(n)) / (2 * n)
    what = ("auto" if ns.auto else "pinned") + (f" (classifier {ns.classifier})" if ns.classifier else
                                                 " (shipped classifier)" if ns.shipped else "")
    print(f"{what}, {ns.concurrency} in flight: {per:,.0f} instructions per request "
          f"(callgrind, {3 * n} minus {n} requests)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
