"""OpenAI ``chat.completion.chunk`` stream -> the Responses API's typed SSE events.

``start()`` sends response.created and response.in_progress; text opens a message item
(output_item.added, content_part.added, then output_text.delta); each tool call is a
function_call item (output_item.added, function_call_arguments.delta). An item is closed
(output_text.done + content_part.done / function_call_arguments.done, then output_item.done)
when another begins or the stream ends. ``finish()`` sends response.completed (or
response.incomplete when the output was cut by the token limit or a content filter) with the
whole response and its usage; ``fail()`` sends an ``error`` event and response.failed.
Every event carries ``type`` and a ``sequence_number`` counting from 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from .request import Origin
from .response import call_item, message_item, new_id, outcome, response_object, text_part, usage_of

Json = dict[str, Any]


@dataclass(slots=True)
class _Call:
    call_id: str
    item_id: str = field(default_factory=lambda: new_id("fc"))
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    index: int | None = None  # output index, once added
    sent: int = 0  # argument fragments already sent as deltas


class StreamTranslator:
    """Chunk dicts in, SSE event bytes out; ``response`` is the final response object after finish()."""

    def __init__(self, origin: Origin, model: str) -> None:
        self._origin, self._model = origin, model
        self._seq = 0
        self._output: list[Json] = []
        self._text: list[str] | None = None  # the open message's text
        self._calls: dict[int, _Call] = {}
        self._open_call: _Call | None = None
        self._finish: str | None = None
        self._usage: Json | None = None
        self.response: Json | None = None

    def _event(self, kind: str, **payload: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._seq, **payload}
        self._seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def _snapshot(self, status: str, **extra: Any) -> Json:
        return response_object(self._origin, model=self._model, status=status, output=list(self._output),
                               usage=self._usage, **extra)

    def start(self) -> list[bytes]:
        return [self._event("response.created", response=self._snapshot("in_progress")),
                self._event("response.in_progress", response=self._snapshot("in_progress"))]

    def feed(self, chunk: Mapping[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        if isinstance(chunk.get("usage"), Mapping):
            self._usage = usage_of(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, Mapping) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            for key in ("content", "refusal"):
                if isinstance(delta.get(key), str) and delta[key]:
                    out += self._text_delta(delta[key])
            for call in delta.get("tool_calls") or []:
                if isinstance(call, Mapping):
                    out += self._call_delta(call)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return out

    def finish(self) -> list[bytes]:
        out = self._open_message() if not self._output and not self._calls else []  # nothing said: one empty
        out += self._close_message() + self._close_call()  # message, as in the whole reply
        for call in self._calls.values():  # a call whose name never came: shown as it is
            if call.index is None:
                out += self._add_call(call) + self._close_call()
        status, incomplete = outcome(self._finish)
        if status == "incomplete":
            for item in self._output:
                if item["type"] == "message":
                    item["status"] = "incomplete"
        self.response = self._snapshot(status, incomplete_details=incomplete)
        return out + [self._event(f"response.{status}", response=self.response)]

    def fail(self, status: int, code: str, message: str) -> list[bytes]:
        """The stream broke after it began: an ``error`` event (the proxy's code), then response.failed
        (its error.code one of OpenAI's: rate_limit_exceeded for a 429, else server_error)."""
        error = {"code": "rate_limit_exceeded" if status == 429 else "server_error", "message": message}
        return [self._event("error", code=code, message=message, param=None),
                self._event("response.failed", response=self._snapshot("failed", error=error))]

    def _open_message(self) -> list[bytes]:
        self._text = []
        item = message_item(new_id("msg"), [], "in_progress")
        self._output.append(item)
        return [self._event("response.output_item.added", output_index=len(self._output) - 1, item=item),
                self._event("response.content_part.added", item_id=item["id"], output_index=len(self._output) - 1,
                            content_index=0, part=text_part(""))]

    def _text_delta(self, text: str) -> list[bytes]:
        out = self._close_call()
        if self._text is None:
            out += self._open_message()
        assert self._text is not None
        self._text.append(text)
        item = self._output[-1]
        return out + [self._event("response.output_text.delta", item_id=item["id"], output_index=len(self._output) - 1,
                                  content_index=0, delta=text, logprobs=[])]

    def _close_message(self) -> list[bytes]:
        if self._text is None:
            return []
        text, self._text = "".join(self._text), None
        index = next(i for i in range(len(self._output) - 1, -1, -1) if self._output[i]["type"] == "message")
        item = self._output[index]
        part = text_part(text)
        item.update(content=[part], status="completed")
        where = {"item_id": item["id"], "output_index": index}
        return [self._event("response.output_text.done", **where, content_index=0, text=text, logprobs=[]),
                self._event("response.content_part.done", **where, content_index=0, part=part),
                self._event("response.output_item.done", output_index=index, item=item)]

    def _call_delta(self, chunk: Mapping[str, Any]) -> list[bytes]:
        key = chunk["index"] if isinstance(chunk.get("index"), int) else max(self._calls, default=0)
        function = chunk.get("function") or {}
        call = self._calls.get(key)
        if call is None:
            call = self._calls[key] = _Call(call_id=chunk.get("id") or new_id("call"))
        if call.index is None:  # id and name may come after the first fragment
            if isinstance(chunk.get("id"), str) and chunk["id"]:
                call.call_id = chunk["id"]
            if isinstance(function.get("name"), str) and function["name"]:
                call.name = function["name"]
        if isinstance(function.get("arguments"), str) and function["arguments"]:
            call.arguments.append(function["arguments"])
        out: list[bytes] = []
        if call.index is None:
            if not call.name:
                return []
            out = self._close_message() + self._close_call() + self._add_call(call)
        return out + self._send_arguments(call)

    def _add_call(self, call: _Call) -> list[bytes]:
        item = call_item(call.item_id, call.call_id, call.name, "", "in_progress")
        self._output.append(item)
        call.index, self._open_call = len(self._output) - 1, call
        return [self._event("response.output_item.added", output_index=call.index, item=item)]

    def _send_arguments(self, call: _Call) -> list[bytes]:
        fresh, call.sent = call.arguments[call.sent:], len(call.arguments)
        if not fresh or call.index is None:
            return []
        return [self._event("response.function_call_arguments.delta", item_id=call.item_id, output_index=call.index,
                            delta="".join(fresh))]

    def _close_call(self) -> list[bytes]:
        call, self._open_call = self._open_call, None
        if call is None or call.index is None:
            return []
        out = self._send_arguments(call)
        arguments = "".join(call.arguments)
        item = self._output[call.index]
        item.update(arguments=arguments, status="completed")
        return out + [self._event("response.function_call_arguments.done", item_id=call.item_id,
                                  output_index=call.index, arguments=arguments),
                      self._event("response.output_item.done", output_index=call.index, item=item)]
