"""A fake external LLM provider speaking OpenAI's and Anthropic's APIs, for litellm backends.

OpenAI (``/v1/chat/completions``, ``/v1/completions``, ``GET /v1/models``): ``Authorization:
Bearer KEY``; chat and completion objects and stream chunks as OpenAI sends them -- a stream
starts with a ``{"role": "assistant", "content": ""}`` delta, ends with a ``finish_reason``
chunk and, with ``stream_options.include_usage``, a ``"choices": []`` usage chunk (every chunk
before it then has ``"usage": null``), then ``data: [DONE]``. Errors:
``{"error": {"message", "type", "param", "code"}}``.

Chat answers tools and structured output as OpenAI does (:mod:`fleet.sim.answer`): with
``tools`` (or the legacy ``functions``) and ``tool_choice`` ``auto`` (unless the last message is
a tool result, which the answer then quotes), ``required`` or a named function, the message has
``content: null`` and one ``tool_calls`` entry (``call_…`` id, arguments valid for the function's
schema; ``function_call`` for the legacy form), ``finish_reason`` ``tool_calls``
(``function_call``); streamed as a header delta (index, id, type, name, empty arguments), then
argument fragments. ``response_format`` ``json_object`` (the messages must mention "json", or
400 as OpenAI) and ``json_schema`` give JSON content valid for the schema. ``logprobs: true``
(``top_logprobs`` <= 20) adds ``logprobs.content``. Image parts cost ``IMAGE_TOKENS`` prompt
tokens; a model matching ``text_only_models`` (fnmatch patterns, default ``gpt-3.5*`` and
``*text-only*``) refuses them with OpenAI's 400.

Anthropic Messages (``POST /v1/messages``, tool_use blocks too): :mod:`fleet.sim.fake_anthropic`.

Replies are deterministic (:mod:`fleet.sim.reply` over the toy chat template of
:mod:`fleet.sim.tokenize`, which also gives the token counts); ``model`` is echoed. The first
byte waits ``latency_ms``; streamed tokens are paced at ``tokens_per_s`` (0: no pacing). Any
model name is served unless ``reject_unknown_models`` (then a model outside ``models`` gets the
provider's 404 ``model_not_found`` / ``not_found_error``). Shared state: :mod:`fleet.sim.fake_core`.

Controls: ``POST /fake/fail`` ``{"status": 429, "count": 1}`` -- the next ``count``
generation requests fail with ``status`` in the endpoint's own error shape (a 429 also carries
``retry-after: 0``); ``GET /fake/stats`` -- ``requests``, ``by_endpoint`` (request path ->
count), ``failed``, ``unauthorized``, ``last_model``, ``last_body``; ``POST /fake/reset``.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import chat_wire, embed, images, logprobs
from .answer import Answer, AnswerError, make_answer, openai_intent
from .fake_anthropic import AnthropicApi
from .fake_core import DEFAULT_MODELS, DEFAULT_TEXT_ONLY, FakeProviderConfig, ProviderCore, limit
from .fake_wire import JSON, openai_error, openai_usage, sse, sse_data
from .tokenize import content_text

__all__ = ["DEFAULT_MODELS", "FakeProviderConfig", "add_arguments", "config_from_args", "create_app"]


class _OpenAIApi:
    def __init__(self, core: ProviderCore) -> None:
        self.core = core

    async def chat(self, request: Request) -> Response:
        return await self._openai(request, chat=True)

    async def completions(self, request: Request) -> Response:
        return await self._openai(request, chat=False)

    async def _openai_body(self, request: Request) -> tuple[dict[str, Any], str] | Response:
        """An OpenAI request's body and model, or the error OpenAI gives (key, JSON, model)."""
        core = self.core
        denied = core.admit(request, request.url.path, anthropic=False)
        if denied is not None:
            return denied
        body = await core.body(request, anthropic=False)
        if isinstance(body, Response):
            return body
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return openai_error(400, "you must provide a model parameter", param="model")
        if not core.known(model):
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
            answer = embed.embeddings(body, self.core.tok, model)
        except embed.EmbedError as e:
            return openai_error(400, str(e), param=e.param)
        await self.core.first_byte()
        return Response(orjson.dumps(answer), media_type=JSON)

    def _chat_answer(self, body: dict[str, Any], model: str) -> tuple[list[int], Answer] | Response:
        core = self.core
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return openai_error(400, "'messages' must be a non-empty array", param="messages")
        pictures = images.image_positions(messages)
        if pictures and not core.vision(model):
            i, j = pictures[0]
            return openai_error(400, "Invalid content type. image_url is only supported by certain models.",
                                param=f"messages.[{i}].content.[{j}].type")
        try:
            intent = openai_intent(body, "openai")
            prompt_ids = core.tok.chat_prompt_ids(images.with_images(messages, vision=True),
                                                  body.get("tools") or body.get("functions") or None)
            answer = make_answer(intent, core.tok, prompt_ids,
                                 max_tokens=limit(body.get("max_completion_tokens", body.get("max_tokens"))),
                                 stop=_stops(body.get("stop")), seed=core.cfg.seed)
        except AnswerError as e:
            return openai_error(400, e.message, param=e.param)
        except ValueError as e:
            return openai_error(400, str(e), param="messages")
        return prompt_ids, answer

    async def _openai(self, request: Request, *, chat: bool) -> Response:
        got = await self._openai_body(request)
        if isinstance(got, Response):
            return got
        body, model = got
        top = _top_logprobs(body)
        if isinstance(top, Response):
            return top
        legacy = chat and body.get("tools") is None and body.get("functions") is not None
        if chat:
            planned = self._chat_answer(body, model)
            if isinstance(planned, Response):
                return planned
            prompt_ids, answer = planned
        else:
            prompt = body.get("prompt")
            prompt_ids = self.core.tok.encode(prompt if isinstance(prompt, str) else content_text(prompt))
            answer = Answer(self.core.reply(prompt_ids, body.get("max_tokens", 16), body.get("stop")))
        usage = openai_usage(len(prompt_ids), len(answer.reply.ids))
        rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
        created = int(time.time())
        if body.get("stream"):
            opts = body.get("stream_options")
            include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
            return sse(self._stream(_Stream(rid, created, model, answer, usage, include_usage, chat, legacy, top)))
        await self.core.first_byte()
        reply = answer.reply
        finish = chat_wire.finish_reason(answer, legacy=legacy)
        if chat:
            fields = chat_wire.message_fields(answer, legacy=legacy)
            message = {"role": "assistant", **{k: v for k, v in fields.items() if v is not None or k == "content"},
                       "refusal": None, "annotations": []}
            lp = (None if top is None else
                  {"content": logprobs.content(reply.pieces, reply.ids, top), "refusal": None})
            choice: dict[str, Any] = {"index": 0, "message": message, "logprobs": lp, "finish_reason": finish}
            data = {"id": rid, "object": "chat.completion", "created": created, "model": model,
                    "choices": [choice], "usage": usage, "service_tier": "default",
                    "system_fingerprint": "fp_fake"}
        else:
            data = {"id": rid, "object": "text_completion", "created": created, "model": model,
                    "choices": [{"text": reply.text, "index": 0, "logprobs": None, "finish_reason": finish}],
                    "usage": usage, "system_fingerprint": "fp_fake"}
        return Response(orjson.dumps(data), media_type=JSON)

    async def _stream(self, st: _Stream) -> AsyncIterator[bytes]:
        answer, reply, chat = st.answer, st.answer.reply, st.chat
        base: dict[str, Any] = {"id": st.rid, "object": "chat.completion.chunk" if chat else "text_completion",
                                "created": st.created, "model": st.model}
        if chat:
            base.update(service_tier="default", system_fingerprint="fp_fake")
        extra: dict[str, Any] = {"usage": None} if st.include_usage else {}

        def chunk(choice: dict[str, Any]) -> bytes:
            return sse_data({**base, "choices": [choice], **extra})

        await self.core.first_byte()
        if chat:
            first: dict[str, Any] = {"role": "assistant", "content": ""}
            if answer.tool_call is not None:
                first = {"role": "assistant", "content": None,
                         **chat_wire.header_delta(answer.tool_call, legacy=st.legacy)}
            yield chunk({"index": 0, "delta": {**first, "refusal": None}, "logprobs": None, "finish_reason": None})
        for a, b in self.core.chunks(reply):
            text = "".join(reply.pieces[a:b])
            await self.core.pace(b - a)
            if chat:
                lp = (None if st.top is None else
                      {"content": logprobs.content(reply.pieces[a:b], reply.ids[a:b], st.top, a), "refusal": None})
                yield chunk({"index": 0, "delta": chat_wire.delta(answer, text, legacy=st.legacy), "logprobs": lp,
                             "finish_reason": None})
            else:
                yield chunk({"text": text, "index": 0, "logprobs": None, "finish_reason": None})
        finish = chat_wire.finish_reason(answer, legacy=st.legacy)
        if chat:
            yield chunk({"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish})
        else:
            yield chunk({"text": "", "index": 0, "logprobs": None, "finish_reason": finish})
        if st.include_usage:
            yield sse_data({**base, "choices": [], "usage": st.usage})
        yield b"data: [DONE]\n\n"

    async def models(self, request: Request) -> Response:
        data = [{"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "fake-provider"}
                for m in self.core.cfg.models]
        return Response(orjson.dumps({"object": "list", "data": data}), media_type=JSON)


class _Stream:
    """What a streamed OpenAI answer needs."""

    def __init__(self, rid: str, created: int, model: str, answer: Answer, usage: dict[str, Any],
                 include_usage: bool, chat: bool, legacy: bool, top: int | None) -> None:
        self.rid, self.created, self.model, self.answer, self.usage = rid, created, model, answer, usage
        self.include_usage, self.chat, self.legacy, self.top = include_usage, chat, legacy, top


class _Controls:
    def __init__(self, core: ProviderCore) -> None:
        self.core = core

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
        self.core.fail_status, self.core.fail_count = status, count
        return Response(orjson.dumps({"status": status, "count": count}), media_type=JSON)

    async def stats(self, request: Request) -> Response:
        return Response(orjson.dumps(self.core.stats()), media_type=JSON)

    async def reset_stats(self, request: Request) -> Response:
        self.core.reset()
        return await self.stats(request)


def create_app(cfg: FakeProviderConfig) -> Starlette:
    """An ASGI app faking an OpenAI + Anthropic provider (state is private to this app)."""
    core = ProviderCore(cfg)
    oa, an, ctl = _OpenAIApi(core), AnthropicApi(core), _Controls(core)
    routes = [
        Route("/v1/chat/completions", oa.chat, methods=["POST"]),
        Route("/v1/completions", oa.completions, methods=["POST"]),
        Route("/v1/embeddings", oa.embeddings, methods=["POST"]),
        Route("/v1/models", oa.models, methods=["GET"]),
        Route("/v1/messages", an.messages, methods=["POST"]),
        Route("/fake/fail", ctl.fail, methods=["POST"]),
        Route("/fake/stats", ctl.stats, methods=["GET"]),
        Route("/fake/reset", ctl.reset_stats, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _stops(stop: Any) -> list[str]:
    return [stop] if isinstance(stop, str) else [s for s in stop or () if isinstance(s, str)]


def _top_logprobs(body: dict[str, Any]) -> int | None | Response:
    """None without ``logprobs: true``; else the number of alternatives, or OpenAI's 400."""
    top = body.get("top_logprobs")
    if top is not None and (not isinstance(top, int) or isinstance(top, bool) or not 0 <= top <= 20):
        return openai_error(400, f"Invalid 'top_logprobs': expected an integer between 0 and 20, but got {top!r} "
                            "instead.", param="top_logprobs")
    if body.get("logprobs") is not True:
        return None
    return top or 0


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
    g.add_argument("--text-only-models", default=",".join(DEFAULT_TEXT_ONLY),
                   help="comma-separated fnmatch patterns of models that refuse image input "
                        f"(default: {','.join(DEFAULT_TEXT_ONLY)}; every other model takes images)")


def config_from_args(ns: argparse.Namespace) -> FakeProviderConfig:
    models = tuple(m.strip() for m in ns.models.split(",") if m.strip())
    text_only = tuple(m.strip() for m in ns.text_only_models.split(",") if m.strip())
    return FakeProviderConfig(api_key=ns.api_key or None, latency_ms=ns.latency_ms, tokens_per_s=ns.tokens_per_s,
                              models=models, reject_unknown_models=ns.reject_unknown_models, seed=ns.seed,
                              text_only_models=text_only)
