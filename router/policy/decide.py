"""Which tier serves a request: a pure function of (policy, request facts, score, tier health).

Resolution of the requested ``model``:
- ``"auto"``             → classify; the score picks a tier from ``routing.auto``.
- a tier name            → that tier.
- a concrete model name  → the tier whose backend serves it (only that backend is used).
- anything else          → 404 ``model_not_found``.

A client may pin a tier with the ``x-tierroute-tier`` header (when ``routing.allow_tier_header``);
it overrides ``auto`` and tier names, and conflicts with a concrete model of another tier (400).

For ``auto`` the score's tier (under the current cut points) is only the starting point; a
conversation that already has a higher tier (``floor``) starts there instead: it may escalate,
never drop mid-conversation. Walking up from the start (then down, if nothing above works) the
first tier is taken that (1) the client key may use, (2) fits the prompt (``needed_tokens``:
estimated prompt tokens + the output room of ``routing.min_output_tokens`` or ``max_tokens`` if
smaller, ≤ ``context_tokens``, when ``routing.escalate_on_context``; a larger ``max_tokens`` is
clamped at forward time, see :mod:`.capabilities`) and (3) covers the request's hard needs
(images, tools, JSON schema: :mod:`.capabilities`; reason ``capability`` when that moved it;
a soft need, reasoning, prefers the tiers that cover it when any may serve) and (4) is inside
the request's own bounds (``min_tier``, ``max_tier``, ``max_cost_usd``: :mod:`.steer`; reason
``steered``; a pin outside them is a 400). When that
tier has no healthy replica, ``routing.on_unhealthy`` decides: ``up`` (the default) takes the
nearest healthy stronger tier, else the nearest cheaper one; ``down`` cheaper first, else
stronger; ``fail`` answers 503. The tiers after the chosen one in that order are the decision's
``fallbacks``, tried by the pipeline when the chosen tier fails before the first byte. The
decision records why it moved. Pinned tiers never move: a disallowed pin
is 403, a pin that is too small is 400 ``context_length_exceeded``, a pin that lacks a hard need
is 400 ``unsupported_capability`` naming it, an unhealthy pin is left to the replica picker (503).

A key whose spend budget is used up with ``on_exhausted: downgrade`` (``budget_exhausted``, from
:mod:`router.limits`) gets the cheapest tier it may use that fits the prompt, whatever it asked
for (auto, a tier, a model, a pin; a disallowed pin is still 403), reason ``budget``; for auto, the
cheapest such tier that is healthy, the stronger ones after it as fallbacks.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import BadRequest, ContextLengthExceeded, Forbidden, NoHealthyReplica, NotFound, TierrouteError
from .capabilities import NO_NEEDS, UNKNOWN, Caps, describe_needs, hard
from .model import Policy, backend_model_names
from .routing import Rule
from .steer import outside

TargetKind = Literal["auto", "tier", "model"]


@dataclass(frozen=True, slots=True)
class Target:
    kind: TargetKind
    tier: str | None  # None for auto
    model: str | None  # the concrete model for kind == "model"
    by_header: bool = False  # the tier was pinned with the x-tierroute-tier header


@dataclass(frozen=True, slots=True)
class Decision:
    tier: str
    reason: str  # auto | tier | model | header | context_escalation | capability | steered | key_limit
    #              | fallback_unhealthy | budget | sticky
    score: float | None
    base_tier: str | None = None  # the tier the score alone chose (auto only)
    fallbacks: tuple[str, ...] = ()  # healthy tiers to retry on after upstream faults (auto only), in order


def resolve_target(policy: Policy, model: str, header_tier: str | None = None) -> Target:
    """Map the request's ``model`` (and tier header) to what it asks for; 404 when unknown."""
    target = _resolve_model(policy, model)
    if header_tier is None or not policy.routing.allow_tier_header:
        return target
    if header_tier not in {t.name for t in policy.tiers}:
        raise NotFound(f"x-tierroute-tier names an unknown tier {header_tier!r}; tiers: "
                       f"{[t.name for t in policy.tiers]}", param="x-tierroute-tier", code="tier_not_found")
    if target.kind == "model" and target.tier != header_tier:
        raise BadRequest(f"model {model!r} is served by tier {target.tier!r}, but x-tierroute-tier asks "
                         f"for {header_tier!r}", param="x-tierroute-tier", code="tier_conflict")
    return Target("tier", header_tier, None, by_header=True) if target.kind != "model" else target


def _resolve_model(policy: Policy, model: str) -> Target:
    if model == "auto":
        return Target("auto", None, None)
    for tier in policy.tiers:
        if model == tier.name:
            return Target("tier", tier.name, None)
    for tier in policy.tiers:
        for b in tier.backends:
            if model in backend_model_names(b):
                return Target("model", tier.name, b.model)
    raise NotFound(f"The model {model!r} does not exist. Use 'auto', a tier "
                   f"({', '.join(t.name for t in policy.tiers)}) or a model listed at /v1/models.",
                   param="model")


def tier_for_score(policy: Policy, score: float, cuts: Sequence[float]) -> str:
    """The tier of ``routing.auto`` whose range holds ``score`` (``cuts``: its upper bounds)."""
    for r, cut in zip(policy.routing.auto, cuts, strict=False):
        if score < cut:
            return r.tier
    return policy.routing.auto[-1].tier


def decide(
    policy: Policy,
    target: Target,
    *,
    score: float | None,
    needed_tokens: int,
    allowed_tiers: Collection[str] | None,
    healthy_tiers: Collection[str],
    cuts: Sequence[float] = (),
    floor: str | None = None,
    budget_exhausted: bool = False,
    needs: tuple[str, ...] = NO_NEEDS,
    caps: Mapping[str, Caps] | None = None,
    steered: tuple[list[str], dict[str, str]] | None = None,
    rule: Rule | None = None,
) -> Decision:
    """Choose the tier (see the module docstring). ``allowed_tiers`` None means every tier.

    ``cuts`` are the current score bounds of ``routing.auto`` (see :mod:`.thresholds`);
    ``floor`` is the tier a conversation already has: auto routing never goes below it;
    ``budget_exhausted``: the key's budget is used up and its policy says downgrade;
    ``needs``: what the request needs (:func:`.capabilities.needs_of`), ``caps``: each tier's
    capabilities as known (only looked at when there are needs); ``steered``: the tiers inside the
    request's own bounds and why the others are out (:mod:`.steer`), ``None`` when it has none;
    ``rule``: the ``routing.rules`` entry the request matched (auto only): its tier replaces the score's.
    """
    caps = caps or {}
    must = hard(needs)

    def lacking(name: str) -> list[str]:
        c = caps.get(name)
        return c.lacks(must) if c is not None and must else []

    if target.kind != "auto":
        assert target.tier is not None
        if allowed_tiers is not None and target.tier not in allowed_tiers:
            raise Forbidden(f"this API key may not use tier {target.tier!r} (allowed: {sorted(allowed_tiers)})",
                            param="model")
        if budget_exhausted:
            return _cheapest(policy, score, needed_tokens, allowed_tiers, None)
        limit = policy.tier(target.tier).context_tokens
        if policy.routing.escalate_on_context and needed_tokens > limit:
            raise ContextLengthExceeded(
                f"this request needs about {needed_tokens} tokens (prompt + output room) but tier "
                f"{target.tier!r} allows {limit}", param="messages")
        if missing := lacking(target.tier):
            raise _unsupported(policy, target.tier, missing, caps)
        if steered is not None and target.tier not in steered[0]:
            raise outside(steered[1], [target.tier])
        return Decision(target.tier, "header" if target.by_header else target.kind, score)

    if score is None and rule is None:
        raise ValueError("auto routing needs a score or a rule")
    if budget_exhausted:
        return _cheapest(policy, score, needed_tokens, allowed_tiers, healthy_tiers)
    base = rule.tier if rule is not None else tier_for_score(policy, score or 0.0, cuts)
    names = [t.name for t in policy.tiers]
    start = names.index(base)
    if floor is not None and floor in names and names.index(floor) > start:
        start = names.index(floor)  # the conversation keeps its tier: never drop mid-conversation
    intended = names[start]
    order = names[start:] + names[:start][::-1]  # up from the score's tier, then down

    def fits(name: str) -> bool:
        return not policy.routing.escalate_on_context or needed_tokens <= policy.tier(name).context_tokens

    def allowed(name: str) -> bool:
        return (allowed_tiers is None or name in allowed_tiers) and (steered is None or name in steered[0])

    if steered is not None and not any(allowed(n) for n in names):
        raise outside(steered[1], [n for n in names if allowed_tiers is None or n in allowed_tiers])
    usable = [n for n in order if allowed(n) and fits(n)]
    if not usable:
        raise _no_tier(policy, needed_tokens, [n for n in names if allowed(n)])
    if must:
        covering = [n for n in usable if not lacking(n)]
        if not covering:
            raise _unsupported(policy, None, must, caps, usable)
        usable = covering
    if "reasoning" in needs:  # soft: prefer the tiers that reason, if any may serve
        usable = [n for n in usable if caps.get(n, UNKNOWN).reasoning is not False] or usable
    # The first usable tier is the one to serve; when it is down, routing.on_unhealthy says where to go.
    first = usable[0]
    healthy = [n for n in _around(names, names.index(first), policy.routing.on_unhealthy)
               if n in usable and n in healthy_tiers]
    if not healthy:
        raise NoHealthyReplica(f"no healthy replica in any tier that could serve this request ({usable}; "
                               f"routing.on_unhealthy: {policy.routing.on_unhealthy})")
    chosen = healthy[0]
    reason: str
    if chosen == base:
        reason = f"rule:{rule.name}" if rule is not None else "auto"
    elif chosen == intended:
        reason = "sticky"
    elif chosen != first:
        reason = "fallback_unhealthy"
    elif not fits(intended):
        reason = "context_escalation"
    elif lacking(intended) or ("reasoning" in needs and caps.get(intended, UNKNOWN).reasoning is False):
        reason = "capability"
    elif steered is not None and intended not in steered[0]:
        reason = "steered"
    else:
        reason = "key_limit"
    return Decision(chosen, reason, score, base_tier=base, fallbacks=tuple(healthy[1:]))


def _no_tier(policy: Policy, needed_tokens: int, allowed: list[str]) -> TierrouteError:
    """Why no tier can serve: the key may use none (403), or none it may use is big enough (400)."""
    if not allowed:
        return Forbidden("this API key may not use any tier", param="model")
    biggest = max(policy.tier(n).context_tokens for n in allowed)
    return ContextLengthExceeded(f"this request needs about {needed_tokens} tokens (prompt + max_tokens); "
                                 f"the largest tier available to it allows {biggest}", param="messages")


def _unsupported(policy: Policy, pinned: str | None, missing: list[str], caps: Mapping[str, Caps],
                 tried: list[str] | None = None) -> TierrouteError:
    """A 400 naming what the request needs and which tier lacks it (and how that is known)."""
    if pinned is not None:
        where = caps[pinned].source
        return BadRequest(f"tier {pinned!r} does not support {describe_needs(missing)} (from {where}); remove it "
                          f"from the request, or use 'auto' or a tier that does", param="model",
                          code="unsupported_capability")
    lacks = "; ".join(f"{n} lacks {describe_needs(caps[n].lacks(missing))} (from {caps[n].source})"
                      for n in tried or ())
    return BadRequest(f"no tier this request may use supports {describe_needs(missing)}: {lacks}",
                      param="model", code="unsupported_capability")


def _cheapest(policy: Policy, score: float | None, needed_tokens: int, allowed_tiers: Collection[str] | None,
              healthy_tiers: Collection[str] | None) -> Decision:
    """A used-up budget's tier: the cheapest the key may use that fits (and, for auto, is healthy)."""
    names = [t.name for t in policy.tiers if allowed_tiers is None or t.name in allowed_tiers]
    fitting = [n for n in names if not policy.routing.escalate_on_context
               or needed_tokens <= policy.tier(n).context_tokens]
    if not fitting:
        raise _no_tier(policy, needed_tokens, names)
    if healthy_tiers is None:  # a tier or model was asked for: like a pin, health is the picker's business
        return Decision(fitting[0], "budget", score)
    healthy = [n for n in fitting if n in healthy_tiers]
    if not healthy:
        raise NoHealthyReplica(f"no healthy replica in any tier this key's budget allows ({fitting})")
    return Decision(healthy[0], "budget", score, base_tier=None, fallbacks=tuple(healthy[1:]))


def _around(names: list[str], i: int, on_unhealthy: str) -> list[str]:
    """Tier ``i`` and the tiers to try after it, nearest first, as ``routing.on_unhealthy`` says."""
    if on_unhealthy == "fail":
        return [names[i]]
    up, down = names[i + 1:], names[:i][::-1]
    return [names[i], *up, *down] if on_unhealthy == "up" else [names[i], *down, *up]
