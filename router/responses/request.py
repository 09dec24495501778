"""A Responses API request -> an OpenAI chat body (:class:`ChatBody`) that remembers where it came from.

Validation raises :mod:`router.errors` types (OpenAI's shape at the edge); the field paths in
``param`` are the Responses request's own (``input[2].content[0].type``, ``tools[1].type``).
The mapping table is in the package docstring.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import BadRequest
from .items import input_items, to_messages
from .store import ResponseStore

Json = dict[str, Any]

# Accepted and echoed (or mapped); every other field is a 400 naming it.
_ACCEPTED = frozenset({
    "model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "tools", "tool_choice",
    "parallel_tool_calls", "text", "stream", "stream_options", "previous_response_id", "store", "metadata",
    "user", "reasoning", "truncation", "include", "safety_identifier", "prompt_cache_key", "service_tier",
    "max_tool_calls", "prompt_cache_retention", "background",
})
# Public Responses fields this proxy does not serve: a 400 that says so rather than "unknown".
_NOT_SERVED = {
    "conversation": "conversations are not stored by this proxy; use previous_response_id or send the input",
    "prompt": "stored prompt templates are not available through this proxy",
    "top_logprobs": "log probabilities are not returned on /v1/responses by this proxy",
    "context_management": "server-side compaction is not available through this proxy",
}
_PASSED = ("temperature", "top_p", "user", "safety_identifier", "prompt_cache_key", "service_tier")


@dataclass(slots=True)
class Origin:
    """What the answer needs from the Responses request: its id, the fields it echoes, the
    conversation's input items (for the store) and whether to store it."""

    id: str
    created_at: int
    echo: Json
    items: list[Json]
    store: bool


class ChatBody(dict[str, Any]):
    """The chat body the pipeline routes, carrying its :class:`Origin` to the dialect's answer."""

    __slots__ = ("origin",)

    def __init__(self, body: Json, origin: Origin) -> None:
        super().__init__(body)
        self.origin = origin


def to_chat_request(body: Mapping[str, Any], store: ResponseStore) -> ChatBody:
    """Translate a Responses request; ``previous_response_id`` is looked up in ``store``."""
    for name in body:
        if name in _NOT_SERVED:
            raise BadRequest(f"{name!r} is not supported: {_NOT_SERVED[name]}.", param=name,
                             code="unsupported_parameter")
        if name not in _ACCEPTED:
            raise BadRequest(f"Unrecognized request argument supplied: {name!r} is not a parameter of "
                             "/v1/responses.", param=name, code="unknown_parameter")
    if body.get("background"):
        raise BadRequest("'background' responses are not supported by this proxy; omit it or send false.",
                         param="background", code="unsupported_parameter")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise BadRequest("'instructions' must be a string.", param="instructions")
    if "input" not in body:
        raise BadRequest("Missing required parameter: 'input'.", param="input", code="missing_required_parameter")
    items = _history(body.get("previous_response_id"), store) + input_items(body["input"], store.item)
    messages = ([{"role": "system", "content": instructions}] if instructions else []) + to_messages(items)
    chat: Json = {"model": body.get("model"), "messages": messages}
    for name in _PASSED:
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    if body.get("stream") is not None:
        chat["stream"] = body["stream"]
        if body["stream"] is True:
            chat["stream_options"] = {"include_usage": True}
    tools = _tools(body.get("tools"))
    if tools:
        chat["tools"] = tools
        if body.get("tool_choice") is not None:
            chat["tool_choice"] = _tool_choice(body["tool_choice"])
        if body.get("parallel_tool_calls") is not None:
            chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    text = body.get("text")
    if text is not None and not isinstance(text, Mapping):
        raise BadRequest("'text' must be an object.", param="text")
    fmt = _response_format((text or {}).get("format"))
    if fmt is not None:
        chat["response_format"] = fmt
    if isinstance(text, Mapping) and text.get("verbosity") is not None:
        chat["verbosity"] = text["verbosity"]
    reasoning = body.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, Mapping):
        raise BadRequest("'reasoning' must be an object.", param="reasoning")
    if reasoning and reasoning.get("effort") is not None:
        chat["reasoning_effort"] = reasoning["effort"]
    store_it = body.get("store")
    if store_it is not None and not isinstance(store_it, bool):
        raise BadRequest("'store' must be true or false.", param="store")
    origin = Origin(id=f"resp_{uuid.uuid4().hex}", created_at=int(time.time()), echo=_echo(body, text, reasoning),
                    items=items, store=store_it is not False)
    return ChatBody(chat, origin)


def _history(previous: Any, store: ResponseStore) -> list[Json]:
    if previous is None:
        return []
    if not isinstance(previous, str):
        raise BadRequest("'previous_response_id' must be a string.", param="previous_response_id")
    found = store.get(previous)
    if found is None:  # OpenAI's answer, word for word (400, not 404)
        raise BadRequest(f"Previous response with id '{previous}' not found.", param="previous_response_id",
                         code="previous_response_not_found")
    return found.context()


def _tools(tools: Any) -> list[Json]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise BadRequest("'tools' must be an array.", param="tools")
    out: list[Json] = []
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, Mapping) else None
        if kind != "function":
            raise BadRequest(f"Tool type {kind!r} (tools[{i}]) is not supported: this proxy routes to models "
                             "behind the chat completions API and runs no hosted tools (web_search, file_search, "
                             "computer_use, code_interpreter, mcp, ...); only 'function' tools are.",
                             param=f"tools[{i}].type", code="unsupported_tool")
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise BadRequest(f"tools[{i}].name is required.", param=f"tools[{i}].name",
                             code="missing_required_parameter")
        function: Json = {"name": tool["name"]}
        for key in ("description", "parameters", "strict"):
            if tool.get(key) is not None:
                function[key] = tool[key]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, Mapping) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise BadRequest(f"tool_choice {choice!r} is not supported: use 'auto', 'none', 'required' or "
                     "{'type': 'function', 'name': ...}.", param="tool_choice", code="unsupported_value")


def _response_format(fmt: Any) -> Json | None:
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        if not isinstance(fmt.get("name"), str) or not isinstance(fmt.get("schema"), Mapping):
            raise BadRequest("text.format of type json_schema needs 'name' and 'schema'.", param="text.format",
                             code="missing_required_parameter")
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if fmt.get(k) is not None}
        return {"type": "json_schema", "json_schema": schema}
    raise BadRequest(f"text.format.type {kind!r} is not supported: use 'text', 'json_object' or 'json_schema'.",
                     param="text.format.type", code="unsupported_value")


def _echo(body: Mapping[str, Any], text: Any, reasoning: Any) -> Json:
    """The request fields a ``response`` object carries (OpenAI's defaults where the client sent none)."""
    return {
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {},
        "parallel_tool_calls": body.get("parallel_tool_calls", True) is not False,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": (reasoning or {}).get("effort"), "summary": (reasoning or {}).get("summary")},
        "store": body.get("store") is not False,
        "temperature": body.get("temperature", 1.0),
        "text": {"format": (text or {}).get("format") or {"type": "text"},
                 **({"verbosity": text["verbosity"]} if (text or {}).get("verbosity") else {})},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": list(body.get("tools") or []),
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation") or "disabled",
        "user": body.get("user"),
    }
