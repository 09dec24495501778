"""Responses input items: checked (:func:`input_items`) and turned into chat messages (:func:`to_messages`).

Items: messages (``type`` "message" or omitted; roles user, system, developer, assistant; content
a string or input_text / output_text / refusal / input_image parts), ``function_call`` and
``function_call_output``; ``reasoning`` items are accepted and left out of the chat messages (no
chat backend takes them back); an ``item_reference`` is replaced by the stored output item it
names. Anything else is a 400 naming the item.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import BadRequest

Json = dict[str, Any]
_ROLES = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}
_TEXT_PARTS = {"input_text": "text", "output_text": "text", "refusal": "refusal"}
_ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning", "item_reference")


def input_items(value: Any, stored_item: Callable[[str], Json | None]) -> list[Json]:
    """The request's ``input`` as a list of checked items (a string is one user message);
    ``stored_item`` finds the output item an ``item_reference`` names."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list):
        raise BadRequest("'input' must be a string or an array of input items.", param="input")
    out: list[Json] = []
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, Mapping):
            raise BadRequest(f"{where} must be an object.", param=where)
        kind = item.get("type", "message")
        if kind == "message":
            _check_message(item, where)
            out.append({**item, "type": "message"})
            continue
        if kind == "function_call":
            for key in ("call_id", "name", "arguments"):
                _require_str(item, key, where)
        elif kind == "function_call_output":
            _require_str(item, "call_id", where)
            if not isinstance(item.get("output"), (str, list)):
                raise BadRequest(f"{where}.output must be a string or an array of content parts.",
                                 param=f"{where}.output", code="missing_required_parameter")
            _output_text(item["output"], f"{where}.output")
        elif kind == "item_reference":
            _require_str(item, "id", where)
            found = stored_item(item["id"])
            if found is None:
                raise BadRequest(f"Item with id '{item['id']}' not found.", param=f"{where}.id", code="item_not_found")
            out.append(found)
            continue
        elif kind not in _ITEM_TYPES:
            raise BadRequest(f"{where}.type {kind!r} is not supported: use one of {list(_ITEM_TYPES)} "
                             "(hosted tool calls are not served by this proxy).",
                             param=f"{where}.type", code="unsupported_value")
        out.append(dict(item))
    return out


def to_messages(items: list[Json]) -> list[Json]:
    """Chat messages for checked items; consecutive function calls join the assistant turn before them."""
    messages: list[Json] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            role = _ROLES[item["role"]]
            messages.append({"role": role, "content": _content(item["content"], keep_parts=role == "user")})
        elif kind == "function_call":
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": item["call_id"],
                             "content": _output_text(item["output"], "output")})
    return messages


def _check_message(item: Mapping[str, Any], where: str) -> None:
    role = item.get("role")
    if role not in _ROLES:
        raise BadRequest(f"{where}.role must be one of {sorted(_ROLES)}, got {role!r}.", param=f"{where}.role")
    content = item.get("content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise BadRequest(f"{where}.content must be a string or an array of content parts.",
                         param=f"{where}.content", code="missing_required_parameter")
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind in _TEXT_PARTS:
            _require_str(part, _TEXT_PARTS[kind], at)
        elif kind == "input_image":
            if not isinstance(part.get("image_url"), str):
                raise BadRequest(f"{at}: only images given by 'image_url' (a URL or a data: URL) are supported; "
                                 "this proxy has no Files API for 'file_id'.", param=f"{at}.image_url",
                                 code="unsupported_value")
        else:
            raise BadRequest(f"{at}.type {kind!r} is not supported: use input_text, input_image, output_text "
                             "or refusal (files and audio are not served on /v1/responses).",
                             param=f"{at}.type", code="unsupported_value")


def _require_str(item: Mapping[str, Any], key: str, where: str) -> None:
    if not isinstance(item.get(key), str):
        raise BadRequest(f"{where}.{key} is required (a string).", param=f"{where}.{key}",
                         code="missing_required_parameter")


def _content(content: str | list[Json], *, keep_parts: bool) -> str | list[Json]:
    """Text-only content becomes one string; a user turn with images keeps chat content parts."""
    if isinstance(content, str):
        return content
    if not keep_parts or all(p["type"] in _TEXT_PARTS for p in content):
        return "\n".join(p[_TEXT_PARTS[p["type"]]] for p in content if p["type"] in _TEXT_PARTS)
    parts: list[Json] = []
    for p in content:
        if p["type"] in _TEXT_PARTS:
            parts.append({"type": "text", "text": p[_TEXT_PARTS[p["type"]]]})
        else:
            image: Json = {"url": p["image_url"]}
            if p.get("detail") in ("low", "high", "auto"):
                image["detail"] = p["detail"]
            parts.append({"type": "image_url", "image_url": image})
    return parts


def _output_text(output: str | list[Any], where: str) -> str:
    """A function call's output as the text a chat tool message carries (text parts joined)."""
    if isinstance(output, str):
        return output
    texts: list[str] = []
    for j, part in enumerate(output):
        if not (isinstance(part, Mapping) and part.get("type") in ("input_text", "output_text")
                and isinstance(part.get("text"), str)):
            raise BadRequest(f"{where}[{j}]: only text parts are supported in a function call's output.",
                             param=f"{where}[{j}]", code="unsupported_value")
        texts.append(part["text"])
    return "\n".join(texts)
