"""Content blocks that become more than a text part: images, documents, thinking, ``cache_control``.

The chat body spells them as litellm does, which forwards them to Anthropic (docs.litellm.ai,
"Anthropic": prompt caching, PDF input, extended thinking):

    image {base64 | url}              -> image_url part (base64 as a data: URL)
    document, source text / content   -> text parts (and image parts for a content source's images):
                                         title, context and text joined with blank lines; every backend
    document, source base64 / url     -> a ``file`` part (``file_data`` data: URL / ``file_id`` URL, as
                                         litellm reads PDFs) holding the block itself under ``document``:
                                         Claude models get the block as it is (router/backends/litellm.py),
                                         other tiers a 400 naming it (router/backends/fields.py)
    thinking / redacted_thinking      -> an entry of the assistant message's ``thinking_blocks``
    cache_control (any block)         -> ``cache_control`` on the part it became (the last, for a
                                         text document); non-Claude tiers get it removed and named
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._check import fail, obj, string
from ._common import Json

DOCUMENT_KEY = "document"  # of a file part: the Anthropic document block it came from


def cached(part: Json, block: Mapping[str, Any], param: str) -> Json:
    """``part`` with the block's ``cache_control`` (checked), if it has one."""
    control = block.get("cache_control")
    if control is not None:
        string(obj(control, f"{param}.cache_control").get("type"), f"{param}.cache_control.type")
        part["cache_control"] = dict(control)
    return part


def image_part(block: Mapping[str, Any], param: str) -> Json:
    source = obj(block.get("source"), f"{param}.source")
    kind = source.get("type")
    if kind == "base64":
        media = string(source.get("media_type"), f"{param}.source.media_type")
        url = f"data:{media};base64,{string(source.get('data'), f'{param}.source.data')}"
    elif kind == "url":
        url = string(source.get("url"), f"{param}.source.url")
    else:
        fail(f"{param}.source.type", f"image source type must be 'base64' or 'url', got {kind!r}")
    return cached({"type": "image_url", "image_url": {"url": url}}, block, param)


def document_parts(block: Mapping[str, Any], param: str) -> list[Json]:
    source = obj(block.get("source"), f"{param}.source")
    kind = source.get("type")
    head = [string(block[k], f"{param}.{k}") for k in ("title", "context") if block.get(k) is not None]
    if kind == "text":
        parts: list[Json] = [{"type": "text", "text": "\n\n".join([*head, string(source.get("data"),
                                                                                  f"{param}.source.data")])}]
    elif kind == "content":
        parts = _content_source(source.get("content"), f"{param}.source.content", head)
    elif kind == "base64":
        media = string(source.get("media_type"), f"{param}.source.media_type")
        data = string(source.get("data"), f"{param}.source.data")
        parts = [{"type": "file", "file": {"file_data": f"data:{media};base64,{data}"}, DOCUMENT_KEY: dict(block)}]
    elif kind == "url":
        parts = [{"type": "file", "file": {"file_id": string(source.get("url"), f"{param}.source.url")},
                  DOCUMENT_KEY: dict(block)}]
    else:
        fail(f"{param}.source.type", f"document source type must be 'text', 'content', 'base64' or 'url', "
                                     f"got {kind!r}")
    cached(parts[-1], block, param)
    return parts


def _content_source(content: Any, param: str, head: list[str]) -> list[Json]:
    if isinstance(content, str):
        return [{"type": "text", "text": "\n\n".join([*head, content])}]
    if not isinstance(content, list) or not content:
        fail(param, "must be a string or a non-empty array of text and image blocks")
    parts: list[Json] = [{"type": "text", "text": "\n\n".join(head)}] if head else []
    for i, raw in enumerate(content):
        path = f"{param}[{i}]"
        kind = obj(raw, path).get("type")
        if kind == "text":
            parts.append(cached({"type": "text", "text": string(raw.get("text"), f"{path}.text")}, raw, path))
        elif kind == "image":
            parts.append(image_part(raw, path))
        else:
            fail(f"{path}.type", f"document content blocks must be 'text' or 'image', got {kind!r}")
    return parts


def thinking_block(block: Mapping[str, Any], param: str) -> Json:
    """An assistant turn's thinking block, as litellm's ``thinking_blocks`` entry (Claude needs it back
    with its signature when tools are used with thinking)."""
    if block["type"] == "redacted_thinking":
        return {"type": "redacted_thinking", "data": string(block.get("data"), f"{param}.data")}
    return {"type": "thinking", "thinking": string(block.get("thinking"), f"{param}.thinking"),
            "signature": string(block.get("signature"), f"{param}.signature")}


def thinking_param(value: Any) -> Json:
    """``thinking``: ``{type: enabled, budget_tokens: int}`` or ``{type: disabled}``, checked."""
    kind = obj(value, "thinking").get("type")
    if kind == "disabled":
        return {"type": "disabled"}
    if kind != "enabled":
        fail("thinking.type", f"must be 'enabled' or 'disabled', got {kind!r}")
    budget = value.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        fail("thinking.budget_tokens", "is required and must be a positive integer")
    return {"type": "enabled", "budget_tokens": budget}
