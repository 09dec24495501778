"""The fake provider's Anthropic face: ``POST /v1/messages``, streamed and not.

``x-api-key`` (or, as newer Anthropic SDKs send it, ``Authorization: Bearer``) and
``anthropic-version`` headers; ``max_tokens`` is required. The reply is a ``message`` with one
content block and ``usage`` (``input_tokens``, ``output_tokens``, cache fields 0):

* a ``text`` block (``stop_reason`` ``end_turn``, ``max_tokens`` or ``stop_sequence``), or
* with ``tools`` (``input_schema``) and ``tool_choice`` ``auto`` (unless the last user turn
  carries ``tool_result`` blocks, which the text then quotes), ``any`` or ``{"type": "tool",
  "name"}``: a ``tool_use`` block (``id`` ``toolu_…``, ``name``, ``input`` valid for the
  schema) with ``stop_reason: "tool_use"`` (:mod:`fleet.sim.answer`).

Streaming sends the real event sequence ``message_start``, ``content_block_start``, ``ping``,
``content_block_delta``... (``text_delta``, or ``input_json_delta`` fragments of the tool input
after a ``tool_use`` start with ``input: {}``), ``content_block_stop``, ``message_delta``
(stop_reason, output usage), ``message_stop``. Image blocks count ``IMAGE_TOKENS`` input tokens;
a model matching the provider's text-only patterns refuses them. Errors: ``{"type": "error",
"error": {"type", "message"}}``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from . import images
from .answer import Answer, AnswerError, anthropic_intent, make_answer
from .fake_core import ProviderCore, limit
from .fake_wire import JSON, anthropic_error, sse, sse_event
from .tokenize import content_text


class AnthropicApi:
    def __init__(self, core: ProviderCore) -> None:
        self.core = core

    async def messages(self, request: Request) -> Response:
        core = self.core
        denied = core.admit(request, request.url.path, anthropic=True)
        if denied is not None:
            return denied
        if not request.headers.get("anthropic-version"):
            return anthropic_error(400, "anthropic-version: header is required")
        body = await core.body(request, anthropic=True)
        if isinstance(body, Response):
            return body
        model, max_tokens, messages = body.get("model"), body.get("max_tokens"), body.get("messages")
        if not isinstance(model, str) or not model:
            return anthropic_error(400, "model: Field required")
        if not core.known(model):
            return anthropic_error(404, f"model: {model}")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            return anthropic_error(400, "max_tokens: Field required")
        if not isinstance(messages, list) or not messages:
            return anthropic_error(400, "messages: at least one message is required")
        if images.image_positions(messages) and not core.vision(model):
            return anthropic_error(400, f"{model} does not support image input.")
        system = body.get("system")
        chat = ([{"role": "system", "content": content_text(system)}] if system else []) + messages
        stop = body.get("stop_sequences")
        try:
            intent = anthropic_intent(body)
            prompt_ids = core.tok.chat_prompt_ids(images.with_images(chat, vision=True), body.get("tools") or None)
            answer = make_answer(intent, core.tok, prompt_ids, max_tokens=limit(max_tokens),
                                 stop=[s for s in stop or () if isinstance(s, str)], seed=core.cfg.seed,
                                 id_prefix="toolu_")
        except AnswerError as e:
            return anthropic_error(400, e.message)
        except ValueError as e:
            return anthropic_error(400, str(e))
        reply = answer.reply
        stop_reason = ("tool_use" if answer.tool_call is not None else "max_tokens" if reply.finish_reason == "length"
                       else "stop_sequence" if reply.matched_stop else "end_turn")
        mid = "msg_" + uuid.uuid4().hex[:24]
        usage = {"input_tokens": len(prompt_ids), "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                 "output_tokens": len(reply.ids), "service_tier": "standard"}
        if body.get("stream"):
            return sse(self._stream(mid, model, answer, stop_reason, usage))
        await core.first_byte()
        call = answer.tool_call
        block = ({"type": "tool_use", "id": call.id, "name": call.name, "input": json.loads(call.arguments)}
                 if call is not None else {"type": "text", "text": reply.text})
        data = {"id": mid, "type": "message", "role": "assistant", "model": model, "content": [block],
                "stop_reason": stop_reason, "stop_sequence": reply.matched_stop, "usage": usage}
        return Response(orjson.dumps(data), media_type=JSON)

    async def _stream(self, mid: str, model: str, answer: Answer, stop_reason: str,
                      usage: dict[str, Any]) -> AsyncIterator[bytes]:
        core, reply, call = self.core, answer.reply, answer.tool_call
        await core.first_byte()
        start_usage = {**usage, "output_tokens": 1}
        yield sse_event("message_start", {"type": "message_start", "message": {
            "id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}})
        block = ({"type": "tool_use", "id": call.id, "name": call.name, "input": {}} if call is not None
                 else {"type": "text", "text": ""})
        yield sse_event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
        yield sse_event("ping", {"type": "ping"})
        for a, b in core.chunks(reply):
            text = "".join(reply.pieces[a:b])
            await core.pace(b - a)
            delta = ({"type": "input_json_delta", "partial_json": text} if call is not None
                     else {"type": "text_delta", "text": text})
            yield sse_event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        yield sse_event("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield sse_event("message_delta", {"type": "message_delta",
                                       "delta": {"stop_reason": stop_reason, "stop_sequence": reply.matched_stop},
                                       "usage": {"output_tokens": usage["output_tokens"]}})
        yield sse_event("message_stop", {"type": "message_stop"})
