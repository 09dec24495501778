"""SGLang's answers in OpenAI's schema: the fields its OpenAI server adds are left out.

SGLang adds to chat and completion objects, streamed and not: ``choices[].matched_stop`` (the
stop string or token that ended the answer), ``reasoning_content: null`` in each message or
delta when no reasoning parser ran, ``usage.reasoning_tokens: 0`` and ``metadata``
(``{"weight_version": …}``). None is in OpenAI's schema; strict clients and schema validators
reject them, so they are cut from the bytes on their way through. A ``reasoning_content`` that
carries text and a non-zero ``reasoning_tokens`` are kept: clients read them (DeepSeek's API
sends both).

The cut is made on the bytes, not on parsed JSON, so no event is decoded twice: SGLang writes
these fields in one fixed form (``,"key":value`` after the first key of their object), and a
JSON string can never contain that sequence unescaped, so text is never touched.
"""

from __future__ import annotations

import re

_EXTRA = re.compile(
    rb',"(?:matched_stop":(?:null|-?\d+|"(?:[^"\\]|\\.)*")'
    rb'|reasoning_content":null'
    rb'|reasoning_tokens":0'
    rb'|metadata":(?:null|\{[^{}]*\}))')


def openai_bytes(payload: bytes) -> bytes:
    """One SGLang answer or stream event with SGLang's own fields cut (module doc)."""
    return _EXTRA.sub(b"", payload)
