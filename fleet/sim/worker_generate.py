"""The generation endpoints of the simulated SGLang worker, in SGLang's wire shapes (chat's own
handling of tools, structured output, logprobs and images is in :mod:`fleet.sim.worker_chat`;
the shared error body and field checks in :mod:`fleet.sim.worker_wire`).

``POST /v1/chat/completions`` and ``POST /v1/completions`` follow
``python/sglang/srt/entrypoints/openai/{protocol,serving_chat,serving_completions}.py``:
responses are the pydantic models dumped with every field (so ``"usage": null`` is on every
stream chunk), a chat stream opens with a ``{"role": "assistant", "content": ""}`` delta, ends
with a chunk carrying ``finish_reason`` and, when ``stream_options.include_usage`` is set, a
chunk with ``"choices": []`` and the usage, then ``data: [DONE]``. ``usage`` is SGLang's
``UsageInfo``; ``prompt_tokens_details.cached_tokens`` (the radix-cache hit) is always present,
as if the server ran with ``--enable-cache-report`` (SGLang itself leaves it null when 0).
``model`` is the configured served model name. ``matched_stop`` is the EOS id on a natural end.

Errors are SGLang's ``ErrorResponse``: ``{"object": "error", "message", "type", "param",
"code"}`` -- ``type`` "Bad Request" for malformed bodies (FastAPI validation, mapped to 400 by
SGLang's handler) and "BadRequestError" for requests SGLang rejects itself (empty messages,
context length). ``POST /generate`` (native) answers ``{"text", "output_ids", "meta_info"}``
and reports errors as ``{"error": {"message"}}`` like SGLang's ``_create_error_response``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from . import embed
from . import worker_wire as wire
from .engine import SimEngine
from .faults import DONE, JSON, SSE, broken  # the wire constants live beside the faults that use them
from .reply import Reply, make_reply
from .worker_chat import ChatApi


class GenerationApi:
    def __init__(self, engine: SimEngine) -> None:
        self.engine = engine
        self.cfg = engine.cfg
        self.tok = engine.tokenizer
        self._chat = ChatApi(engine)

    # -- endpoints ----------------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        return await self._handle(request, self._chat.handle)

    async def completions(self, request: Request) -> Response:
        return await self._handle(request, self._completions)

    async def embeddings(self, request: Request) -> Response:
        """SGLang's ``/v1/embeddings`` (a worker launched with ``--is-embedding``): see :mod:`.embed`."""
        return await self._handle(request, self._embeddings)

    async def _embeddings(self, body: dict[str, Any]) -> Response:
        try:
            answer = embed.embeddings({**body, "model": self.cfg.model}, self.engine.tokenizer, self.cfg.model)
        except embed.EmbedError as e:
            raise wire.validation(str(e)) from None
        return Response(orjson.dumps(answer), media_type=JSON)

    async def generate(self, request: Request) -> Response:
        early = self._gate()
        if early is not None:
            return early
        try:
            body = wire.loads(await request.body())
            return await self._generate(body)
        except wire.BadRequest as e:
            return Response(orjson.dumps({"error": {"message": e.message}}), status_code=e.status, media_type=JSON)

    # -- plumbing -----------------------------------------------------------------------------

    def _gate(self) -> Response | None:
        if not self.engine.healthy:
            return wire.error_response("The server is unhealthy (simulated).", 503)
        eng = self.engine
        status = eng.take_failure()
        if status is not None:
            answer = wire.error_response(eng.fail_message or f"Simulated failure ({status}).", status)
            if eng.fail_retry_after is not None:
                answer.headers["retry-after"] = eng.fail_retry_after
            return answer
        return None

    async def _handle(self, request: Request, handler: Callable[[dict[str, Any]], Awaitable[Response]]) -> Response:
        early = self._gate()
        if early is not None:
            return early
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        try:
            if media != JSON:
                raise wire.validation("Unsupported Media Type: Only 'application/json' is allowed")
            body = wire.loads(await request.body())
            fault = self.engine.take_fault()
            if fault is not None:
                return broken(fault, stream=bool(body.get("stream")))
            return await handler(body)
        except wire.BadRequest as e:
            return wire.error_response(e.message, e.status, e.kind)

    def _reply(self, prompt_ids: list[int], max_tokens: int | None, stop: tuple[str, ...]) -> Reply:
        wire.check_length(self.cfg, len(prompt_ids), max_tokens)
        return make_reply(self.tok, prompt_ids, max_tokens=max_tokens, stop=stop, seed=self.cfg.seed,
                          min_len=self.cfg.min_output_tokens, max_len=self.cfg.max_output_tokens)

    # -- /v1/completions ----------------------------------------------------------------------

    async def _completions(self, body: dict[str, Any]) -> Response:
        prompt_ids = self._prompt_ids(body.get("prompt"), "CompletionRequest", "prompt")
        max_tokens = wire.max_tokens(body, "max_tokens", default=16)  # SGLang's CompletionRequest default
        stop = wire.stop_strings(body.get("stop"))
        wire.single_choice(body)
        reply = self._reply(prompt_ids, max_tokens, stop)
        rid = uuid.uuid4().hex
        if body.get("stream"):
            return StreamingResponse(self._completion_stream(rid, prompt_ids, reply, wire.include_usage(body)),
                                     media_type=SSE)
        cached = await wire.run(self.engine, prompt_ids, reply)
        choice = {"index": 0, "text": reply.text, "logprobs": None, "finish_reason": reply.finish_reason,
                  "matched_stop": wire.matched(reply)}
        data = {"id": rid, "object": "text_completion", "created": int(time.time()), "model": self.cfg.model,
                "choices": [choice], "usage": wire.usage(len(prompt_ids), len(reply.ids), cached),
                "metadata": {"weight_version": "default"}}
        return Response(orjson.dumps(data), media_type=JSON)

    async def _completion_stream(self, rid: str, prompt_ids: list[int], reply: Reply,
                                 include_usage: bool) -> AsyncIterator[bytes]:
        created = int(time.time())
        model = self.cfg.model
        n = len(reply.ids)

        def chunk(text: str, last: bool) -> bytes:
            choice = {"index": 0, "text": text, "logprobs": None,
                      "finish_reason": reply.finish_reason if last else None,
                      "matched_stop": wire.matched(reply) if last else None}
            return wire.event({"id": rid, "object": "text_completion", "created": created, "model": model,
                           "choices": [choice], "usage": None})

        async with self.engine.session(prompt_ids) as s:
            await s.prefill()
            sent = 0
            async for ready in s.decode(n, stream=True):
                yield chunk("".join(reply.pieces[sent:ready]), ready >= n)
                sent = ready
            s.finish(reply.ids)
            cached = s.cached_tokens
        if n == 0:
            yield chunk("", True)
        if include_usage:
            yield wire.event({"id": rid, "object": "text_completion", "created": int(time.time()), "model": model,
                          "choices": [], "usage": wire.usage(len(prompt_ids), n, cached)})
        yield DONE

    # -- /generate ----------------------------------------------------------------------------

    async def _generate(self, body: dict[str, Any]) -> Response:
        if body.get("text") is not None:
            prompt_ids = self._prompt_ids(body["text"], "GenerateReqInput", "text")
        elif body.get("input_ids") is not None:
            prompt_ids = self._prompt_ids(body["input_ids"], "GenerateReqInput", "input_ids")
        else:
            raise wire.BadRequest("Either text or input_ids should be provided.")
        params = body.get("sampling_params") or {}
        if not isinstance(params, dict):
            raise wire.BadRequest("sampling_params must be an object")
        max_new = wire.max_tokens(params, "max_new_tokens", default=128)
        reply = self._reply(prompt_ids, max_new, wire.stop_strings(params.get("stop")))
        rid = body.get("rid") if isinstance(body.get("rid"), str) else uuid.uuid4().hex
        t0 = time.perf_counter()

        def result(upto: int, cached: int, done: bool) -> dict[str, Any]:
            finish = None
            if done:
                finish = ({"type": "length", "length": upto} if reply.finish_reason == "length"
                          else {"type": "stop", "matched": wire.matched(reply)})
            return {"text": "".join(reply.pieces[:upto]), "output_ids": reply.ids[:upto],
                    "meta_info": {"id": rid, "finish_reason": finish, "prompt_tokens": len(prompt_ids),
                                  "weight_version": "default", "completion_tokens": upto,
                                  "cached_tokens": cached, "e2e_latency": time.perf_counter() - t0}}

        if not body.get("stream"):
            cached = await wire.run(self.engine, prompt_ids, reply)
            return Response(orjson.dumps(result(len(reply.ids), cached, True)), media_type=JSON)

        async def events() -> AsyncIterator[bytes]:
            n = len(reply.ids)
            async with self.engine.session(prompt_ids) as s:
                await s.prefill()
                async for ready in s.decode(n, stream=True):
                    yield wire.event(result(ready, s.cached_tokens, ready >= n))
                s.finish(reply.ids)
                if n == 0:
                    yield wire.event(result(0, s.cached_tokens, True))
            yield DONE

        return StreamingResponse(events(), media_type=SSE)

    # -- shared -------------------------------------------------------------------------------

    def _prompt_ids(self, prompt: Any, model: str, field: str) -> list[int]:
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
            prompt = prompt[0]  # a batch of one
        if isinstance(prompt, str):
            return self.tok.encode(prompt)
        if isinstance(prompt, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
            return list(prompt)
        if prompt is None:
            raise wire.validation(f"1 validation error for {model}\n{field}\n  Field required")
        raise wire.validation(f"{field}: expected a string or a list of token ids (batches of more than one "
                          "prompt are not supported by the simulator)")
