"""Prompt fingerprints for prefix-cache affinity: chain-hashed blocks of the canonical prompt.

SGLang caches KV by token prefix (a radix tree). Without the replica's tokenizer the proxy
approximates it with text in the order the chat template lays it out:

1. canonical text: the tools (as compact JSON), then each message as ``<|role|>`` + its text
   (system first, as sent); a completions prompt is taken as is;
2. cut into blocks of ``block_chars`` characters (about ``block_chars / 4`` tokens);
3. chain-hash: ``h_0 = H(model)``, ``h_i = H(h_{i-1} + block_i)`` (BLAKE2b, 8 bytes, hex), so a
   block's hash stands for the whole prefix up to its end and two prompts share ``h_i`` only if
   they share their first ``i`` blocks;
4. at most ``max_blocks`` blocks are kept (the head of a very long prompt is what repeats).

The last, partial block is included: it lets an identical prompt match to its end.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import orjson

from classifiers.text import content_text


def canonical_text(body: dict[str, Any]) -> str:
    """The prompt as the chat template would order it (tools, then messages), or the raw prompt."""
    if "messages" not in body:
        prompt = body.get("prompt")
        if isinstance(prompt, str):
            return prompt
        return "\n".join(p for p in prompt if isinstance(p, str)) if isinstance(prompt, list) else ""
    parts: list[str] = []
    tools = body.get("tools")
    if tools:
        parts.append("<|tools|>" + orjson.dumps(tools).decode())
    for m in body["messages"]:
        if isinstance(m, dict):
            parts.append(f"<|{m.get('role', '')}|>" + content_text(m.get("content")))
    return "\n".join(parts)


@functools.lru_cache(maxsize=256)
def _seed(model: str) -> bytes:
    """``h_0 = H(model)``: the same for every prompt to one model."""
    return hashlib.blake2b(model.encode(), digest_size=8).digest()


def fingerprint(body: dict[str, Any], model: str, *, block_chars: int = 256, max_blocks: int = 128) -> list[str]:
    """The chain hashes of ``body``'s prompt blocks (see the module docstring)."""
    return fingerprint_text(canonical_text(body), model, block_chars=block_chars, max_blocks=max_blocks)


def fingerprint_text(text: str, model: str, *, block_chars: int = 256, max_blocks: int = 128) -> list[str]:
    """The chain hashes of an already canonical prompt text."""
    h = _seed(model)
    out: list[str] = []
    for start in range(0, min(len(text), block_chars * max_blocks), block_chars):
        h = hashlib.blake2b(h + text[start:start + block_chars].encode(), digest_size=8).digest()
        out.append(h.hex())
    return out
