"""A fake external LLM provider speaking OpenAI's and Anthropic's APIs, for litellm backends.

OpenAI (``/v1/chat/completions``, ``/v1/completions``, ``GET /v1/models``): ``Authorization:
Bearer KEY``; chat and completion objects and stream chunks as OpenAI sends them -- a stream
starts with a ``{"role": "assistant", "content": ""}`` delta, ends with a ``finish_reason``
chunk and, with ``stream_options.include_usage``, a ``"choices": []`` usage chunk (every chunk
before it then has ``"usage": null``), then ``data: [DONE]``. Errors:
``{"error": {"message", "type", "param", "code"}}``.

Anthropic Messages (``POST /v1/messages``): ``x-api-key`` (or, as newer Anthropic SDKs send it,
``Authorization: Bearer``) and ``anthropic-version`` headers;
``max_tokens`` is required; the reply is a ``message`` with one text block and ``usage``
(``input_tokens``, ``output_tokens``, cache fields 0). Streaming sends the real event sequence
``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``...,
``content_block_stop``, ``message_delta`` (stop_reason, output usage), ``message_stop``.
Errors: ``{"type": "error", "error": {"type", "message"}}``. Tools are accepted and answered
with plain text.

Replies are deterministic (:mod:`router.sim.reply` over the toy chat template of
:mod:`router.sim.tokenize`, which also gives the token counts); ``model`` is echoed. The first
byte waits ``latency_ms``; streamed tokens are paced at ``tokens_per_s`` (0: no pacing). Any
model name is served unless ``reject_unknown_models`` (then a model outside ``models`` gets the
provider's 404 ``model_not_found`` / ``not_found_error``).

Controls: ``POST /fake/fail`` ``{"status": 429, "count": 1}`` -- the next ``count``
generation requests fail with ``status`` in the endpoint's own error shape (a 429 also carries
``retry-after: 0``); ``GET /fake/stats`` -- ``requests``, ``by_endpoint`` (request path ->
count), ``failed``, ``unauthorized``, ``last_model``, ``last_body``; ``POST /fake/reset``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import embed
from .fake_wire import JSON, anthropic_error, openai_error, openai_usage, sse, sse_data, sse_event
from .reply import Reply, make_reply
from .tokenize import Tokenizer, content_text

DEFAULT_MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-20250514", "claude-3-5-haiku-20241022")



@dataclass(frozen=True)
class FakeProviderConfig:
    api_key: str | None = None  # when set, requests must carry it (Bearer or x-api-key)
    latency_ms: float = 20.0  # before the first byte of an answer
    tokens_per_s: float = 500.0  # stream pacing; 0 = as fast as possible
    models: tuple[str, ...] = DEFAULT_MODELS  # listed by GET /v1/models
    reject_unknown_models: bool = False  # True: a model not in ``models`` gets 404 (else any is served)
    seed: int = 0


class _Provider:
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

    # -- gatekeeping --------------------------------------------------------------------------

    def _admit(self, request: Request, endpoint: str, anthropic: bool) -> Response | None:
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

    async def _body(self, request: Request, anthropic: bool) -> dict[str, Any] | Response:
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

    def _reply(self, prompt_ids: list[int], max_tokens: Any, stop: Any) -> Reply:
        stops = (stop,) if isinstance(stop, str) else tuple(s for s in stop or () if isinstance(s, str))
        limit = max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else None
        return make_reply(self.tok, prompt_ids, max_tokens=limit, stop=stops, seed=self.cfg.seed)

    def _known(self, model: str) -> bool:
        return not self.cfg.reject_unknown_models or model in self.cfg.models

    async def _pace(self, tokens: int) -> None:
        if self.cfg.tokens_per_s > 0 and tokens > 0:
            await asyncio.sleep(tokens / self.cfg.tokens_per_s)

    async def _first_byte(self) -> None:
        await asyncio.sleep(self.cfg.latency_ms / 1000.0)

    def _chunks(self, reply: Reply) -> list[str]:
        """The reply in stream deltas of up to 4 tokens."""
        return ["".join(reply.pieces[i:i + 4]) for i in range(0, len(reply.pieces), 4)]

    # -- OpenAI -------------------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        return await self._openai(request, chat=True)

    async def completions(self, request: Request) -> Response:
        return await self._openai(request, chat=False)

    async def _openai_body(self, request: Request) -> tuple[dict[str, Any], str] | Response:
        """An OpenAI request's body and model, or the error OpenAI gives (key, JSON, model)."""
        denied = self._admit(request, request.url.path, anthropic=False)
        if denied is not None:
            return denied
        body = await self._body(request, anthropic=False)
        if isinstance(body, Response):
            return body
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return openai_error(400, "you must provide a model parameter", param="model")
        if not self._known(model):
            return openai_error(404, f"The model `{model}` does not exist or you do not have access to it.",
                                 param="model")
        return body, model

    async def embeddings(self, request: Request) -> Response:
        """OpenAI's ``/v1/embeddings``: deterministic vectors (:mod:`.embed`)."""
        got = await self._openai_body(request)
        if isinstance(got, Response):
            return got
        body, model = got
        try:
            answer = embed.embeddings(body, self.tok, model)
        except embed.EmbedError as e:
            return openai_error(400, str(e), param=e.param)
        await self._first_byte()
        return Response(orjson.dumps(answer), media_type=JSON)

    async def _openai(self, request: Request, *, chat: bool) -> Response:
        got = await self._openai_body(request)
        if isinstance(got, Response):
            return got
        body, model = got
        if chat:
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                return openai_error(400, "'messages' must be a non-empty array", param="messages")
            try:
                prompt_ids = self.tok.chat_prompt_ids(messages, body.get("tools") or None)
            except ValueError as e:
                return openai_error(400, str(e), param="messages")
            max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        else:
            prompt = body.get("prompt")
            prompt_ids = self.tok.encode(prompt if isinstance(prompt, str) else content_text(prompt))
            max_tokens = body.get("max_tokens", 16)
        reply = self._reply(prompt_ids, max_tokens, body.get("stop"))
        usage = openai_usage(len(prompt_ids), len(reply.ids))
        rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
        created = int(time.time())
        if body.get("stream"):
            opts = body.get("stream_options")
            include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
            return sse(self._openai_stream(rid, created, model, reply, usage, include_usage, chat))
        await self._first_byte()
        finish = reply.finish_reason
        if chat:
            choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": reply.text,
                                                             "refusal": None, "annotations": []},
                                      "logprobs": None, "finish_reason": finish}
            data = {"id": rid, "object": "chat.completion", "created": created, "model": model,
                    "choices": [choice], "usage": usage, "service_tier": "default",
                    "system_fingerprint": "fp_fake"}
        else:
            data = {"id": rid, "object": "text_completion", "created": created, "model": model,
                    "choices": [{"text": reply.text, "index": 0, "logprobs": None, "finish_reason": finish}],
                    "usage": usage, "system_fingerprint": "fp_fake"}
        return Response(orjson.dumps(data), media_type=JSON)

    async def _openai_stream(self, rid: str, created: int, model: str, reply: Reply, usage: dict[str, Any],
                             include_usage: bool, chat: bool) -> AsyncIterator[bytes]:
        base: dict[str, Any] = {"id": rid, "object": "chat.completion.chunk" if chat else "text_completion",
                                "created": created, "model": model}
        if chat:
            base.update(service_tier="default", system_fingerprint="fp_fake")
        extra: dict[str, Any] = {"usage": None} if include_usage else {}

        def chunk(choice: dict[str, Any]) -> bytes:
            return sse_data({**base, "choices": [choice], **extra})

        await self._first_byte()
        if chat:
            yield chunk({"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None},
                         "logprobs": None, "finish_reason": None})
        for text in self._chunks(reply):
            await self._pace(self.tok.count(text))
            if chat:
                yield chunk({"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None})
            else:
                yield chunk({"text": text, "index": 0, "logprobs": None, "finish_reason": None})
        if chat:
            yield chunk({"index": 0, "delta": {}, "logprobs": None, "finish_reason": reply.finish_reason})
        else:
            yield chunk({"text": "", "index": 0, "logprobs": None, "finish_reason": reply.finish_reason})
        if include_usage:
            yield sse_data({**base, "choices": [], "usage": usage})
        yield b"data: [DONE]\n\n"

    async def models(self, request: Request) -> Response:
        data = [{"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "fake-provider"}
                for m in self.cfg.models]
        return Response(orjson.dumps({"object": "list", "data": data}), media_type=JSON)

    # -- Anthropic ----------------------------------------------------------------------------

    async def messages(self, request: Request) -> Response:
        denied = self._admit(request, request.url.path, anthropic=True)
        if denied is not None:
            return denied
        if not request.headers.get("anthropic-version"):
            return anthropic_error(400, "anthropic-version: header is required")
        body = await self._body(request, anthropic=True)
        if isinstance(body, Response):
            return body
        model, max_tokens, messages = body.get("model"), body.get("max_tokens"), body.get("messages")
        if not isinstance(model, str) or not model:
            return anthropic_error(400, "model: Field required")
        if not self._known(model):
            return anthropic_error(404, f"model: {model}")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            return anthropic_error(400, "max_tokens: Field required")
        if not isinstance(messages, list) or not messages:
            return anthropic_error(400, "messages: at least one message is required")
        system = body.get("system")
        chat = ([{"role": "system", "content": content_text(system)}] if system else []) + messages
        try:
            prompt_ids = self.tok.chat_prompt_ids(chat, body.get("tools") or None)
        except ValueError as e:
            return anthropic_error(400, str(e))
        reply = self._reply(prompt_ids, max_tokens, body.get("stop_sequences"))
        stop_reason = {"length": "max_tokens"}.get(reply.finish_reason,
                                                   "stop_sequence" if reply.matched_stop else "end_turn")
        mid = "msg_" + uuid.uuid4().hex[:24]
        usage = {"input_tokens": len(prompt_ids), "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                 "output_tokens": len(reply.ids), "service_tier": "standard"}
        if body.get("stream"):
            return sse(self._anthropic_stream(mid, model, reply, stop_reason, usage))
        await self._first_byte()
        data = {"id": mid, "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": reply.text}], "stop_reason": stop_reason,
                "stop_sequence": reply.matched_stop, "usage": usage}
        return Response(orjson.dumps(data), media_type=JSON)

    async def _anthropic_stream(self, mid: str, model: str, reply: Reply, stop_reason: str,
                                usage: dict[str, Any]) -> AsyncIterator[bytes]:
        await self._first_byte()
        start_usage = {**usage, "output_tokens": 1}
        yield sse_event("message_start", {"type": "message_start", "message": {
            "id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}})
        yield sse_event("content_block_start", {"type": "content_block_start", "index": 0,
                                             "content_block": {"type": "text", "text": ""}})
        yield sse_event("ping", {"type": "ping"})
        for text in self._chunks(reply):
            await self._pace(self.tok.count(text))
            yield sse_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                 "delta": {"type": "text_delta", "text": text}})
        yield sse_event("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield sse_event("message_delta", {"type": "message_delta",
                                       "delta": {"stop_reason": stop_reason, "stop_sequence": reply.matched_stop},
                                       "usage": {"output_tokens": usage["output_tokens"]}})
        yield sse_event("message_stop", {"type": "message_stop"})

    # -- controls -----------------------------------------------------------------------------

    async def fail(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError:
            body = None
        status = body.get("status", 500) if isinstance(body, dict) else None
        count = body.get("count", 1) if isinstance(body, dict) else None
        if not (isinstance(status, int) and 400 <= status <= 599 and isinstance(count, int) and count >= 0):
            return Response(orjson.dumps({"error": "expected {\"status\": 400..599, \"count\": N >= 0}"}),
                            status_code=400, media_type=JSON)
        self.fail_status, self.fail_count = status, count
        return Response(orjson.dumps({"status": status, "count": count}), media_type=JSON)

    async def stats(self, request: Request) -> Response:
        data = {"requests": self.requests, "by_endpoint": dict(self.by_endpoint), "failed": self.failed,
                "unauthorized": self.unauthorized, "last_model": self.last_model, "last_body": self.last_body,
                "fail_pending": self.fail_count}
        return Response(orjson.dumps(data), media_type=JSON)

    async def reset_stats(self, request: Request) -> Response:
        self.reset()
        return await self.stats(request)


def create_app(cfg: FakeProviderConfig) -> Starlette:
    """An ASGI app faking an OpenAI + Anthropic provider (state is private to this app)."""
    p = _Provider(cfg)
    routes = [
        Route("/v1/chat/completions", p.chat, methods=["POST"]),
        Route("/v1/completions", p.completions, methods=["POST"]),
        Route("/v1/embeddings", p.embeddings, methods=["POST"]),
        Route("/v1/models", p.models, methods=["GET"]),
        Route("/v1/messages", p.messages, methods=["POST"]),
        Route("/fake/fail", p.fail, methods=["POST"]),
        Route("/fake/stats", p.stats, methods=["GET"]),
        Route("/fake/reset", p.reset_stats, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the fake provider command (``--host``/``--port`` are added by the caller)."""
    d = FakeProviderConfig()
    g = parser.add_argument_group("fake external provider")
    g.add_argument("--api-key", default=os.environ.get("FAKE_PROVIDER_API_KEY"),
                   help="required key (Bearer or x-api-key); default: env FAKE_PROVIDER_API_KEY, else none")
    g.add_argument("--latency-ms", type=float, default=d.latency_ms, help="delay before the first byte")
    g.add_argument("--tokens-per-s", type=float, default=d.tokens_per_s, help="stream pacing (0: none)")
    g.add_argument("--models", default=",".join(d.models), help="comma-separated list for GET /v1/models")
    g.add_argument("--reject-unknown-models", action="store_true",
                   help="answer 404 for a model not in --models (default: serve any model name)")
    g.add_argument("--seed", type=int, default=d.seed, help="reply seed")


def config_from_args(ns: argparse.Namespace) -> FakeProviderConfig:
    models = tuple(m.strip() for m in ns.models.split(",") if m.strip())
    return FakeProviderConfig(api_key=ns.api_key or None, latency_ms=ns.latency_ms, tokens_per_s=ns.tokens_per_s,
                              models=models, reject_unknown_models=ns.reject_unknown_models, seed=ns.seed)


def _redact(key: str) -> str:
    return key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 8 else "*" * len(key)
