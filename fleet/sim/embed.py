"""``POST /v1/embeddings`` for the simulated SGLang worker and the fake provider.

Vectors are deterministic: each input's unit vector is drawn from a seed made of a hash of the
input (its text, or its token ids) and the model name, so the same text always gets the same
vector and different texts (almost surely) different ones. ``usage.prompt_tokens`` counts the
simulator's tokens. ``encoding_format: base64`` gives OpenAI's encoding (little-endian float32
bytes, base64), which the official SDKs ask for by default.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import struct
from typing import Any

from .tokenize import Tokenizer

DEFAULT_DIMENSIONS = 64
MAX_INPUTS = 2048


class EmbedError(ValueError):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def vector(key: bytes, dimensions: int) -> list[float]:
    """A deterministic unit vector for ``key``."""
    rng = random.Random(hashlib.sha256(key).digest())
    v = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / norm for x in v]


def encode_base64(v: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode("ascii")


def _items(value: Any) -> list[str | list[int]]:
    def tokens(x: Any) -> bool:
        return isinstance(x, list) and bool(x) and all(isinstance(t, int) and not isinstance(t, bool) for t in x)

    if isinstance(value, str):
        items: list[Any] = [value]
    elif tokens(value):
        items = [value]
    elif isinstance(value, list) and value and (all(isinstance(x, str) for x in value)
                                                or all(tokens(x) for x in value)):
        items = list(value)
    else:
        raise EmbedError("'input' must be a string, an array of strings, an array of tokens or an array of "
                         "token arrays, and not empty.", "input")
    if len(items) > MAX_INPUTS:
        raise EmbedError(f"'input' holds at most {MAX_INPUTS} items.", "input")
    if any(x == "" for x in items):
        raise EmbedError("'input' cannot contain an empty string.", "input")
    return items


def embeddings(body: dict[str, Any], tok: Tokenizer, served_model: str) -> dict[str, Any]:
    """OpenAI's embeddings answer for ``body``; raises :class:`EmbedError` for a bad request."""
    items = _items(body.get("input"))
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise EmbedError("'encoding_format' must be 'float' or 'base64'.", "encoding_format")
    dims = body.get("dimensions", DEFAULT_DIMENSIONS)
    if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= 4096:
        raise EmbedError("'dimensions' must be an integer from 1 to 4096.", "dimensions")
    given = body.get("model")
    model = given if isinstance(given, str) and given else served_model
    data, prompt_tokens = [], 0
    for i, item in enumerate(items):
        if isinstance(item, str):
            key, n = item.encode(), tok.count(item)
        else:
            key, n = b"ids:" + ",".join(map(str, item)).encode(), len(item)
        prompt_tokens += n
        v = vector(model.encode() + b"\0" + key, dims)
        data.append({"object": "embedding", "index": i, "embedding": encode_base64(v) if fmt == "base64" else v})
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}}
