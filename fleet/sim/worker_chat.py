"""``POST /v1/chat/completions`` of the simulated SGLang worker, in SGLang's wire shapes.

Follows ``python/sglang/srt/entrypoints/openai/serving_chat.py``: the chat template renders
the tools (only the named one when ``tool_choice`` names a function; none for ``"none"``); the
answer is prose, a tool call or a JSON document (:mod:`fleet.sim.answer`). A tool call comes
back as ``message.tool_calls`` (``id`` ``call_<24 hex>``, ``index``, ``type``, ``function``),
``content`` null and ``finish_reason: "tool_calls"``; streamed, as a header delta then argument
fragments (:mod:`fleet.sim.chat_wire`). A worker started without a tool-call parser
(``--tool-call-parser ""``) answers ``tool_choice: "auto"`` in prose, as SGLang does;
``"required"`` and named functions still call (SGLang constrains those with a JSON schema).
SGLang's refusals (``Tool 'x' not found in tools list.``, ``Tools cannot be empty if tool
choice is set to required.``, an invalid ``parameters`` schema, a ``json_schema`` without a
schema) are 400 ``BadRequestError``; malformed fields are 400 "Bad Request" validation errors.

``logprobs: true`` (``top_logprobs: N``) adds ``choices[0].logprobs.content`` (every chunk
carries its tokens' entries). Image parts are dropped by a text-only worker and count
``IMAGE_TOKENS`` prompt tokens on a ``--vision`` worker (:mod:`fleet.sim.images`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

from . import chat_wire, images, logprobs
from . import worker_wire as wire
from .answer import TEXT, Answer, AnswerError, make_answer, openai_intent
from .engine import SimEngine
from .faults import DONE, JSON, SSE


class ChatApi:
    def __init__(self, engine: SimEngine) -> None:
        self.engine = engine
        self.cfg = engine.cfg
        self.tok = engine.tokenizer

    async def handle(self, body: dict[str, Any]) -> Response:
        messages = body.get("messages")
        if messages is None:
            raise wire.validation("1 validation error for ChatCompletionRequest\nmessages\n  Field required")
        if not isinstance(messages, list):
            raise wire.validation("1 validation error for ChatCompletionRequest\nmessages\n  Input should be a "
                                  "valid list")
        if not messages:
            raise wire.BadRequest("Messages cannot be empty.")
        max_tokens = wire.max_tokens(body, "max_completion_tokens", "max_tokens", default=None)
        stop = wire.stop_strings(body.get("stop"))
        wire.single_choice(body)
        top = _top_logprobs(body)
        try:
            intent = openai_intent(body, "sglang")
        except AnswerError as e:
            raise (wire.validation(e.message) if e.validation else wire.BadRequest(e.message)) from None
        if intent.tool is not None and not self.cfg.tool_call_parser and body.get("tool_choice") in (None, "auto"):
            intent = TEXT  # no parser: SGLang returns the model's text as it is
        try:
            prompt_ids = self.tok.chat_prompt_ids(images.with_images(messages, vision=self.cfg.vision),
                                                  _template_tools(body))
        except ValueError as e:
            raise wire.validation(str(e)) from None
        wire.check_length(self.cfg, len(prompt_ids), max_tokens)
        try:
            answer = make_answer(intent, self.tok, prompt_ids, max_tokens=max_tokens, stop=stop, seed=self.cfg.seed,
                                 min_len=self.cfg.min_output_tokens, max_len=self.cfg.max_output_tokens)
        except AnswerError as e:
            raise wire.BadRequest(e.message) from None
        rid = uuid.uuid4().hex
        if body.get("stream"):
            return StreamingResponse(self._stream(rid, prompt_ids, answer, wire.include_usage(body), top),
                                     media_type=SSE)
        reply = answer.reply
        cached = await wire.run(self.engine, prompt_ids, reply)
        message = {"role": "assistant", **chat_wire.message_fields(answer, sglang=True), "reasoning_content": None}
        lp = {"content": logprobs.content(reply.pieces, reply.ids, top)} if top is not None else None
        choice = {"index": 0, "message": message, "logprobs": lp, "finish_reason": answer.finish_reason,
                  "matched_stop": _matched(answer)}
        data = {"id": rid, "object": "chat.completion", "created": int(time.time()), "model": self.cfg.model,
                "choices": [choice], "usage": wire.usage(len(prompt_ids), len(reply.ids), cached),
                "metadata": {"weight_version": "default"}}
        return Response(orjson.dumps(data), media_type=JSON)

    async def _stream(self, rid: str, prompt_ids: list[int], answer: Answer, include_usage: bool,
                      top: int | None) -> AsyncIterator[bytes]:
        created = int(time.time())
        model = self.cfg.model
        reply = answer.reply

        def chunk(delta: dict[str, Any], finish: str | None = None, matched: Any = None,
                  lp: dict[str, Any] | None = None) -> bytes:
            choice = {"index": 0, "delta": {"role": None, "content": None, "reasoning_content": None,
                                            "tool_calls": None, **delta},
                      "logprobs": lp, "finish_reason": finish, "matched_stop": matched}
            return wire.event({"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                               "choices": [choice], "usage": None})

        started = False
        async with self.engine.session(prompt_ids) as s:
            await s.prefill()
            sent = 0
            async for ready in s.decode(len(reply.ids), stream=True):
                if not started:
                    yield chunk({"role": "assistant", "content": ""})
                    if answer.tool_call is not None:
                        yield chunk(chat_wire.header_delta(answer.tool_call))
                    started = True
                lp = ({"content": logprobs.content(reply.pieces[sent:ready], reply.ids[sent:ready], top, sent)}
                      if top is not None else None)
                yield chunk(chat_wire.delta(answer, "".join(reply.pieces[sent:ready]), sglang=True), lp=lp)
                sent = ready
            s.finish(reply.ids)
            cached = s.cached_tokens
        if not started:
            yield chunk({"role": "assistant", "content": ""})
        yield chunk({}, answer.finish_reason, _matched(answer))
        if include_usage:
            yield wire.event({"id": rid, "object": "chat.completion.chunk", "created": int(time.time()),
                              "model": model, "choices": [],
                              "usage": wire.usage(len(prompt_ids), len(reply.ids), cached)})
        yield DONE


def _matched(answer: Answer) -> int | str | None:
    return None if answer.tool_call is not None else wire.matched(answer.reply)


def _template_tools(body: Mapping[str, Any]) -> list[Any] | None:
    """The tools the chat template renders: none for ``tool_choice: "none"``, only the named one."""
    tools, choice = body.get("tools"), body.get("tool_choice")
    if not isinstance(tools, list) or not tools or choice == "none":
        return None
    if isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        name = choice["function"].get("name")
        return [t for t in tools if isinstance(t, Mapping) and isinstance(t.get("function"), Mapping)
                and t["function"].get("name") == name]
    return tools


def _top_logprobs(body: Mapping[str, Any]) -> int | None:
    """None without ``logprobs: true``, else how many alternatives each token lists."""
    top = body.get("top_logprobs")
    if top is not None and (not isinstance(top, int) or isinstance(top, bool) or top < 0):
        raise wire.validation("top_logprobs: Input should be a non-negative integer")
    if body.get("logprobs") is not True:
        return None
    return min(top or 0, logprobs.MAX_TOP_LOGPROBS)
