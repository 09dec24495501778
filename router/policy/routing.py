"""The ``routing`` section of ``policies.yaml``: how ``auto`` picks a tier.

``auto`` maps the classifier's score to a tier (``auto``: bounds or shares). Before the score,
``rules`` may route by what a request is: the first rule whose ``when`` holds names the tier
(reason ``rule:NAME``) and the classifier is not asked. A rule's conditions, all of which must
hold: ``task`` (``code``, ``math`` or ``other``: :mod:`classifiers.task`), ``tools`` (the request
has tools), ``json`` (it asks for JSON output: ``response_format`` json_object or json_schema),
``images`` (image parts), ``min_prompt_tokens`` / ``max_prompt_tokens`` (estimated), ``keys``
(the client key's name is one of these). The chosen tier still has to fit the prompt, cover the
request's needs and be healthy, as for the score's tier (:mod:`.decide`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from classifiers.task import detect_task

from .base import _Frozen


class When(_Frozen):
    task: Literal["code", "math", "other"] | None = None
    tools: bool | None = None
    json_output: bool | None = Field(default=None, alias="json")
    images: bool | None = None
    min_prompt_tokens: int | None = Field(default=None, ge=0)
    max_prompt_tokens: int | None = Field(default=None, ge=0)
    keys: list[str] | None = None

    @model_validator(mode="after")
    def _something(self) -> When:
        if all(v is None for v in self.model_dump().values()):
            raise ValueError("a rule needs at least one condition")
        return self


class Rule(_Frozen):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    when: When
    tier: str


def check_rules(rules: Sequence[Rule], tiers: Sequence[str], keys: Sequence[str]) -> None:
    """Cross-checks with the rest of the policy: tiers and key names exist, names are unique."""
    seen: set[str] = set()
    for i, r in enumerate(rules):
        if r.tier not in tiers:
            raise ValueError(f"routing.rules[{i}].tier: unknown tier {r.tier!r} (tiers: {list(tiers)})")
        if r.name in seen:
            raise ValueError(f"routing.rules[{i}].name: {r.name!r} is used twice")
        seen.add(r.name)
        for k in r.when.keys or []:
            if k not in keys:
                raise ValueError(f"routing.rules[{i}].when.keys: no client key named {k!r} (keys: {list(keys)})")


def rule_for(rules: Sequence[Rule], body: Mapping[str, Any], needs: Sequence[str], prompt_tokens: int, key: str,
             text: Callable[[], str]) -> Rule | None:
    """The first rule a request matches; ``text()`` (what the classifier would score) is only read,
    and its task detected, when some rule asks for a task."""
    rf = body.get("response_format")
    facts = {"task": detect_task(text()) if any(r.when.task for r in rules) else None,
             "tools": "tools" in needs, "images": "vision" in needs, "key": key, "prompt_tokens": prompt_tokens,
             "json": isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema")}
    return matching_rule(rules, facts)


def matching_rule(rules: Sequence[Rule], facts: Mapping[str, Any]) -> Rule | None:
    """The first rule whose conditions all hold for the request's ``facts`` (pure).

    ``facts``: ``task`` (computed only when some rule asks), ``tools``, ``json``, ``images``,
    ``prompt_tokens``, ``key``."""
    for r in rules:
        w = r.when
        if ((w.task is None or facts["task"] == w.task) and (w.tools is None or facts["tools"] == w.tools)
                and (w.json_output is None or facts["json"] == w.json_output)
                and (w.images is None or facts["images"] == w.images)
                and (w.min_prompt_tokens is None or facts["prompt_tokens"] >= w.min_prompt_tokens)
                and (w.max_prompt_tokens is None or facts["prompt_tokens"] <= w.max_prompt_tokens)
                and (w.keys is None or facts["key"] in w.keys)):
            return r
    return None


class ScoreRange(_Frozen):
    """One tier of ``routing.auto``, bounded either by a raw score or by a share of traffic.

    ``below``: scores below it (and at or above the previous entry's bound) go to ``tier``.
    ``share``: ``tier`` should get this fraction of auto traffic; the cut points are then the
    quantiles of recently seen scores (see :mod:`router.policy.thresholds`).
    """

    tier: str
    below: float | None = Field(default=None, gt=0, le=1)
    share: float | None = Field(default=None, gt=0, le=1)


class Sticky(_Frozen):
    """Conversations keep the tier they first got; a later turn may only move them up."""

    enabled: bool = True
    ttl_s: float = Field(default=1800.0, gt=0, description="forget a conversation idle this long")
    max_conversations: int = Field(default=100_000, gt=0, description="remembered at most, oldest dropped")


class Routing(_Frozen):
    auto: list[ScoreRange] = Field(min_length=1)
    escalate_on_context: bool = True
    min_output_tokens: int = Field(
        default=256, ge=0, description="output room a tier needs beyond the prompt to be chosen by context; a "
        "larger max_tokens is clamped to the chosen tier's room, never a reason to move to a bigger tier")
    allow_tier_header: bool = True
    on_unhealthy: Literal["up", "down", "fail"] = Field(
        default="up", description="auto traffic whose tier is down (or failing): up: the nearest stronger tier, "
        "else the nearest cheaper one; down: cheaper first, else stronger; fail: answer 503")
    sticky: Sticky = Sticky()
    rules: list[Rule] = Field(default_factory=list, description="tried in order before the score; the first "
                              "match names the tier (see router/policy/routing.py)")
    min_samples: int = Field(default=200, ge=1, description="scores seen before share-based cuts follow traffic")
    score_window: int = Field(default=4096, ge=100, description="recent scores kept for shares and calibration")

    @field_validator("auto")
    @classmethod
    def _ordered(cls, v: list[ScoreRange]) -> list[ScoreRange]:
        if any(r.share is not None for r in v):
            if any(r.below is not None for r in v):
                raise ValueError("use either `below` on every entry but the last, or `share` on every entry")
            if any(r.share is None for r in v):
                raise ValueError("with shares, every entry needs `share`")
            total = sum(r.share or 0 for r in v)
            if abs(total - 1) > 1e-6:
                raise ValueError(f"`share` values must add up to 1, got {total:g}")
            return v
        bounds = [r.below for r in v[:-1]]
        if any(b is None for b in bounds):
            raise ValueError("every entry but the last needs `below` (or give every entry a `share`)")
        if v[-1].below is not None and v[-1].below != 1:
            raise ValueError("the last entry must have no `below` (it takes every remaining score)")
        if any(b2 <= b1 for b1, b2 in zip(bounds, bounds[1:], strict=False)):  # type: ignore[operator]
            raise ValueError(f"`below` bounds must increase, got {bounds}")
        return v

    @property
    def by_share(self) -> bool:
        return self.auto[0].share is not None
