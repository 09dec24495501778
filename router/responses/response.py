"""A chat completion -> a Responses ``response`` object, and the pieces the stream shares with it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from .request import Origin

Json = dict[str, Any]
# chat finish_reason -> the response's incomplete_details.reason (anything else: completed)
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_of(usage: Any) -> Json | None:
    """Chat usage in the Responses shape (None when the backend reported none)."""
    if not isinstance(usage, Mapping):
        return None
    prompt, completion = _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": _int(cached), "cache_write_tokens": 0},
            "output_tokens": completion, "output_tokens_details": {"reasoning_tokens": _int(reasoning)},
            "total_tokens": _int(usage.get("total_tokens")) or prompt + completion}


def text_part(text: str) -> Json:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, parts: list[Json], status: str) -> Json:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": parts}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> Json:
    return {"id": item_id, "type": "function_call", "status": status, "call_id": call_id, "name": name,
            "arguments": arguments}


def outcome(finish: Any) -> tuple[str, Json | None]:
    """The response's status and incomplete_details for a chat finish_reason."""
    reason = _INCOMPLETE.get(finish) if isinstance(finish, str) else None
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def response_object(origin: Origin, *, model: str, status: str, output: list[Json], usage: Json | None,
                    incomplete_details: Json | None = None, error: Json | None = None) -> Json:
    """OpenAI's ``response`` object: ids, status, output, usage and the request's echoed fields."""
    done = status in ("completed", "incomplete", "failed")
    return {"id": origin.id, "object": "response", "created_at": origin.created_at, "status": status,
            "background": False, "completed_at": int(time.time()) if status == "completed" else None,
            "error": error, "incomplete_details": incomplete_details, "model": model,
            "output": output, **origin.echo, "usage": usage if done else None}


def from_chat(reply: Mapping[str, Any], origin: Origin, model: str | None = None) -> Json:
    """The ``response`` object for a whole chat completion (``model`` overrides the upstream's name)."""
    choices = reply.get("choices") or []
    choice = choices[0] if choices and isinstance(choices[0], Mapping) else {}
    message = choice.get("message") or {}
    status, incomplete = outcome(choice.get("finish_reason"))
    item_status = "incomplete" if status == "incomplete" else "completed"
    parts: list[Json] = []
    text = message.get("content")
    if isinstance(text, str) and text:
        parts.append(text_part(text))
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    calls = [c for c in message.get("tool_calls") or [] if isinstance(c, Mapping)]
    output: list[Json] = []
    if parts or not calls:
        output.append(message_item(new_id("msg"), parts or [text_part("")], item_status))
    for call in calls:
        function = call.get("function") or {}
        args = function.get("arguments")
        output.append(call_item(new_id("fc"), call.get("id") or new_id("call"), function.get("name") or "",
                                args if isinstance(args, str) else "{}", "completed"))
    return response_object(origin, model=model or str(reply.get("model") or ""), status=status, output=output,
                           usage=usage_of(reply.get("usage")), incomplete_details=incomplete)
