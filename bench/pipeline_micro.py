"""CPU time of tierroute's own work per request, without the network: the pipeline with a fake backend.

Builds the app exactly as ``tierroute serve`` does (policy file, keys, stats, pickers), swaps the
SGLang backend for one that answers from memory, and calls :func:`router.pipeline.handle` plus
the OpenAI dialect's answer in a loop. What it reports is the gateway's own cost per request
(auth, parse, decide, pick, stats, headers); the HTTP hops are what ``bench/overhead.py``
measures. ``--profile`` prints the top functions by own time (cProfile).

    .venv/bin/python bench/pipeline_micro.py [--requests N] [--auto] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifiers.batching import MicroBatcher  # noqa: E402
from classifiers.fake import ConstantClassifier  # noqa: E402
from router import pipeline  # noqa: E402
from router.api.openai import OpenAIDialect  # noqa: E402
from router.app import create_app  # noqa: E402
from router.backends.base import Endpoint, Reply  # noqa: E402
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
        return Reply(orjson.loads(ANSWER), ANSWER)


async def run(requests: int, auto: bool, profile: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policy.yaml"
        path.write_text(POLICY)
        app = create_app(Settings(policy_path=str(path)), classifier=ConstantClassifier(0.1),
                         env={"TIERROUTE_API_KEYS": "sk-bench"})
    svc = app._svc  # noqa: SLF001 - the benchmark drives the pipeline directly
    front = app._front  # noqa: SLF001
    svc.backends["sglang"] = MemoryBackend()  # type: ignore[index]
    batcher = MicroBatcher(ConstantClassifier(0.1))  # what the app's start-up does
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

    for i in range(min(2000, requests)):
        await one(i)
    t0 = time.perf_counter()
    for i in range(requests):
        await one(i)
    per = (time.perf_counter() - t0) / requests * 1e6
    print(f"{'auto' if auto else 'pinned'}: {per:.1f} µs of tierroute's own work per request "
          f"({requests} requests, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        for i in range(min(requests, 5000)):
            await one(i)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    await batcher.aclose()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--auto", action="store_true", help="model auto (classification included)")
    p.add_argument("--profile", action="store_true")
    ns = p.parse_args()
    asyncio.run(run(ns.requests, ns.auto, ns.profile))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
