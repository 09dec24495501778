"""The policy's ``learning`` section (docs/learning.md): feedback, shadow comparisons, the label store."""

from __future__ import annotations

from pydantic import Field, HttpUrl, model_validator

from .base import Price, _Frozen


class LabelStoreSettings(_Frozen):
    """Where labels are kept: a capped Redis stream with ``--redis-url``, else a local JSONL file."""

    max_labels: int = Field(default=100_000, ge=10, description="labels kept; the oldest are dropped beyond")
    path: str = Field(default=".tierroute/labels.jsonl", min_length=1, description="local file (no Redis)")


class Feedback(_Frozen):
    """``POST /v1/feedback``: clients rate answers by request id."""

    enabled: bool = True
    remember_s: float = Field(default=86_400.0, gt=0, description="how long a request id can take feedback")
    max_remembered: int = Field(default=100_000, ge=1, description="request ids this process keeps (no Redis)")


class Judge(_Frozen):
    """Who compares a cheap answer with the reference: a tier of this policy, or a litellm model."""

    tier: str | None = None
    model: str | None = Field(default=None, min_length=1, description="litellm model string, e.g. openai/gpt-4o")
    api_base: HttpUrl | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    price: Price | None = None
    max_tokens: int = Field(default=32, ge=8, le=4096)

    @model_validator(mode="after")
    def _one_judge(self) -> Judge:
        if (self.tier is None) == (self.model is None):
            raise ValueError("give exactly one of `tier` or `model`")
        if self.model is not None and self.price is None:
            raise ValueError("a judge `model` needs its `price` (judge spend counts against daily_usd_cap)")
        if self.tier is not None and (self.api_base or self.api_key_env or self.price):
            raise ValueError("api_base, api_key_env and price go with `model`; a judge tier has its own")
        return self


class Shadow(_Frozen):
    """Background comparisons of cheap answers with a reference tier's, judged pairwise."""

    enabled: bool = False
    rate: float = Field(default=0.05, ge=0, le=1, description="share of eligible auto requests shadowed")
    explore_rate: float = Field(default=0.0, ge=0, le=1,
                                description="share of auto requests answered by the reference tier that are "
                                            "compared with the cheapest tier's answer")
    daily_usd_cap: float = Field(default=5.0, ge=0, description="shadow + judge spend per UTC day")
    exclude_keys: list[str] = []
    exclude_tiers: list[str] = []
    reference_tier: str | None = Field(default=None, description="default: the strongest tier")
    judge: Judge | None = None
    max_pending: int = Field(default=32, ge=1, description="jobs queued or running; more are dropped, counted")

    @model_validator(mode="after")
    def _judge_given(self) -> Shadow:
        if self.enabled and self.judge is None:
            raise ValueError("shadow comparisons need a `judge`")
        return self


class Learning(_Frozen):
    """Labels from live traffic (docs/learning.md): feedback, shadow comparisons, the label store."""

    store_prompts: bool = False
    redis_prefix: str = Field(default="tierroute:learn:", min_length=1,
                              description="Redis keys of labels, remembered requests and shadow spend")
    labels: LabelStoreSettings = LabelStoreSettings()
    feedback: Feedback = Feedback()
    shadow: Shadow = Shadow()


def check_learning(shadow: Shadow, names: list[str]) -> None:
    for field_name, tier_name in ([("reference_tier", shadow.reference_tier)]
                                  + [("exclude_tiers", t) for t in shadow.exclude_tiers]
                                  + [("judge.tier", shadow.judge.tier if shadow.judge else None)]):
        if tier_name is not None and tier_name not in names:
            raise ValueError(f"learning.shadow.{field_name}: unknown tier {tier_name!r} (tiers: {names})")
    if shadow.enabled and len(names) < 2:
        raise ValueError("learning.shadow: comparisons need at least two tiers")
