"""An :class:`~fleet.sim.answer.Answer` in OpenAI's chat shapes, shared by the simulated SGLang
worker and the fake provider: the message's content / ``tool_calls`` (or the legacy
``function_call``), the stream deltas and the finish reason.

A tool call streams as OpenAI and SGLang send it: a header delta carrying the call's ``index``,
``id``, ``type`` and ``function.name`` with empty ``arguments``, then deltas with argument
fragments only, then a chunk with ``finish_reason: "tool_calls"``. ``sglang=True`` adds the
fields SGLang's pydantic models always dump (``index`` on a complete call; ``id``, ``type`` and
``name`` as null/"function" on fragment deltas).
"""

from __future__ import annotations

from typing import Any

from .answer import Answer, ToolCall


def message_fields(answer: Answer, *, legacy: bool = False, sglang: bool = False) -> dict[str, Any]:
    """``content`` and ``tool_calls``/``function_call`` of a non-streamed message."""
    call = answer.tool_call
    if call is None:
        return {"content": answer.reply.text} if legacy else {"content": answer.reply.text, "tool_calls": None}
    if legacy:
        return {"content": None, "function_call": {"name": call.name, "arguments": call.arguments}}
    obj: dict[str, Any] = {"id": call.id, "type": "function",
                           "function": {"name": call.name, "arguments": call.arguments}}
    if sglang:
        obj["index"] = 0
    return {"content": None, "tool_calls": [obj]}


def header_delta(call: ToolCall, *, legacy: bool = False) -> dict[str, Any]:
    """The first delta of a streamed call: its id and name, no arguments yet."""
    if legacy:
        return {"function_call": {"name": call.name, "arguments": ""}}
    return {"tool_calls": [{"index": 0, "id": call.id, "type": "function",
                            "function": {"name": call.name, "arguments": ""}}]}


def delta(answer: Answer, fragment: str, *, legacy: bool = False, sglang: bool = False) -> dict[str, Any]:
    """The delta carrying the next generated text: content, or a fragment of the call's arguments."""
    if answer.tool_call is None:
        return {"content": fragment}
    if legacy:
        return {"function_call": {"arguments": fragment}}
    part: dict[str, Any] = {"index": 0, "function": {"arguments": fragment}}
    if sglang:
        part = {"id": None, "index": 0, "type": "function", "function": {"name": None, "arguments": fragment}}
    return {"tool_calls": [part]}


def finish_reason(answer: Answer, *, legacy: bool = False) -> str:
    if answer.tool_call is not None and legacy:
        return "function_call"
    return answer.finish_reason
