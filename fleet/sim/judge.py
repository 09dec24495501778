"""A simulated judge: an OpenAI-compatible chat endpoint that answers the proxy's judge prompts.

It reads the case marker of a judge prompt (:mod:`router.learning.judging`: the SHA-256 digest
of the user's prompt and the round) and answers with the strict verdict ``{"winner": ...}``:

* with ``outcomes`` (a pair-schema JSONL file): "reference better" iff ``strong_score >
  weak_score`` for the prompt whose digest matches (exact text), else "cheap better";
* without, or for a prompt not in the file: a deterministic heuristic, "reference better" iff
  the prompt looks hard (:func:`looks_hard`: long, or a word such as "prove" or "hard").

Each verdict is flipped with probability ``noise``, decided by a ``random.Random`` seeded with
(seed, digest, round): the same prompt and round always get the same answer. Answers carry
``usage`` (token counts of :mod:`fleet.sim.tokenize`) so the proxy can price them.

Endpoints: ``POST /v1/chat/completions`` (non-streaming), ``GET /v1/models``, ``GET /health``.
Controls for tests: ``POST /judge/mode`` ``{"garbage": true, "latency_ms": 500}`` (answer prose
instead of a verdict; wait before answering), ``GET /judge/stats`` (``requests``, ``rounds``
seen per round, ``matched``, ``unmatched``, ``garbage``, ``digests``: the last 1000 cases as
``digest.round``, ``last_prompt``), ``POST /judge/reset``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from classifiers.text import content_text
from classifiers.training.data import load_pairs
from router.learning.judging import parse_case, prompt_digest, winner_for

from .tokenize import Tokenizer

JSON = "application/json"
HARD_WORDS = ("prove", "derive", "hard", "theorem", "algorithm", "step by step", "complexity", "optimi")


@dataclass
class JudgeConfig:
    outcomes: dict[str, bool] | None = None  # prompt digest -> reference (strong) better
    noise: float = 0.0
    seed: int = 0
    latency_ms: float = 0.0
    model: str = "sim-judge"
    garbage: bool = False
    digests: list[str] = field(default_factory=list)


def load_outcomes(path: str | Path) -> dict[str, bool]:
    """Prompt digest → ``strong_score > weak_score`` for every row of a pair-schema file."""
    return {prompt_digest(r.prompt): r.label for r in load_pairs(path, keep_contaminated=True)}


def looks_hard(prompt: str) -> bool:
    t = prompt.lower()
    return len(prompt) >= 400 or any(w in t for w in HARD_WORDS)


class _Judge:
    def __init__(self, cfg: JudgeConfig) -> None:
        self.cfg = cfg
        self.tok = Tokenizer()
        self.stats: Counter[str] = Counter()
        self.last_prompt = ""

    def verdict(self, text: str) -> str:
        case = parse_case(text)
        if case is None:
            self.stats["unmatched"] += 1
            return '{"winner": "tie"}'
        digest, round_, prompt = case
        self.stats[f"round_{round_}"] += 1
        self.cfg.digests = (self.cfg.digests + [f"{digest}.{round_}"])[-1000:]
        known = self.cfg.outcomes.get(digest) if self.cfg.outcomes is not None else None
        self.stats["matched" if known is not None else "heuristic"] += 1
        better = known if known is not None else looks_hard(prompt)
        if self.cfg.noise > 0 and random.Random(f"{self.cfg.seed}|{digest}|{round_}").random() < self.cfg.noise:
            better = not better
        if self.cfg.garbage:
            self.stats["garbage"] += 1
            return f"I think answer {winner_for(better, round_)} is better, because it is more complete."
        return orjson.dumps({"winner": winner_for(better, round_)}).decode()

    async def chat(self, request: Request) -> Response:
        self.stats["requests"] += 1
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or body.get("stream"):
            return _error(400, "send a non-streaming chat completion request with `messages`")
        if self.cfg.latency_ms:
            await asyncio.sleep(self.cfg.latency_ms / 1000)
        prompt = "\n".join(content_text(m.get("content")) for m in body["messages"] if isinstance(m, dict))
        self.last_prompt = prompt
        answer = self.verdict(prompt)
        usage = {"prompt_tokens": self.tok.count(prompt), "completion_tokens": self.tok.count(answer)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        data = {"id": "chatcmpl-" + uuid.uuid4().hex[:24], "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model") or self.cfg.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                             "logprobs": None, "finish_reason": "stop"}], "usage": usage}
        return Response(orjson.dumps(data), media_type=JSON)

    async def models(self, request: Request) -> Response:
        return Response(orjson.dumps({"object": "list", "data": [
            {"id": self.cfg.model, "object": "model", "created": 1_700_000_000, "owned_by": "sim-judge"}]}),
            media_type=JSON)

    async def health(self, request: Request) -> Response:
        return Response(b"", status_code=200)

    async def mode(self, request: Request) -> Response:
        body = orjson.loads(await request.body() or b"{}")
        if "garbage" in body:
            self.cfg.garbage = bool(body["garbage"])
        if "latency_ms" in body:
            self.cfg.latency_ms = float(body["latency_ms"])
        return Response(orjson.dumps({"garbage": self.cfg.garbage, "latency_ms": self.cfg.latency_ms}),
                        media_type=JSON)

    async def get_stats(self, request: Request) -> Response:
        return Response(orjson.dumps({**self.stats, "digests": self.cfg.digests, "last_prompt": self.last_prompt}),
                        media_type=JSON)

    async def reset(self, request: Request) -> Response:
        self.stats.clear()
        self.cfg.digests = []
        self.last_prompt = ""
        self.cfg.garbage = False
        self.cfg.latency_ms = 0.0
        return Response(b"{}", media_type=JSON)


def _error(status: int, message: str) -> Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


def create_app(cfg: JudgeConfig) -> Starlette:
    j = _Judge(cfg)
    return Starlette(routes=[
        Route("/v1/chat/completions", j.chat, methods=["POST"]),
        Route("/v1/models", j.models, methods=["GET"]),
        Route("/health", j.health, methods=["GET"]),
        Route("/judge/mode", j.mode, methods=["POST"]),
        Route("/judge/stats", j.get_stats, methods=["GET"]),
        Route("/judge/reset", j.reset, methods=["POST"]),
    ])


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--outcomes", help="pair-schema JSONL: reference better iff strong_score > weak_score")
    p.add_argument("--noise", type=float, default=0.0, help="probability of flipping each verdict (default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latency-ms", type=float, default=0.0, help="wait before each answer")


def config_from_args(ns: argparse.Namespace) -> JudgeConfig:
    if not 0.0 <= ns.noise <= 1.0:
        raise SystemExit("--noise must be in [0, 1]")
    return JudgeConfig(outcomes=load_outcomes(ns.outcomes) if ns.outcomes else None, noise=ns.noise, seed=ns.seed,
                       latency_ms=ns.latency_ms)

