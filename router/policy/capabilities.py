"""What a tier can do, what a request needs, and whether one covers the other (pure, no I/O).

A tier's capabilities (:class:`Caps`): image input (``vision``), ``tools`` (function calling),
JSON-schema output (``json_schema``), ``reasoning``, and the most output tokens it gives
(``max_output_tokens``). Each comes from, first found:

1. the policy: ``tiers[].capabilities`` (:class:`Capabilities`); what an operator declares wins;
2. what the tier's backends report (:func:`combine`, filled in by :mod:`router.backends.model_info`
   and the health checks): litellm's model map for external models (``supports_vision``,
   ``supports_function_calling``, ``supports_response_schema``, ``supports_reasoning``,
   ``max_output_tokens``, ``max_input_tokens``); for an SGLang replica its ``/get_model_info``
   (``has_image_understanding``) and ``/get_server_info`` (``tool_call_parser``,
   ``reasoning_parser``, ``grammar_backend``, ``max_req_input_len``). A tier can do something
   when every backend that reports on it can: the replica picker may choose any of them;
3. else unknown, taken as able: a request is never refused on a guess.

A request's needs (:func:`needs_of`): image parts → ``vision``; ``tools`` or ``functions`` →
``tools``; ``response_format.type == "json_schema"`` → ``json_schema`` (hard needs: a tier
without them would answer a 400 or ignore them); ``reasoning_effort`` → ``reasoning`` (soft: auto
prefers a tier that reasons when there is one; elsewhere the parameter is dropped by the
``upstream.unsupported_params`` rule like any other).

The output budget never decides a tier: :func:`clamp_output` cuts ``max_tokens`` to what the
chosen replica has room for (its ``max_output_tokens`` and its context minus the prompt), so a
client's large default does not move its requests to a bigger tier or into a provider's 400.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from pydantic import Field

from .base import _Frozen

HARD_NEEDS = ("vision", "tools", "json_schema")
SOFT_NEEDS = ("reasoning",)
NO_NEEDS: tuple[str, ...] = ()
NEED_WORDS = {"vision": "image input", "tools": "tools (function calling)",
              "json_schema": "JSON-schema output (response_format json_schema)", "reasoning": "reasoning"}


class Capabilities(_Frozen):
    """``tiers[].capabilities``: what the operator declares; left out = what the backends report."""

    vision: bool | None = Field(default=None, description="takes image content parts")
    tools: bool | None = Field(default=None, description="function calling (tools, tool_choice)")
    json_schema: bool | None = Field(default=None, description="response_format json_schema")
    reasoning: bool | None = Field(default=None, description="a reasoning model (reasoning_effort)")
    max_output_tokens: int | None = Field(default=None, gt=0, description="max_tokens above this is clamped")


@dataclass(frozen=True, slots=True)
class Caps:
    """Capabilities as known: ``None`` = unknown (taken as able). ``source`` says where they came from."""

    vision: bool | None = None
    tools: bool | None = None
    json_schema: bool | None = None
    reasoning: bool | None = None
    max_output_tokens: int | None = None
    context_tokens: int | None = None  # reported by the backend (the policy's is on the tier)
    source: str = "unknown"

    def lacks(self, needs: Iterable[str]) -> list[str]:
        """The needs these capabilities are known not to cover."""
        return [n for n in needs if getattr(self, n) is False]

    def describe(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


UNKNOWN = Caps()
_FLAGS = ("vision", "tools", "json_schema", "reasoning")


def combine(declared: Capabilities | None, reported: Iterable[Caps | None]) -> Caps:
    """A tier's capabilities: declared values, else what all its reporting backends share (see module doc)."""
    known = [r for r in reported if r is not None]
    out: dict[str, Any] = {}
    for name in _FLAGS:
        values = [getattr(r, name) for r in known]
        out[name] = False if False in values else (True if values and all(v is True for v in values) else None)
    outs = [r.max_output_tokens for r in known if r.max_output_tokens]
    ctx = [r.context_tokens for r in known if r.context_tokens]
    out["max_output_tokens"] = min(outs) if outs else None
    out["context_tokens"] = min(ctx) if ctx else None
    sources = sorted({r.source for r in known if r.source != "unknown"})
    caps = Caps(**out, source="+".join(sources) or "unknown")
    if declared is None:
        return caps
    given = {k: v for k, v in declared.model_dump().items() if v is not None}
    return replace(caps, **given, source="policy" + (f"+{caps.source}" if caps.source != "unknown" else "")) \
        if given else caps


def needs_of(body: Mapping[str, Any]) -> tuple[str, ...]:
    """What a chat request needs from a tier (module doc); ``()`` for most requests, found cheaply."""
    needs: list[str] = []
    for m in body.get("messages") or ():
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "image_url" for p in content):
            needs.append("vision")
            break
    if body.get("tools") or body.get("functions"):
        needs.append("tools")
    rf = body.get("response_format")
    if isinstance(rf, dict) and rf.get("type") == "json_schema":
        needs.append("json_schema")
    if body.get("reasoning_effort") not in (None, "none", "minimal"):
        needs.append("reasoning")
    return tuple(needs)


def hard(needs: Iterable[str]) -> list[str]:
    return [n for n in needs if n in HARD_NEEDS]


def clamp_output(requested: int | None, caps: Caps | None, context_tokens: int, prompt_tokens: int) -> int | None:
    """The ``max_tokens`` to send: ``requested`` cut to the replica's output limit and to its context
    left after the (estimated, so 10% spared) prompt; ``None`` when nothing needs cutting."""
    if requested is None:
        return None
    context = min(context_tokens, caps.context_tokens) if caps is not None and caps.context_tokens else context_tokens
    room = context - int(prompt_tokens * 1.1) - 16
    limit = min(room, caps.max_output_tokens) if caps is not None and caps.max_output_tokens else room
    return max(1, limit) if requested > limit else None


def context_conflicts(tier: str, declared_context: int, caps: Caps) -> list[str]:
    """Where the policy and the backends disagree about a tier's context (module doc)."""
    if caps.context_tokens is not None and caps.context_tokens < declared_context:
        return [f"tier {tier!r} declares context_tokens {declared_context} but its backends report "
                f"{caps.context_tokens} ({caps.source}); output budgets are clamped to the smaller"]
    return []


def declared_conflicts(tier: str, declared: Capabilities | None, reported: Caps) -> list[str]:
    """Where the policy says a tier can do what its backends report they cannot (the policy wins)."""
    if declared is None:
        return []
    return [f"tier {tier!r} declares {name}: true but {reported.source} reports false; the declaration wins"
            for name in _FLAGS if getattr(declared, name) is True and getattr(reported, name) is False]


def describe_needs(needs: Iterable[str]) -> str:
    return ", ".join(NEED_WORDS[n] for n in needs)


