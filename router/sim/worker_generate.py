"""The generation endpoints of the simulated SGLang worker, in SGLang's wire shapes.

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
from http import HTTPStatus
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from . import embed
from .engine import SimEngine
from .faults import DONE, JSON, SSE, broken  # the wire constants live beside the faults that use them
from .reply import Reply, make_reply
from .tokenize import EOS_ID


class BadRequest(Exception):
    def __init__(self, message: str, *, kind: str = "BadRequestError", status: int = 400) -> None:
        super().__init__(message)
        self.message, self.kind, self.status = message, kind, status


def error_response(message: str, status: int = 400, kind: str | None = None) -> Response:
    body = {"object": "error", "message": message, "type": kind or HTTPStatus(status).phrase,
            "param": None, "code": status}
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


def _validation(message: str) -> BadRequest:
    return BadRequest(message, kind=HTTPStatus.BAD_REQUEST.phrase)


class GenerationApi:
    def __init__(self, engine: SimEngine) -> None:
        self.engine = engine
        self.cfg = engine.cfg
        self.tok = engine.tokenizer

    # -- endpoints ----------------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        return await self._handle(request, self._chat)

    async def completions(self, request: Request) -> Response:
        return await self._handle(request, self._completions)

    async def embeddings(self, request: Request) -> Response:
        """SGLang's ``/v1/embeddings`` (a worker launched with ``--is-embedding``): see :mod:`.embed`."""
        return await self._handle(request, self._embeddings)

    async def _embeddings(self, body: dict[str, Any]) -> Response:
        try:
            answer = embed.embeddings({**body, "model": self.cfg.model}, self.engine.tokenizer, self.cfg.model)
        except embed.EmbedError as e:
            raise _validation(str(e)) from None
        return Response(orjson.dumps(answer), media_type=JSON)

    async def generate(self, request: Request) -> Response:
        early = self._gate()
        if early is not None:
            return early
        try:
            body = _loads(await request.body())
            return await self._generate(body)
        except BadRequest as e:
            return Response(orjson.dumps({"error": {"message": e.message}}), status_code=e.status, media_type=JSON)

    # -- plumbing -----------------------------------------------------------------------------

    def _gate(self) -> Response | None:
        if not self.engine.healthy:
            return error_response("The server is unhealthy (simulated).", 503)
        eng = self.engine
        status = eng.take_failure()
        if status is not None:
            answer = error_response(eng.fail_message or f"Simulated failure ({status}).", status)
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
                raise _validation("Unsupported Media Type: Only 'application/json' is allowed")
            body = _loads(await request.body())
            fault = self.engine.take_fault()
            if fault is not None:
                return broken(fault, stream=bool(body.get("stream")))
            return await handler(body)
        except BadRequest as e:
            return error_response(e.message, e.status, e.kind)

    def _check_length(self, prompt_len: int, max_tokens: int | None) -> None:
        ctx = self.cfg.context_length
        if prompt_len >= ctx:
            raise BadRequest(f"The input ({prompt_len} tokens) is longer than the model's context length "
                             f"({ctx} tokens).")
        if max_tokens is not None and prompt_len + max_tokens > ctx:
            raise BadRequest(f"Requested token count exceeds the model's maximum context length of {ctx} tokens. "
                             f"You requested a total of {prompt_len + max_tokens} tokens: {prompt_len} tokens from "
                             f"the input messages and {max_tokens} tokens for the completion. Please reduce the "
                             "number of tokens in the input messages or the completion to fit within the limit.")

    def _reply(self, prompt_ids: list[int], max_tokens: int | None, stop: tuple[str, ...]) -> Reply:
        self._check_length(len(prompt_ids), max_tokens)
        return make_reply(self.tok, prompt_ids, max_tokens=max_tokens, stop=stop, seed=self.cfg.seed,
                          min_len=self.cfg.min_output_tokens, max_len=self.cfg.max_output_tokens)

    def _usage(self, prompt_len: int, completion: int, cached: int) -> dict[str, Any]:
        return {"prompt_tokens": prompt_len, "total_tokens": prompt_len + completion,
                "completion_tokens": completion, "prompt_tokens_details": {"cached_tokens": cached},
                "reasoning_tokens": 0}

    # -- /v1/chat/completions -----------------------------------------------------------------

    async def _chat(self, body: dict[str, Any]) -> Response:
        messages = body.get("messages")
        if messages is None:
            raise _validation("1 validation error for ChatCompletionRequest\nmessages\n  Field required")
        if not isinstance(messages, list):
            raise _validation("1 validation error for ChatCompletionRequest\nmessages\n  Input should be a valid list")
        if not messages:
            raise BadRequest("Messages cannot be empty.")
        max_tokens = _max_tokens(body, "max_completion_tokens", "max_tokens", default=None)
        stop = _stop(body.get("stop"))
        _single_choice(body)
        tools = body.get("tools") if body.get("tool_choice") != "none" else None
        try:
            prompt_ids = self.tok.chat_prompt_ids(messages, tools if isinstance(tools, list) else None)
        except ValueError as e:
            raise _validation(str(e)) from None
        reply = self._reply(prompt_ids, max_tokens, stop)
        rid = uuid.uuid4().hex
        if body.get("stream"):
            return StreamingResponse(self._chat_stream(rid, prompt_ids, reply, _include_usage(body)),
                                     media_type=SSE)
        cached = await self._run(prompt_ids, reply)
        choice = {"index": 0, "message": {"role": "assistant", "content": reply.text, "reasoning_content": None,
                                          "tool_calls": None},
                  "logprobs": None, "finish_reason": reply.finish_reason, "matched_stop": _matched(reply)}
        data = {"id": rid, "object": "chat.completion", "created": int(time.time()), "model": self.cfg.model,
                "choices": [choice], "usage": self._usage(len(prompt_ids), len(reply.ids), cached),
                "metadata": {"weight_version": "default"}}
        return Response(orjson.dumps(data), media_type=JSON)

    async def _chat_stream(self, rid: str, prompt_ids: list[int], reply: Reply,
                           include_usage: bool) -> AsyncIterator[bytes]:
        created = int(time.time())
        model = self.cfg.model

        def chunk(delta: dict[str, Any], finish: str | None = None, matched: Any = None) -> bytes:
            choice = {"index": 0, "delta": {"role": None, "content": None, "reasoning_content": None,
                                            "tool_calls": None, **delta},
                      "logprobs": None, "finish_reason": finish, "matched_stop": matched}
            return _event({"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                           "choices": [choice], "usage": None})

        yield_role = True
        cached = 0
        async with self.engine.session(prompt_ids) as s:
            await s.prefill()
            sent = 0
            async for ready in s.decode(len(reply.ids), stream=True):
                if yield_role:
                    yield chunk({"role": "assistant", "content": ""})
                    yield_role = False
                yield chunk({"content": "".join(reply.pieces[sent:ready])})
                sent = ready
            s.finish(reply.ids)
            cached = s.cached_tokens
        if yield_role:
            yield chunk({"role": "assistant", "content": ""})
        yield chunk({}, reply.finish_reason, _matched(reply))
        if include_usage:
            yield _event({"id": rid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                          "choices": [], "usage": self._usage(len(prompt_ids), len(reply.ids), cached)})
        yield DONE

    # -- /v1/completions ----------------------------------------------------------------------

    async def _completions(self, body: dict[str, Any]) -> Response:
        prompt_ids = self._prompt_ids(body.get("prompt"), "CompletionRequest", "prompt")
        max_tokens = _max_tokens(body, "max_tokens", default=16)  # SGLang's CompletionRequest default
        stop = _stop(body.get("stop"))
        _single_choice(body)
        reply = self._reply(prompt_ids, max_tokens, stop)
        rid = uuid.uuid4().hex
        if body.get("stream"):
            return StreamingResponse(self._completion_stream(rid, prompt_ids, reply, _include_usage(body)),
                                     media_type=SSE)
        cached = await self._run(prompt_ids, reply)
        choice = {"index": 0, "text": reply.text, "logprobs": None, "finish_reason": reply.finish_reason,
                  "matched_stop": _matched(reply)}
        data = {"id": rid, "object": "text_completion", "created": int(time.time()), "model": self.cfg.model,
                "choices": [choice], "usage": self._usage(len(prompt_ids), len(reply.ids), cached),
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
                      "matched_stop": _matched(reply) if last else None}
            return _event({"id": rid, "object": "text_completion", "created": created, "model": model,
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
            yield _event({"id": rid, "object": "text_completion", "created": int(time.time()), "model": model,
                          "choices": [], "usage": self._usage(len(prompt_ids), n, cached)})
        yield DONE

    # -- /generate ----------------------------------------------------------------------------

    async def _generate(self, body: dict[str, Any]) -> Response:
        if body.get("text") is not None:
            prompt_ids = self._prompt_ids(body["text"], "GenerateReqInput", "text")
        elif body.get("input_ids") is not None:
            prompt_ids = self._prompt_ids(body["input_ids"], "GenerateReqInput", "input_ids")
        else:
            raise BadRequest("Either text or input_ids should be provided.")
        params = body.get("sampling_params") or {}
        if not isinstance(params, dict):
            raise BadRequest("sampling_params must be an object")
        max_new = _max_tokens(params, "max_new_tokens", default=128)
        reply = self._reply(prompt_ids, max_new, _stop(params.get("stop")))
        rid = body.get("rid") if isinstance(body.get("rid"), str) else uuid.uuid4().hex
        t0 = time.perf_counter()

        def result(upto: int, cached: int, done: bool) -> dict[str, Any]:
            finish = None
            if done:
                finish = ({"type": "length", "length": upto} if reply.finish_reason == "length"
                          else {"type": "stop", "matched": _matched(reply)})
            return {"text": "".join(reply.pieces[:upto]), "output_ids": reply.ids[:upto],
                    "meta_info": {"id": rid, "finish_reason": finish, "prompt_tokens": len(prompt_ids),
                                  "weight_version": "default", "completion_tokens": upto,
                                  "cached_tokens": cached, "e2e_latency": time.perf_counter() - t0}}

        if not body.get("stream"):
            cached = await self._run(prompt_ids, reply)
            return Response(orjson.dumps(result(len(reply.ids), cached, True)), media_type=JSON)

        async def events() -> AsyncIterator[bytes]:
            n = len(reply.ids)
            async with self.engine.session(prompt_ids) as s:
                await s.prefill()
                async for ready in s.decode(n, stream=True):
                    yield _event(result(ready, s.cached_tokens, ready >= n))
                s.finish(reply.ids)
                if n == 0:
                    yield _event(result(0, s.cached_tokens, True))
            yield DONE

        return StreamingResponse(events(), media_type=SSE)

    # -- shared -------------------------------------------------------------------------------

    async def _run(self, prompt_ids: list[int], reply: Reply) -> int:
        """Run a non-streaming request through the engine; returns its cached_tokens."""
        async with self.engine.session(prompt_ids) as s:
            await s.prefill()
            async for _ in s.decode(len(reply.ids), stream=False):
                pass
            s.finish(reply.ids)
            return s.cached_tokens

    def _prompt_ids(self, prompt: Any, model: str, field: str) -> list[int]:
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
            prompt = prompt[0]  # a batch of one
        if isinstance(prompt, str):
            return self.tok.encode(prompt)
        if isinstance(prompt, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
            return list(prompt)
        if prompt is None:
            raise _validation(f"1 validation error for {model}\n{field}\n  Field required")
        raise _validation(f"{field}: expected a string or a list of token ids (batches of more than one "
                          "prompt are not supported by the simulator)")


def _loads(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise _validation(f"JSON decode error: {e}") from None
    if not isinstance(body, dict):
        raise _validation("Input should be a valid dictionary or object to extract fields from")
    return body


def _max_tokens(body: dict[str, Any], *keys: str, default: int | None) -> int | None:
    for key in keys:
        v = body.get(key)
        if v is None:
            continue
        if not isinstance(v, int) or isinstance(v, bool):
            raise _validation(f"{key}: Input should be a valid integer")
        if v <= 0:
            raise _validation(f"{key}: Value error, {key} must be positive")
        return v
    return default


def _stop(stop: Any) -> tuple[str, ...]:
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,)
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return tuple(stop)
    raise _validation("stop: Input should be a valid string or a list of strings")


def _single_choice(body: dict[str, Any]) -> None:
    n = body.get("n")
    if n not in (None, 1):
        raise BadRequest("The simulated worker supports n=1 only.")


def _include_usage(body: dict[str, Any]) -> bool:
    opts = body.get("stream_options")
    return isinstance(opts, dict) and bool(opts.get("include_usage"))


def _matched(reply: Reply) -> int | str | None:
    if reply.matched_stop is not None:
        return reply.matched_stop
    return EOS_ID if reply.natural_end else None


def _event(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"
