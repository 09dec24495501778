"""OpenAI ``chat.completion.chunk`` stream -> Anthropic Messages SSE events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._common import Json, is_int, sse_event
from .response import matched_stop, message_id, stop_reason, usage_from_openai


@dataclass(slots=True)
class _ToolCall:
    id: str
    name: str = ""
    block: int | None = None  # Anthropic block index, once started
    pending: list[str] = field(default_factory=list)  # arguments seen before the name


class StreamTranslator:
    """OpenAI ``chat.completion.chunk`` dicts in, Anthropic SSE event bytes out."""

    def __init__(self, model: str | None, *, stop_sequences: Sequence[str] | None = None,
                 input_tokens: int = 0, thinking: bool = False) -> None:
        self._model = model
        self._stop_sequences = tuple(stop_sequences or ())
        self._input_tokens = input_tokens
        self._thinking = thinking  # the request enabled it: a bare reasoning_content is a thinking block
        self._thinking_index: Any = None  # litellm's index of the open thinking block
        self.message_id = ""
        self._started = False
        self._finished = False
        self._blocks = 0
        self._open: int | None = None
        self._open_kind = ""  # text | thinking | tool_use
        self._tools: dict[int, _ToolCall] = {}
        self._finish: str | None = None
        self._matched: str | None = None
        self._refused = False
        self._usage: Mapping[str, Any] | None = None

    def feed(self, chunk: Mapping[str, Any]) -> list[bytes]:
        if self._finished:
            return []
        out = [] if self._started else self._start(chunk)
        if isinstance(chunk.get("usage"), Mapping):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if isinstance(choice, Mapping) and choice.get("index", 0) == 0:
                out += self._choice(choice)
        return out

    def finish(self) -> list[bytes]:
        if self._finished:
            return []
        out = [] if self._started else self._start({})
        for call in self._tools.values():
            if call.block is None:
                out += self._start_tool(call)
        out += self._close()
        self._finished = True
        finish = "content_filter" if self._refused and self._finish in (None, "stop") else self._finish
        reason, sequence = stop_reason(finish, self._matched, bool(self._tools))
        usage = usage_from_openai(self._usage) if self._usage is not None else {"output_tokens": 0}
        out.append(sse_event("message_delta", {"type": "message_delta", "usage": usage,
                                                "delta": {"stop_reason": reason, "stop_sequence": sequence}}))
        out.append(sse_event("message_stop", {"type": "message_stop"}))
        return out

    def _start(self, chunk: Mapping[str, Any]) -> list[bytes]:
        self._started = True
        self.message_id = message_id(chunk.get("id"))
        usage = usage_from_openai(chunk.get("usage")) if isinstance(chunk.get("usage"), Mapping) else None
        message: Json = {"id": self.message_id, "type": "message", "role": "assistant",
                         "model": self._model or chunk.get("model") or "", "content": [],
                         "stop_reason": None, "stop_sequence": None,
                         "usage": usage or {"input_tokens": self._input_tokens, "output_tokens": 0}}
        return [sse_event("message_start", {"type": "message_start", "message": message}),
                sse_event("ping", {"type": "ping"})]

    def _choice(self, choice: Mapping[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        delta = choice.get("delta") or {}
        blocks = delta.get("thinking_blocks")
        if isinstance(blocks, list) and blocks:  # litellm's, from Claude: with signatures
            for block in blocks:
                if isinstance(block, Mapping):
                    out += self._thinking_block(block)
        elif self._thinking and isinstance(delta.get("reasoning_content"), str) and delta["reasoning_content"]:
            out += self._thinking_block({"type": "thinking", "thinking": delta["reasoning_content"]})
        for key in ("content", "refusal"):
            if isinstance(delta.get(key), str) and delta[key]:
                self._refused = self._refused or key == "refusal"
                out += self._text(delta[key])
        for call in delta.get("tool_calls") or []:
            if isinstance(call, Mapping):
                out += self._tool_delta(call)
        if choice.get("finish_reason"):
            self._finish = choice["finish_reason"]
            self._matched = matched_stop(choice, self._stop_sequences)
        return out

    def _open_block(self, block: Json) -> tuple[int, list[bytes]]:
        """Close the open block (if any) and start ``block``; returns its index and the events."""
        out = self._close()
        index = self._blocks
        self._open, self._open_kind, self._blocks = index, block["type"], index + 1
        out.append(sse_event("content_block_start", {"type": "content_block_start", "index": index,
                                                     "content_block": block}))
        return index, out

    def _close(self) -> list[bytes]:
        if self._open is None:
            return []
        index, self._open = self._open, None
        return [sse_event("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _delta(self, index: int, delta: Json) -> bytes:
        return sse_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})

    def _text(self, text: str) -> list[bytes]:
        out: list[bytes] = []
        if self._open is not None and self._open_kind == "text":
            index = self._open
        else:
            index, out = self._open_block({"type": "text", "text": ""})
        return [*out, self._delta(index, {"type": "text_delta", "text": text})]

    def _thinking_block(self, block: Mapping[str, Any]) -> list[bytes]:
        """A thinking (or redacted thinking) fragment: text, then its signature, which closes it upstream."""
        if block.get("type") == "redacted_thinking":
            _, opened = self._open_block({"type": "redacted_thinking", "data": block.get("data") or ""})
            return opened + self._close()
        if block.get("type") != "thinking":
            return []
        out: list[bytes] = []
        same = block.get("index") is None or block.get("index") == self._thinking_index
        if self._open is not None and self._open_kind == "thinking" and same:
            index = self._open
        else:
            index, out = self._open_block({"type": "thinking", "thinking": "", "signature": ""})
            self._thinking_index = block.get("index")
        if isinstance(block.get("thinking"), str) and block["thinking"]:
            out.append(self._delta(index, {"type": "thinking_delta", "thinking": block["thinking"]}))
        if isinstance(block.get("signature"), str) and block["signature"]:
            out.append(self._delta(index, {"type": "signature_delta", "signature": block["signature"]}))
        return out

    def _tool_key(self, call: Mapping[str, Any]) -> int:
        if is_int(call.get("index")):
            return int(call["index"])
        call_id = call.get("id")  # some backends omit ``index``: a new id means a new call
        if call_id and all(t.id != call_id for t in self._tools.values()):
            return max(self._tools, default=-1) + 1
        return max(self._tools, default=0)

    def _tool_delta(self, call: Mapping[str, Any]) -> list[bytes]:
        key = self._tool_key(call)
        function = call.get("function") or {}
        state = self._tools.get(key)
        if state is None:
            state = self._tools[key] = _ToolCall(id=call.get("id") or f"toolu_{self.message_id[4:]}_{key}")
        if state.block is None:  # id and name may arrive after the first fragment
            if isinstance(call.get("id"), str) and call["id"]:
                state.id = call["id"]
            if isinstance(function.get("name"), str) and function["name"]:
                state.name = function["name"]
        args = function.get("arguments")
        if isinstance(args, str) and args:
            state.pending.append(args)
        if state.block is None:
            return self._start_tool(state) if state.name else []
        return self._flush_arguments(state)

    def _start_tool(self, state: _ToolCall) -> list[bytes]:
        state.block, out = self._open_block({"type": "tool_use", "id": state.id, "name": state.name, "input": {}})
        return out + self._flush_arguments(state)

    def _flush_arguments(self, state: _ToolCall) -> list[bytes]:
        if not state.pending or state.block is None:
            return []
        partial, state.pending = "".join(state.pending), []
        return [self._delta(state.block, {"type": "input_json_delta", "partial_json": partial})]


