"""Anthropic Messages request -> OpenAI chat.completions request, with field-path errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import orjson

from ._common import AnthropicRequestError, Json, is_int

_DROPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})


def _fail(param: str, problem: str) -> NoReturn:
    raise AnthropicRequestError(f"{param}: {problem}", param)


def _obj(value: Any, param: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _fail(param, "must be an object")
    return value


def _list(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        _fail(param, "must be an array")
    return value


def _str(value: Any, param: str) -> str:
    if not isinstance(value, str):
        _fail(param, "is required and must be a string" if value is None else "must be a string")
    return value


def _number(value: Any, param: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(param, "must be a number")
    return float(value)


def _bool(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        _fail(param, "must be a boolean")
    return value


def to_openai_request(body: Mapping[str, Any]) -> Json:
    """Translate an Anthropic Messages request body into an OpenAI chat.completions body."""
    if not isinstance(body, Mapping):
        raise AnthropicRequestError("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        _fail("model", "is required and must be a non-empty string")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        _fail("max_tokens", "is required")
    if not is_int(max_tokens) or max_tokens < 1:
        _fail("max_tokens", "must be an integer >= 1")
    out: Json = {"model": model,
                 "messages": _system(body.get("system")) + _messages(body.get("messages")),
                 "max_tokens": max_tokens}
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
    texts = []
    for i, raw in enumerate(_list(system, "system")):
        block = _obj(raw, f"system[{i}]")
        if block.get("type") != "text":
            _fail(f"system[{i}].type", "system blocks must be of type 'text'")
        texts.append(_str(block.get("text"), f"system[{i}].text"))
    return [{"role": "system", "content": "\n\n".join(texts)}] if texts else []


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
            parts.append({"type": "text", "text": _str(block.get("text"), f"{path}.text")})
        elif kind == "image":
            parts.append(_image_part(block, path))
        elif kind == "tool_result":
            message, images = _tool_result(block, path)
            tool_messages.append(message)
            parts.extend(images)
        elif kind not in _DROPPED_BLOCKS:
            _unsupported(kind, path, f"{param} (role 'user')")
    if not parts:
        return tool_messages
    only_text = len(parts) == 1 and parts[0]["type"] == "text"
    return [*tool_messages, {"role": "user", "content": parts[0]["text"] if only_text else parts}]


def _assistant_turn(blocks: list[tuple[str, Mapping[str, Any]]], param: str) -> Json:
    texts: list[str] = []
    calls: list[Json] = []
    for path, block in blocks:
        kind = block["type"]
        if kind == "text":
            texts.append(_str(block.get("text"), f"{path}.text"))
        elif kind == "tool_use":
            tool_input = _obj(block.get("input"), f"{path}.input")
            calls.append({"id": _str(block.get("id"), f"{path}.id"), "type": "function",
                          "function": {"name": _str(block.get("name"), f"{path}.name"),
                                       "arguments": orjson.dumps(tool_input).decode()}})
        elif kind not in _DROPPED_BLOCKS:
            _unsupported(kind, path, f"{param} (role 'assistant')")
    message: Json = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _image_part(block: Mapping[str, Any], param: str) -> Json:
    source = _obj(block.get("source"), f"{param}.source")
    kind = source.get("type")
    if kind == "base64":
        media = _str(source.get("media_type"), f"{param}.source.media_type")
        url = f"data:{media};base64,{_str(source.get('data'), f'{param}.source.data')}"
    elif kind == "url":
        url = _str(source.get("url"), f"{param}.source.url")
    else:
        _fail(f"{param}.source.type", f"image source type must be 'base64' or 'url', got {kind!r}")
    return {"type": "image_url", "image_url": {"url": url}}


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
                images.append(_image_part(raw, path))
            else:
                _fail(f"{path}.type", f"tool_result content blocks must be 'text' or 'image', got {kind!r}")
    text = "\n".join(texts)
    if block.get("is_error") is not None and _bool(block["is_error"], f"{param}.is_error"):
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": tool_use_id, "content": text}, images


def _tools(value: Any) -> list[Json]:
    out = []
    for i, raw in enumerate(_list(value, "tools")):
        param = f"tools[{i}]"
        kind = _obj(raw, param).get("type")
        if kind not in (None, "custom"):
            _fail(f"{param}.type", f"server tool {kind!r} is not supported; only client tools are")
        function: Json = {"name": _str(raw.get("name"), f"{param}.name"),
                          "parameters": dict(_obj(raw.get("input_schema"), f"{param}.input_schema"))}
        if raw.get("description") is not None:
            function["description"] = _str(raw["description"], f"{param}.description")
        out.append({"type": "function", "function": function})
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
