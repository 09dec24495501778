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
6. Anthropic's extensions (:mod:`router.anthropic.content`), spelled as litellm forwards them to
   Anthropic: ``thinking`` (top level; also accepted on the OpenAI surface, as litellm's proxy does),
   ``cache_control`` on content parts and tools, ``thinking_blocks`` on assistant messages, documents
   (``file`` parts holding the Anthropic ``document`` block) and server tools (tools whose ``type`` is
   not ``function``). A Claude model behind litellm gets them all (:mod:`.litellm`). Elsewhere,
   decided per replica at forward time: ``thinking`` becomes ``reasoning_effort`` where the model
   takes that (SGLang takes it, rule 5; litellm's table says for others) and is otherwise a
   parameter the model does not take (rule 5: dropped and named, or refused); ``cache_control`` is
   removed and named in ``x-tierroute-dropped-params`` but never refused (``HINTS``: a caching hint,
   SGLang caches prefixes by itself); ``thinking_blocks`` (history) are removed; a PDF/URL document
   or a server tool is a 400 naming it and the tier (:func:`refuse_extensions`).
7. tierroute's own per-request steering fields (``STEERING``: ``min_tier``, ``max_tier``,
   ``max_cost_usd``; :mod:`router.policy.steer`) are read by the proxy and never forwarded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..domain import BackendKind, Endpoint, Replica
from ..errors import BadRequest

_COMMON = frozenset({
    "model", "stream", "stream_options", "max_tokens", "temperature", "top_p", "n", "stop", "seed",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "user", "metadata", "store",
    "service_tier", "prompt_cache_key", "safety_identifier",
})
CHAT = _COMMON | frozenset({
    "messages", "max_completion_tokens", "top_logprobs", "tools", "tool_choice", "parallel_tool_calls",
    "functions", "function_call", "response_format", "modalities", "audio", "prediction",
    "reasoning_effort", "verbosity", "web_search_options", "thinking",
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
                                                "verbosity", "thinking"},
    Endpoint.COMPLETIONS: _SAMPLING,  # echo, suffix, best_of: litellm's chat list does not say
}

STEERING = frozenset({"min_tier", "max_tier", "max_cost_usd"})  # rule 7: the proxy's own, never forwarded
_ALLOWED = {Endpoint.CHAT: CHAT | SGLANG_EXTRA | STEERING, Endpoint.COMPLETIONS: COMPLETIONS | SGLANG_EXTRA | STEERING}
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


def build(kind: BackendKind, endpoint: Endpoint, body: dict[str, Any], model: str, stream: bool,
          found: Extensions | None = None) -> dict[str, Any]:
    """The body for one replica: the allowed fields only, the concrete ``model`` and, when
    streaming, usage always requested (the proxy records it). ``found``: ``extensions(body)``, when
    the caller has it."""
    allowed = _FOR[kind, endpoint]
    out = {k: v for k, v in body.items() if k in allowed}
    out["model"] = model
    if kind == "sglang" and endpoint is Endpoint.CHAT:
        thinking = out.pop("thinking", None)
        if thinking is not None and "reasoning_effort" not in out and (level := effort(thinking)):
            out["reasoning_effort"] = level
        if (found or extensions(body)).strip:
            out.update(without_extensions(out))
    if stream:
        opts = out.get("stream_options")
        out["stream_options"] = {**opts, "include_usage": True} if isinstance(opts, dict) else {"include_usage": True}
    return out


def dropped(kind: BackendKind, endpoint: Endpoint, body: dict[str, Any]) -> tuple[str, ...]:
    """Fields of ``body`` (already :func:`check`-ed) that ``kind`` does not receive."""
    allowed = _FOR[kind, endpoint]
    return tuple(k for k in body if k not in allowed and k not in STEERING)


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


# Rule 6: Anthropic's extensions in the chat body.
HINTS = frozenset({"cache_control"})  # dropped and named where not taken, never refused
CACHE_CONTROL = "cache_control"
DOCUMENT_KEY = "document"  # of a file part: the Anthropic document block (router/anthropic/content.py)


@dataclass(slots=True)
class Extensions:
    cache_control: bool = False
    thinking_blocks: bool = False
    documents: int = 0  # Anthropic PDF/URL documents (file parts holding the block)
    server_tools: list[str] = field(default_factory=list)  # their types

    @property
    def strip(self) -> bool:
        """Something a non-Claude model must not get: removed by :func:`without_extensions`."""
        return self.cache_control or self.thinking_blocks


def extensions(body: Mapping[str, Any]) -> Extensions:
    """Which of rule 6's extensions ``body`` carries (one pass over messages and tools)."""
    found = Extensions()
    for m in body.get("messages") or ():
        if not isinstance(m, dict):
            continue
        found.thinking_blocks = found.thinking_blocks or bool(m.get("thinking_blocks"))
        content = m.get("content")
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict):
                    found.cache_control = found.cache_control or CACHE_CONTROL in part
                    found.documents += DOCUMENT_KEY in part and part.get("type") == "file"
    for tool in body.get("tools") or ():
        if isinstance(tool, dict):
            found.cache_control = found.cache_control or CACHE_CONTROL in tool
            kind = tool.get("type")
            if isinstance(kind, str) and kind not in ("function", "custom"):
                found.server_tools.append(kind)
    return found


def without_extensions(body: Mapping[str, Any]) -> dict[str, Any]:
    """``messages`` and ``tools`` of ``body`` without ``cache_control`` and ``thinking_blocks`` (copies)."""
    out: dict[str, Any] = {}
    if isinstance(body.get("messages"), list):
        out["messages"] = [_plain_message(m) if isinstance(m, dict) else m for m in body["messages"]]
    if isinstance(body.get("tools"), list):
        out["tools"] = [{k: v for k, v in t.items() if k != CACHE_CONTROL} if isinstance(t, dict) else t
                        for t in body["tools"]]
    return out


def _plain_message(m: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in m.items() if k != "thinking_blocks"}
    if isinstance(m.get("content"), list):
        out["content"] = [{k: v for k, v in p.items() if k not in (CACHE_CONTROL, DOCUMENT_KEY)}
                          if isinstance(p, dict) else p for p in m["content"]]
    return out


def effort(thinking: Any) -> str | None:
    """``thinking`` as ``reasoning_effort``: its budget against litellm's own effort budgets (low 1024,
    medium 2048, high 4096 tokens); None for ``disabled`` (nothing to ask for)."""
    if not isinstance(thinking, Mapping) or thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    budget = budget if isinstance(budget, int) else 0
    return "low" if budget <= 1024 else "medium" if budget <= 2048 else "high"


def refuse_extensions(replica: Replica, found: Extensions) -> None:
    """A 400 naming the first PDF/URL document or server tool and the tier, for a replica whose model
    does not take them (any but a Claude model behind litellm)."""
    if found.server_tools:
        what, param = f"The server tool {found.server_tools[0]!r}", "tools"
    elif found.documents:
        what, param = "A 'document' block (base64 PDF or URL)", "messages"
    else:
        return
    raise BadRequest(f"{what} is not supported by tier {replica.tier!r} (model {replica.model}); only Claude "
                     "models take it. Remove it (a text document works everywhere) or pin a Claude tier.",
                     param=param, code="unsupported_content", headers={"x-tierroute-tier": replica.tier})


def unsupported_on_sglang(replica: Replica, endpoint: Endpoint, body: dict[str, Any],
                          found: Extensions | None = None) -> tuple[str, ...]:
    """Rule 6 for an SGLang replica: a 400 for documents and server tools; ``("cache_control",)`` when the
    body has it (removed by :func:`build`, named in the answer). ``found``: as in :func:`build`."""
    if endpoint is not Endpoint.CHAT:
        return ()
    found = found or extensions(body)
    refuse_extensions(replica, found)
    return (CACHE_CONTROL,) if found.cache_control else ()
