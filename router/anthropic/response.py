"""OpenAI chat.completion -> Anthropic message, plus the mapping helpers the stream shares."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ._common import RAW_ARGUMENTS_KEY, Json, is_int

_FINISH_TO_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                   "function_call": "tool_use", "content_filter": "refusal"}


def message_id(openai_id: Any) -> str:
    if isinstance(openai_id, str) and openai_id:
        core = openai_id.removeprefix("chatcmpl-")
        return core if core.startswith("msg_") else f"msg_{core}"
    return f"msg_{uuid.uuid4().hex}"


def _int(value: Any) -> int:
    return value if is_int(value) and value > 0 else 0


def usage_from_openai(usage: Any) -> Json:
    usage = usage if isinstance(usage, Mapping) else {}
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, Mapping) else None
    out: Json = {"input_tokens": max(_int(usage.get("prompt_tokens")) - _int(cached), 0),
                 "output_tokens": _int(usage.get("completion_tokens"))}
    if is_int(cached):
        out["cache_read_input_tokens"] = _int(cached)
    return out


def matched_stop(choice: Mapping[str, Any], stop_sequences: Sequence[str]) -> str | None:
    for key in ("matched_stop", "stop_reason"):
        value = choice.get(key)
        if isinstance(value, str) and (not stop_sequences or value in stop_sequences):
            return value
    return None


def stop_reason(finish: Any, matched: str | None, has_tool_use: bool) -> tuple[str, str | None]:
    if finish == "stop" and matched is not None:
        return "stop_sequence", matched
    reason = _FINISH_TO_STOP.get(finish, "end_turn") if isinstance(finish, str) else "end_turn"
    return ("tool_use" if has_tool_use and reason == "end_turn" else reason), None


def _parse_arguments(raw: Any) -> Json:
    """Tool-call arguments as an object; anything else is kept as ``{RAW_ARGUMENTS_KEY: raw}``."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        parsed = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return {RAW_ARGUMENTS_KEY: raw}
    return parsed if isinstance(parsed, dict) else {RAW_ARGUMENTS_KEY: raw}


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text") or "" for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return ""


def thinking_blocks(message: Mapping[str, Any], reasoning: bool) -> list[Json]:
    """Anthropic thinking blocks from litellm's ``thinking_blocks`` (signatures kept), else, when the
    request asked for thinking (``reasoning``), from ``reasoning_content`` (SGLang's reasoning parser,
    OpenAI-style providers: no signature there, so ``""``)."""
    out: list[Json] = []
    for block in message.get("thinking_blocks") or ():
        if not isinstance(block, Mapping):
            continue
        if block.get("type") == "redacted_thinking":
            out.append({"type": "redacted_thinking", "data": block.get("data") or ""})
        elif block.get("type") == "thinking":
            out.append({"type": "thinking", "thinking": block.get("thinking") or "",
                        "signature": block.get("signature") or ""})
    text = message.get("reasoning_content")
    if not out and reasoning and isinstance(text, str) and text:
        out.append({"type": "thinking", "thinking": text, "signature": ""})
    return out


def from_openai_response(resp: Mapping[str, Any], *, model: str | None = None,
                         stop_sequences: Sequence[str] | None = None, thinking: bool = False) -> Json:
    """Translate an OpenAI chat.completion into an Anthropic ``message`` object.

    ``model`` overrides the upstream's model name; ``stop_sequences`` (the request's) narrows
    which backend-reported matched stop strings count as a ``stop_sequence`` stop; ``thinking``
    (the request enabled it) exposes a bare ``reasoning_content`` as a thinking block.
    """
    choices = resp.get("choices") or []
    choice = choices[0] if choices and isinstance(choices[0], Mapping) else {}
    message = choice.get("message") or {}
    msg_id = message_id(resp.get("id"))
    refusal = message.get("refusal") if isinstance(message.get("refusal"), str) else ""
    text = _message_text(message.get("content")) or refusal
    content = thinking_blocks(message, thinking) + ([{"type": "text", "text": text}] if text else [])
    for i, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        content.append({"type": "tool_use", "id": call.get("id") or f"toolu_{msg_id[4:]}_{i}",
                        "name": function.get("name") or "",
                        "input": _parse_arguments(function.get("arguments"))})
    finish = choice.get("finish_reason")
    if refusal and finish in (None, "stop"):
        finish = "content_filter"
    matched = matched_stop(choice, stop_sequences or ())
    reason, sequence = stop_reason(finish, matched, bool(message.get("tool_calls")))
    return {"id": msg_id, "type": "message", "role": "assistant",
            "model": model or resp.get("model") or "", "content": content,
            "stop_reason": reason, "stop_sequence": sequence, "usage": usage_from_openai(resp.get("usage"))}


