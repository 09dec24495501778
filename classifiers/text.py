"""Which text of a request the classifier scores. Pure functions, no model.

Chat (OpenAI ``messages``): the default mode, ``"last_user"``, scores the text of the last
``user`` message that has any text. It is what the caller is asking now; earlier turns and the system prompt
are mostly context the strong and weak model share, and a single message keeps the text short
for an embedding model that reads only its first 256 tokens. If there is no user message the
last message with any text is used (e.g. a system-only request); if no message has text the
result is ``""``.

Other modes, for experiments (a later issue may pick another default and record it in the
model's ``model.json``):

- ``"all_user"``: every user message, oldest first, joined with a blank line.
- ``"conversation"``: every message with text as ``role: text``, joined with a blank line.

Message ``content`` may be a string, ``None``, or a list of parts; only parts
``{"type": "text", "text": ...}`` (and bare strings) contribute, joined with a newline; images,
audio and other parts are ignored.

Legacy completions (``prompt``): a string is scored as is; a list of strings (a batch sent to
one model) is joined with a blank line; token-id arrays cannot be read without the backend's
tokenizer and score as ``""``.
"""

from __future__ import annotations

from typing import Any, Literal

ChatTextMode = Literal["last_user", "all_user", "conversation"]
CHAT_TEXT_MODES: tuple[ChatTextMode, ...] = ("last_user", "all_user", "conversation")
DEFAULT_CHAT_TEXT_MODE: ChatTextMode = "last_user"
SEPARATOR = "\n\n"


def text_for_chat(messages: list[dict[str, Any]], mode: ChatTextMode = DEFAULT_CHAT_TEXT_MODE) -> str:
    """The text of ``messages`` to score under ``mode`` (see the module docstring)."""
    if mode == "last_user":
        texts = [content_text(m.get("content")) for m in messages if m.get("role") == "user"]
        for text in reversed(texts):
            if text:
                return text
        for m in reversed(messages):
            text = content_text(m.get("content"))
            if text:
                return text
        return ""
    if mode == "all_user":
        return SEPARATOR.join(t for m in messages if m.get("role") == "user" and (t := content_text(m.get("content"))))
    if mode == "conversation":
        return SEPARATOR.join(f"{m.get('role', '')}: {t}" for m in messages if (t := content_text(m.get("content"))))
    raise ValueError(f"unknown chat text mode {mode!r}; expected one of {', '.join(CHAT_TEXT_MODES)}")


def text_for_prompt(prompt: str | list[Any]) -> str:
    """The text of a legacy completions ``prompt``: as is, joined strings, or ``""`` for token ids."""
    if isinstance(prompt, str):
        return prompt
    return SEPARATOR.join(p for p in prompt if isinstance(p, str) and p)


def content_text(content: Any) -> str:
    """The text of one message's ``content``: a string, or the text parts of a list joined by newlines."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p if isinstance(p, str) else p.get("text") if isinstance(p, dict) and p.get("type") == "text" else None
                 for p in content]
        return "\n".join(p for p in parts if isinstance(p, str) and p)
    return ""
