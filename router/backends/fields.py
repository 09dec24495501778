"""What a client may send upstream: one allow-list per endpoint and backend kind, in one place.

A client's body is never forwarded as it came. :func:`check` runs at parse time, before any
routing, so that an answer never depends on the tier a prompt happened to get; :func:`build`
makes the body for one replica out of the allowed fields only.

Rules:

1. The public request fields of OpenAI's Chat Completions and (legacy) Completions APIs are
   allowed (``CHAT`` and ``COMPLETIONS``). Anthropic's Messages API is translated into the
   chat shape before it gets here (:mod:`router.anthropic.request`), so it is covered by ``CHAT``.
2. SGLang's documented sampling extensions (``SGLANG_EXTRA``: ``top_k``, ``min_p``, ``regex``,
   ``ebnf``, …) are allowed and reach SGLang replicas only; an external provider does not get
   them (litellm would pass them on or take them as its own options). Their names are returned
   by :func:`dropped` so the caller can say so in a response header.
3. ``metadata`` is a public OpenAI field, but litellm reads it as its own logging and routing
   input, so it never reaches litellm.
4. Every other field is refused with a 400 naming it, as OpenAI answers an unrecognised
   argument. That includes litellm's and the SDKs' control fields (``api_base``, ``base_url``,
   ``api_key``, ``extra_headers``, ``custom_llm_provider``, ``model_list``, ``fallbacks``,
   ``mock_response``, ``user_api_key*``, …): litellm would take them as instructions to itself,
   e.g. send the operator's provider key to a URL the client chose. SGLang's internal fields
   (``rid``, ``bootstrap_*``, ``custom_logit_processor``) are refused too.
5. SGLang's OpenAI server takes every public field (those it does not use it ignores). An external
   model may not: which of the public parameters it takes (``MODEL_DEPENDENT``) is litellm's
   knowledge (``LiteLLMBackend.unsupported``). What it does not take is dropped and named in
   ``x-tierroute-dropped-params`` or refused with a 400 naming it and the tier, as the policy's
   ``upstream.unsupported_params`` says; ``NEVER_DROPPED`` (tools, structured output, output
   limits: dropping them would change what the answer is) are always refused, never dropped.
"""

from __future__ import annotations

from typing import Any, Literal

from ..errors import BadRequest
from .base import Endpoint

BackendKind = Literal["sglang", "litellm"]

_COMMON = frozenset({
    "model", "stream", "stream_options", "max_tokens", "temperature", "top_p", "n", "stop", "seed",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "user", "metadata", "store",
    "service_tier", "prompt_cache_key", "safety_identifier",
})
CHAT = _COMMON | frozenset({
    "messages", "max_completion_tokens", "top_logprobs", "tools", "tool_choice", "parallel_tool_calls",
    "functions", "function_call", "response_format", "modalities", "audio", "prediction",
    "reasoning_effort", "verbosity", "web_search_options",
})
COMPLETIONS = _COMMON | frozenset({"prompt", "suffix", "echo", "best_of"})
SGLANG_EXTRA = frozenset({
    "top_k", "min_p", "min_tokens", "repetition_penalty", "regex", "ebnf", "json_schema", "stop_token_ids",
    "no_stop_trim", "ignore_eos", "skip_special_tokens", "continue_final_message", "separate_reasoning",
    "stream_reasoning", "chat_template_kwargs", "lora_path", "session_params", "return_hidden_states",
})
_NOT_FOR_LITELLM = SGLANG_EXTRA | {"metadata"}
# Public parameters an external model may or may not take (litellm knows which, per model).
NEVER_DROPPED = frozenset({"tools", "tool_choice", "functions", "function_call", "response_format", "modalities",
                           "audio", "prediction", "web_search_options", "max_completion_tokens"})
_SAMPLING = frozenset({"temperature", "top_p", "n", "stop", "seed", "presence_penalty", "frequency_penalty",
                       "logit_bias", "logprobs", "user", "store", "service_tier", "prompt_cache_key",
                       "safety_identifier"})
MODEL_DEPENDENT = {
    Endpoint.CHAT: _SAMPLING | NEVER_DROPPED | {"top_logprobs", "parallel_tool_calls", "reasoning_effort",
                                                "verbosity"},
    Endpoint.COMPLETIONS: _SAMPLING,  # echo, suffix, best_of: litellm's chat list does not say
}

_ALLOWED = {Endpoint.CHAT: CHAT | SGLANG_EXTRA, Endpoint.COMPLETIONS: COMPLETIONS | SGLANG_EXTRA}
_FOR = {
    ("sglang", Endpoint.CHAT): CHAT | SGLANG_EXTRA,
    ("sglang", Endpoint.COMPLETIONS): COMPLETIONS | SGLANG_EXTRA,
    ("litellm", Endpoint.CHAT): CHAT - _NOT_FOR_LITELLM,
    ("litellm", Endpoint.COMPLETIONS): COMPLETIONS - _NOT_FOR_LITELLM,
}


def check(endpoint: Endpoint, body: dict[str, Any]) -> None:
    """Refuse (400, naming it) the first field that no backend may receive."""
    allowed = _ALLOWED[endpoint]
    for name in body:
        if name not in allowed:
            raise BadRequest(f"Unrecognized request argument supplied: {name!r} is not a parameter of "
                             f"{endpoint.path}.", param=name, code="unknown_parameter")


def build(kind: BackendKind, endpoint: Endpoint, body: dict[str, Any], model: str, stream: bool) -> dict[str, Any]:
    """The body for one replica: the allowed fields only, the concrete ``model`` and, when
    streaming, usage always requested (the proxy records it)."""
    allowed = _FOR[kind, endpoint]
    out = {k: v for k, v in body.items() if k in allowed}
    out["model"] = model
    if stream:
        opts = out.get("stream_options")
        out["stream_options"] = {**opts, "include_usage": True} if isinstance(opts, dict) else {"include_usage": True}
    return out


def dropped(kind: BackendKind, endpoint: Endpoint, body: dict[str, Any]) -> tuple[str, ...]:
    """Fields of ``body`` (already :func:`check`-ed) that ``kind`` does not receive."""
    allowed = _FOR[kind, endpoint]
    return tuple(k for k in body if k not in allowed)


# ``POST /v1/embeddings`` (router/api/embeddings.py): OpenAI's public fields, nothing else. Its
# backends get ``input``, ``dimensions`` and ``user`` and are always asked for floats (the proxy
# encodes base64 itself), so neither SGLang nor litellm sees a field of the client's choosing.
EMBEDDINGS = frozenset({"input", "model", "encoding_format", "dimensions", "user"})


def check_embeddings(body: dict[str, Any]) -> None:
    """Refuse (400, naming it) the first field that is not a public embeddings parameter."""
    for name in body:
        if name not in EMBEDDINGS:
            raise BadRequest(f"Unrecognized request argument supplied: {name!r} is not a parameter of "
                             "/v1/embeddings.", param=name, code="unknown_parameter")
