"""The fake provider's configuration and the state both of its API faces share: counters, the
key check, scripted failures, request bodies, pacing and which models take images."""

from __future__ import annotations

import asyncio
import fnmatch
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from .fake_wire import anthropic_error, openai_error
from .reply import Reply, make_reply
from .tokenize import Tokenizer

DEFAULT_MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-20250514", "claude-3-5-haiku-20241022")
DEFAULT_TEXT_ONLY = ("gpt-3.5*", "*text-only*")


@dataclass(frozen=True)
class FakeProviderConfig:
    api_key: str | None = None  # when set, requests must carry it (Bearer or x-api-key)
    latency_ms: float = 20.0  # before the first byte of an answer
    tokens_per_s: float = 500.0  # stream pacing; 0 = as fast as possible
    models: tuple[str, ...] = DEFAULT_MODELS  # listed by GET /v1/models
    reject_unknown_models: bool = False  # True: a model not in ``models`` gets 404 (else any is served)
    seed: int = 0
    text_only_models: tuple[str, ...] = DEFAULT_TEXT_ONLY  # fnmatch patterns: these refuse image input


class ProviderCore:
    def __init__(self, cfg: FakeProviderConfig) -> None:
        self.cfg = cfg
        self.tok = Tokenizer()
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.by_endpoint: Counter[str] = Counter()
        self.failed = 0
        self.unauthorized = 0
        self.last_model: str | None = None
        self.last_body: dict[str, Any] | None = None
        self.fail_count = 0
        self.fail_status = 500

    def stats(self) -> dict[str, Any]:
        return {"requests": self.requests, "by_endpoint": dict(self.by_endpoint), "failed": self.failed,
                "unauthorized": self.unauthorized, "last_model": self.last_model, "last_body": self.last_body,
                "fail_pending": self.fail_count}

    def admit(self, request: Request, endpoint: str, anthropic: bool) -> Response | None:
        """Count the request; the provider's 401 for a wrong key, or a scripted failure."""
        self.requests += 1
        self.by_endpoint[endpoint] += 1
        if self.cfg.api_key is not None:
            auth = request.headers.get("authorization", "")
            given = auth[7:].strip() if auth.lower().startswith("bearer ") else None
            if anthropic:  # x-api-key; newer Anthropic SDKs send the key as a Bearer token instead
                given = request.headers.get("x-api-key") or given
            if given != self.cfg.api_key:
                self.unauthorized += 1
                if anthropic:
                    return anthropic_error(401, "invalid x-api-key")
                msg = ("You didn't provide an API key." if not given else
                       f"Incorrect API key provided: {_redact(given)}.")
                return openai_error(401, msg)
        if self.fail_count > 0:
            self.fail_count -= 1
            self.failed += 1
            status = self.fail_status
            return anthropic_error(status) if anthropic else openai_error(status)
        return None

    async def body(self, request: Request, anthropic: bool) -> dict[str, Any] | Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            msg = "The request body is not valid JSON."
            return anthropic_error(400, msg) if anthropic else openai_error(400, msg)
        self.last_body = body
        self.last_model = body.get("model") if isinstance(body.get("model"), str) else None
        return body

    def reply(self, prompt_ids: list[int], max_tokens: Any, stop: Any) -> Reply:
        stops = (stop,) if isinstance(stop, str) else tuple(s for s in stop or () if isinstance(s, str))
        return make_reply(self.tok, prompt_ids, max_tokens=limit(max_tokens), stop=stops, seed=self.cfg.seed)

    def known(self, model: str) -> bool:
        return not self.cfg.reject_unknown_models or model in self.cfg.models

    def vision(self, model: str) -> bool:
        return not any(fnmatch.fnmatchcase(model, p) for p in self.cfg.text_only_models)

    async def pace(self, tokens: int) -> None:
        if self.cfg.tokens_per_s > 0 and tokens > 0:
            await asyncio.sleep(tokens / self.cfg.tokens_per_s)

    async def first_byte(self) -> None:
        await asyncio.sleep(self.cfg.latency_ms / 1000.0)

    def chunks(self, reply: Reply) -> list[tuple[int, int]]:
        """The reply's stream deltas of up to 4 tokens, as (start, end) token positions."""
        n = len(reply.pieces)
        return [(i, min(i + 4, n)) for i in range(0, n, 4)]


def limit(max_tokens: Any) -> int | None:
    return max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else None


def _redact(key: str) -> str:
    return key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 8 else "*" * len(key)
