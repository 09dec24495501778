"""Images in chat content, as a text-only and a vision model see them.

Image parts are OpenAI's ``{"type": "image_url", "image_url": {"url", "detail"}}`` (or a bare
URL string), the Responses API's ``input_image`` and Anthropic's ``{"type": "image", "source"}``.

* A text-only model drops them from the prompt: SGLang, serving a model without a multimodal
  processor, extracts the images while applying the chat template and never looks at them
  (``tokenizer_manager`` runs the processor only ``if self.mm_processor``), so the request
  succeeds and the image costs no tokens.
* A vision model sees each image as ``IMAGE_TOKENS`` prompt tokens (``LOW_DETAIL_TOKENS`` for
  ``detail: "low"``): a run of single-token symbols derived from a hash of the image's URL or
  data, so the same image gives the same tokens (and hits the prefix cache) and another image
  does not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

IMAGE_TOKENS = 256
LOW_DETAIL_TOKENS = 64
IMAGE_TYPES = ("image_url", "input_image", "image")
_SYMBOLS = 0x2800  # Braille patterns: 256 symbols, one token each in fleet.sim.tokenize


def image_positions(messages: Sequence[Any]) -> list[tuple[int, int]]:
    """(message index, part index) of every image part."""
    return [(i, j) for i, m in enumerate(messages) if isinstance(m, Mapping) and isinstance(m.get("content"), list)
            for j, part in enumerate(m["content"]) if _is_image(part)]


def with_images(messages: Sequence[Any], *, vision: bool) -> list[Any]:
    """The messages with image parts replaced by their tokens (``vision``) or removed."""
    out: list[Any] = []
    for m in messages:
        content = m.get("content") if isinstance(m, Mapping) else None
        if not isinstance(content, list) or not any(_is_image(p) for p in content):
            out.append(m)
            continue
        parts = [({"type": "text", "text": placeholder(p)} if vision else None) if _is_image(p) else p
                 for p in content]
        out.append({**m, "content": [p for p in parts if p is not None]})
    return out


def placeholder(part: Mapping[str, Any]) -> str:
    """The text whose tokens stand for one image."""
    source = part.get("image_url") or part.get("source") or part.get("file_id") or ""
    detail = source.get("detail") if isinstance(source, Mapping) else part.get("detail")
    n = LOW_DETAIL_TOKENS if detail == "low" else IMAGE_TOKENS
    digest = hashlib.shake_128(repr(source).encode()).digest(n)
    return "".join(chr(_SYMBOLS + b) for b in digest)


def _is_image(part: Any) -> bool:
    return isinstance(part, Mapping) and part.get("type") in IMAGE_TYPES
