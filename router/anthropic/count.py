"""Token counts for ``POST /v1/messages/count_tokens``: the tier's tokenizer where the proxy has it,
else the proxy's own estimate, and which of the two it was.

- A litellm tier whose model litellm places with provider ``openai`` or ``azure``: litellm's
  ``token_counter`` (tiktoken with the model's own encoding, shipped inside litellm, so no network;
  chat framing per message as OpenAI counts it; images at litellm's default size, never fetched).
  ``how`` is ``tokenizer``.
- Everything else (SGLang tiers: the model's tokenizer is on the GPU host, not here; Claude models:
  Anthropic's tokenizer is not public, and litellm would count with tiktoken): the estimate the proxy
  routes by (:meth:`router.parse.ParsedRequest.prompt_tokens_estimate`: about 4 characters a token
  over the text, plus 4 tokens a message and the tools' JSON; images and PDF documents are not
  counted). ``how`` is ``estimate``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..backends.litellm import _import_litellm as import_litellm
from ..parse import ParsedRequest

TOKENIZER_PROVIDERS = frozenset({"openai", "azure"})


async def count_tokens(req: ParsedRequest, kind: str, model: str) -> tuple[int, str]:
    """``(input_tokens, how)`` for the translated chat request ``req`` sent to ``model`` (a replica's)."""
    if kind == "litellm":
        counted = await asyncio.to_thread(_tiktoken_count, model, req.body)
        if counted is not None:
            return counted, "tokenizer"
    return req.prompt_tokens_estimate(), "estimate"


def _tiktoken_count(model: str, body: dict[str, Any]) -> int | None:
    litellm = import_litellm()  # imported already: the tier's backend did at start
    try:
        name, provider, _, _ = litellm.get_llm_provider(model=model)
    except Exception:  # noqa: BLE001 - a model litellm cannot place: no tokenizer known
        return None
    if provider not in TOKENIZER_PROVIDERS:
        return None
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") == "function"]
    return int(litellm.token_counter(model=name, messages=body["messages"], tools=tools or None,
                                     use_default_image_token_count=True))

