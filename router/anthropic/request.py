"""Anthropic Messages request -> OpenAI chat.completions request, with field-path errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import orjson

from ._check import array as _list
from ._check import boolean as _bool
from ._check import fail as _fail
from ._check import number as _number
from ._check import obj as _obj
from ._check import string as _str
from ._common import AnthropicRequestError, Json, is_int
from .content import cached, document_parts, image_part, thinking_block, thinking_param

_THINKING_BLOCKS = frozenset({"thinking", "redacted_thinking"})


def to_openai_request(body: Mapping[str, Any], *, require_max_tokens: bool = True) -> Json:
    """Translate an Anthropic Messages request body into an OpenAI chat.completions body.

    ``require_max_tokens=False`` for ``count_tokens``, whose body has none (none is then sent)."""
    if not isinstance(body, Mapping):
        raise AnthropicRequestError("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        _fail("model", "is required and must be a non-empty string")
    max_tokens = body.get("max_tokens")
    if max_tokens is None and require_max_tokens:
        _fail("max_tokens", "is required")
    if max_tokens is not None and (not is_int(max_tokens) or max_tokens < 1):
        _fail("max_tokens", "must be an integer >= 1")
    out: Json = {"model": model, "messages": _system(body.get("system")) + _messages(body.get("messages"))}
    if max_tokens is not None:
        out["max_tokens"] = max_tokens
    if body.get("thinking") is not None:
        out["thinking"] = thinking_param(body["thinking"])
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = _number(body[key], key)
    if body.get("stop_sequences") is not None:
        seqs = _list(body["stop_sequences"], "stop_sequences")
        out["stop"] = [_str(s, f"stop_sequences[{i}]") for i, s in enumerate(seqs)]
    if body.get("metadata") is not None:
        user = _obj(body["metadata"], "metadata").get("user_id")
        if user is not None:
            out["user"] = _str(user, "metadata.user_id")
    tools = _tools(body["tools"]) if body.get("tools") is not None else []
    if tools:
        out["tools"] = tools
        if body.get("tool_choice") is not None:
            out.update(_tool_choice(body["tool_choice"]))
    if body.get("output_config") is not None:
        out.update(_output_format(body["output_config"]))
    if body.get("stream") is not None and _bool(body["stream"], "stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _system(system: Any) -> list[Json]:
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    parts = []
    for i, raw in enumerate(_list(system, "system")):
        block = _obj(raw, f"system[{i}]")
        if block.get("type") != "text":
            _fail(f"system[{i}].type", "system blocks must be of type 'text'")
        parts.append(cached({"type": "text", "text": _str(block.get("text"), f"system[{i}].text")}, block,
                            f"system[{i}]"))
    if any("cache_control" in p for p in parts):  # the blocks kept apart: a cache breakpoint ends one
        return [{"role": "system", "content": parts}]
    return [{"role": "system", "content": "\n\n".join(p["text"] for p in parts)}] if parts else []


def _messages(value: Any) -> list[Json]:
    if value is None:
        _fail("messages", "is required")
    if not _list(value, "messages"):
        _fail("messages", "must contain at least one message")
    out: list[Json] = []
    for i, raw in enumerate(value):
        param = f"messages[{i}]"
        role = _obj(raw, param).get("role")
        if role not in ("user", "assistant"):
            _fail(f"{param}.role", f"must be 'user' or 'assistant', got {role!r}")
        blocks = _blocks(raw.get("content"), f"{param}.content")
        out.extend(_user_turn(blocks, param) if role == "user" else [_assistant_turn(blocks, param)])
    return out


def _blocks(content: Any, param: str) -> list[tuple[str, Mapping[str, Any]]]:
    """Content as (path, block) pairs; string content is one text block."""
    if isinstance(content, str):
        return [(param, {"type": "text", "text": content})]
    if not _list(content, param):
        _fail(param, "must not be empty")
    pairs = []
    for j, raw in enumerate(content):
        block = _obj(raw, f"{param}[{j}]")
        _str(block.get("type"), f"{param}[{j}].type")
        pairs.append((f"{param}[{j}]", block))
    return pairs


def _unsupported(kind: str, param: str, where: str) -> NoReturn:
    _fail(f"{param}.type", f"content block type {kind!r} is not supported in {where}")


def _user_turn(blocks: list[tuple[str, Mapping[str, Any]]], param: str) -> list[Json]:
    tool_messages: list[Json] = []
    parts: list[Json] = []
    for path, block in blocks:
        kind = block["type"]
        if kind == "text":
            parts.append(cached({"type": "text", "text": _str(block.get("text"), f"{path}.text")}, block, path))
        elif kind == "image":
            parts.append(image_part(block, path))
        elif kind == "document":
            parts.extend(document_parts(block, path))
        elif kind == "tool_result":
            message, images = _tool_result(block, path)
            tool_messages.append(message)
            parts.extend(images)
        elif kind not in _THINKING_BLOCKS:
            _unsupported(kind, path, f"{param} (role 'user')")
    if not parts:
        return tool_messages
    only_text = len(parts) == 1 and parts[0]["type"] == "text" and "cache_control" not in parts[0]
    return [*tool_messages, {"role": "user", "content": parts[0]["text"] if only_text else parts}]


def _assistant_turn(blocks: list[tuple[str, Mapping[str, Any]]], param: str) -> Json:
    texts: list[Json] = []
    calls: list[Json] = []
    thinking: list[Json] = []
    for path, block in blocks:
        kind = block["type"]
        if kind == "text":
            texts.append(cached({"type": "text", "text": _str(block.get("text"), f"{path}.text")}, block, path))
        elif kind in _THINKING_BLOCKS:
            thinking.append(thinking_block(block, path))
        elif kind == "tool_use":
            tool_input = _obj(block.get("input"), f"{path}.input")
            calls.append({"id": _str(block.get("id"), f"{path}.id"), "type": "function",
                          "function": {"name": _str(block.get("name"), f"{path}.name"),
                                       "arguments": orjson.dumps(tool_input).decode()}})
        else:
            _unsupported(kind, path, f"{param} (role 'assistant')")
    content: str | list[Json] | None = "".join(t["text"] for t in texts) if texts or not calls else None
    if any("cache_control" in t for t in texts):
        content = texts
    message: Json = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["thinking_blocks"] = thinking
    return message


def _tool_result(block: Mapping[str, Any], param: str) -> tuple[Json, list[Json]]:
    tool_use_id = _str(block.get("tool_use_id"), f"{param}.tool_use_id")
    content = block.get("content")
    texts: list[str] = []
    images: list[Json] = []
    if isinstance(content, str):
        texts.append(content)
    elif content is not None:
        for k, raw in enumerate(_list(content, f"{param}.content")):
            path = f"{param}.content[{k}]"
            kind = _obj(raw, path).get("type")
            if kind == "text":
                texts.append(_str(raw.get("text"), f"{path}.text"))
            elif kind == "image":
                images.append(image_part(raw, path))
            else:
                _fail(f"{path}.type", f"tool_result content blocks must be 'text' or 'image', got {kind!r}")
    text = "\n".join(texts)
    if block.get("is_error") is not None and _bool(block["is_error"], f"{param}.is_error"):
        text = f"Error: {text}"
    part = cached({"type": "text", "text": text}, block, param)
    return {"role": "tool", "tool_call_id": tool_use_id, "content": [part] if "cache_control" in part else text}, images


def _tools(value: Any) -> list[Json]:
    out = []
    for i, raw in enumerate(_list(value, "tools")):
        param = f"tools[{i}]"
        kind = _obj(raw, param).get("type")
        if kind not in (None, "custom"):  # a server tool (web search, code execution, ...): as it is
            _str(kind, f"{param}.type")
            _str(raw.get("name"), f"{param}.name")
            out.append(dict(raw))
            continue
        function: Json = {"name": _str(raw.get("name"), f"{param}.name"),
                          "parameters": dict(_obj(raw.get("input_schema"), f"{param}.input_schema"))}
        if raw.get("description") is not None:
            function["description"] = _str(raw["description"], f"{param}.description")
        out.append(cached({"type": "function", "function": function}, raw, param))
    return out


def _tool_choice(value: Any) -> Json:
    choice = _obj(value, "tool_choice")
    kind = choice.get("type")
    simple = {"auto": "auto", "any": "required", "none": "none"}
    if kind in simple:
        out: Json = {"tool_choice": simple[kind]}
    elif kind == "tool":
        name = _str(choice.get("name"), "tool_choice.name")
        out = {"tool_choice": {"type": "function", "function": {"name": name}}}
    else:
        _fail("tool_choice.type", f"must be 'auto', 'any', 'tool' or 'none', got {kind!r}")
    disable = choice.get("disable_parallel_tool_use")
    if disable is not None and _bool(disable, "tool_choice.disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False
    return out




def _output_format(value: Any) -> Json:
    output_format = _obj(value, "output_config").get("format")
    if output_format is None:
        return {}
    kind = _obj(output_format, "output_config.format").get("type")
    if kind != "json_schema":
        _fail("output_config.format.type", f"must be 'json_schema', got {kind!r}")
    schema = dict(_obj(output_format.get("schema"), "output_config.format.schema"))
    return {"response_format": {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}}
