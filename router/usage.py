"""Token usage as reported by a backend, read from OpenAI's ``usage`` object."""

from __future__ import annotations

from typing import Any, NamedTuple


class Usage(NamedTuple):
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int


def usage_of(data: Any) -> Usage | None:
    """The usage in a chat/completions response or its final stream chunk (None when absent)."""
    if not isinstance(data, dict):
        return None
    u = data.get("usage")
    if not isinstance(u, dict):
        return None
    details = u.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(_int(u.get("prompt_tokens")), _int(u.get("completion_tokens")), _int(cached))


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0
