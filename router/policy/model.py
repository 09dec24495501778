"""The schema of ``policies.yaml`` (pydantic, frozen).

A policy is data only: tiers ordered cheapest → strongest, each with backends and prices, a
routing section that maps classifier scores to tiers, auth and timing settings. Cross-field
checks (tier names referenced by routing and keys, ordered cut points, unique models) live in
validators here so that every error names the field it is about. Prices that default to
litellm's cost map are filled in by :mod:`router.policy.loader`, not here (no I/O in the schema).
The ``learning`` section is in :mod:`router.policy.learning`, ``routing`` in :mod:`router.policy.routing`;
shared bases in :mod:`router.policy.base`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, HttpUrl, field_validator, model_validator

from .base import Price, _Frozen
from .capabilities import Capabilities
from .learning import Learning, check_learning
from .routing import Routing, check_rules

_NAME = r"^[a-z0-9][a-z0-9_.-]*$"
RESERVED_MODEL_NAMES = frozenset({"auto"})


class _Replicas(_Frozen):
    """SGLang replicas serving one model: their base URLs, unique."""

    kind: Literal["sglang"]
    model: str = Field(min_length=1)
    replicas: list[HttpUrl] = Field(min_length=1)

    @field_validator("replicas")
    @classmethod
    def _unique_replicas(cls, v: list[HttpUrl]) -> list[HttpUrl]:
        seen = [str(u).rstrip("/") for u in v]
        if len(set(seen)) != len(seen):
            raise ValueError("replica URLs must be unique")
        return v

    def replica_urls(self) -> list[str]:
        return [str(u).rstrip("/") for u in self.replicas]


class Discover(_Frozen):
    """Replicas named by a DNS name (a Kubernetes headless Service): its A/AAAA records, re-resolved every
    ``interval_s`` by :mod:`router.balance.discovery`, each address one replica at ``scheme://ip:port``."""

    dns: str = Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?$", max_length=253)
    port: int = Field(ge=1, le=65535)
    interval_s: float = Field(default=10.0, gt=0)
    scheme: Literal["http", "https"] = "http"


class SGLangBackend(_Replicas):
    """Self-hosted SGLang replicas serving one model, reached directly over its OpenAI API: listed under
    ``replicas``, found through ``discover``, or both."""

    replicas: list[HttpUrl] = Field(default_factory=list)
    discover: Discover | None = None
    speculative: bool = False
    price: Price | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                    description="environment variable holding the key the replicas were "
                                                "started with (SGLang --api-key), sent as a Bearer token")

    @model_validator(mode="after")
    def _some_replicas(self) -> SGLangBackend:
        if not self.replicas and self.discover is None:
            raise ValueError("name its replicas: `replicas`, `discover`, or both")
        return self


class _LiteLLMModel(_Frozen):
    """A model litellm reaches: its model string, and optionally where and with which key."""

    kind: Literal["litellm"]
    model: str = Field(min_length=1, description="litellm model string, e.g. openai/gpt-4o")
    api_base: HttpUrl | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class LiteLLMBackend(_LiteLLMModel):
    """An external provider reached through ``litellm.acompletion``."""

    price: Price | None = None
    max_concurrency: int = Field(default=256, ge=1)

    @property
    def served_name(self) -> str:
        """The name clients may ask for: the litellm string without its provider prefix."""
        return self.model.split("/", 1)[1] if "/" in self.model else self.model


Backend = Annotated[SGLangBackend | LiteLLMBackend, Field(discriminator="kind")]


def backend_model_names(backend: SGLangBackend | LiteLLMBackend) -> list[str]:
    """Every name under which a client may request this backend's model."""
    if isinstance(backend, LiteLLMBackend) and backend.served_name != backend.model:
        return [backend.model, backend.served_name]
    return [backend.model]


class Tier(_Frozen):
    name: str = Field(pattern=_NAME)
    description: str = ""
    context_tokens: int = Field(gt=0)
    price: Price | None = Field(default=None, description="default for backends without their own")
    capabilities: Capabilities | None = Field(default=None, description="what the tier can do (images, tools, "
                                              "JSON schema, reasoning, output limit); left out: what its backends "
                                              "report (router/policy/capabilities.py)")
    backends: list[Backend] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v in RESERVED_MODEL_NAMES:
            raise ValueError(f"{v!r} is reserved")
        return v


class Budget(_Frozen):
    """A key's spend cap in USD per UTC day and/or month, charged with the costs /admin/stats shows."""

    usd_per_day: float | None = Field(default=None, gt=0)
    usd_per_month: float | None = Field(default=None, gt=0)
    on_exhausted: Literal["downgrade", "refuse"] = Field(
        default="refuse", description="at the cap: refuse (429 budget_exceeded) or downgrade (every request to "
        "the cheapest tier the key may use, reason `budget`)")

    @model_validator(mode="after")
    def _some_cap(self) -> Budget:
        if self.usd_per_day is None and self.usd_per_month is None:
            raise ValueError("a budget needs usd_per_day, usd_per_month or both")
        return self


class ClientKey(_Frozen):
    name: str = Field(pattern=_NAME)
    key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    tiers: list[str] | None = None
    requests_per_minute: int | None = Field(default=None, gt=0, description="shared by every proxy through Redis")
    tokens_per_minute: int | None = Field(default=None, gt=0, description="prompt + completion tokens, charged "
                                          "when a request ends, checked before the next; shared through Redis")
    budget: Budget | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ClientKey:
        if (self.key_env is None) == (self.key_sha256 is None):
            raise ValueError("give exactly one of key_env or key_sha256")
        return self


class Auth(_Frozen):
    admin_key_env: str = Field(default="TIERROUTE_ADMIN_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    client_keys: list[ClientKey] = []
    metrics_admin_only: bool = Field(default=False, description="/metrics (per-tier cost, replica ids) needs the "
                                     "admin key, like /admin/stats; off: open to scrapers, like SGLang's")


class Health(_Frozen):
    interval_s: float = Field(default=5.0, gt=0)
    timeout_s: float = Field(default=2.0, gt=0)
    unhealthy_after: int = Field(default=2, ge=1, description="consecutive failures")


class Breaker(_Frozen):
    """The circuit breaker of every replica and litellm endpoint (router/balance/breaker.py)."""

    failures: int = Field(default=3, ge=1, description="upstream faults within window_s that open the breaker")
    window_s: float = Field(default=10.0, gt=0, description="how far back faults are counted")
    open_s: float = Field(default=5.0, gt=0, description="no requests for this long, then one probe request")


class Upstream(_Frozen):
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=600.0, gt=0)
    retries: int = Field(default=2, ge=0, le=5, description="further attempts after an upstream fault before the "
                         "first byte: other replicas of the tier, then fallback tiers (auto, routing.on_unhealthy)")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    unsupported_params: Literal["drop", "reject"] = Field(
        default="drop", description="an OpenAI parameter the chosen litellm model does not take (seed, "
        "logit_bias, n, ...): drop it (named in x-tierroute-dropped-params) or answer 400 naming it and the tier")


_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\*$")
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
CORS_METHODS = frozenset({"GET", "POST", "OPTIONS"})  # every method the API answers


class Cors(_Frozen):
    """Cross-origin access for browser apps (off unless the section is present with origins)."""

    allow_origins: list[str] = Field(min_length=1, description="exact origins (scheme://host[:port]) or '*'")
    allow_methods: list[str] = Field(default=["GET", "POST", "OPTIONS"], min_length=1)
    allow_headers: list[str] = Field(default=["*"], min_length=1,
                                     description="'*' answers with the headers the browser asks for")
    max_age_s: int = Field(default=600, ge=0, le=86_400, description="how long browsers may cache a preflight")

    @field_validator("allow_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        for o in v:
            if not _ORIGIN.match(o):
                raise ValueError(f"{o!r} is not an origin: scheme://host[:port] with no path or slash, or '*'")
        return [o.lower() for o in v]

    @field_validator("allow_methods")
    @classmethod
    def _methods(cls, v: list[str]) -> list[str]:
        out = [m.upper() for m in v]
        bad = sorted(set(out) - CORS_METHODS)
        if bad:
            raise ValueError(f"{bad} are not methods of this API (known: {sorted(CORS_METHODS)})")
        return out

    @field_validator("allow_headers")
    @classmethod
    def _headers(cls, v: list[str]) -> list[str]:
        for h in v:
            if h != "*" and not _TOKEN.match(h):
                raise ValueError(f"{h!r} is not a header name")
        return [h.lower() for h in v]


class Balance(_Frozen):
    """How a replica is chosen within a tier (see router/balance/)."""

    policy: Literal["cache_aware", "least_loaded"] = "cache_aware"
    block_chars: int = Field(default=256, ge=16, description="prompt characters per affinity block (~64 tokens)")
    max_blocks: int = Field(default=128, ge=1, description="blocks of a prompt's head that are tracked")
    match_threshold: float = Field(default=0.3, ge=0, le=1, description="share of blocks held to win on cache")
    balance_abs_threshold: float = Field(default=16, ge=0, description="load gap that overrides the cache")
    balance_rel_threshold: float = Field(default=1.5, ge=1, description="and load ratio that overrides it")
    entry_ttl_s: float = Field(default=600, gt=0, description="affinity entries unused this long expire")
    lease_ttl_s: float = Field(default=60, gt=0, description="in-flight leases of a dead proxy expire")
    prefill_wait_s: float = Field(default=0.5, ge=0, le=30,
                                  description="longest hold for a prefix another request is still prefilling; 0: off")


_EMBED_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"


class SGLangEmbeddings(_Replicas):
    """An SGLang embedding model (launched with ``--is-embedding``), reached over its ``/v1/embeddings``."""

    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    input_per_mtok: float = Field(default=0.0, ge=0, description="USD per million input tokens (self-hosted: "
                                                                  "what its GPUs cost you)")


class LiteLLMEmbeddings(_LiteLLMModel):
    """Any embedding model litellm reaches (``litellm.aembedding``), e.g. openai/text-embedding-3-small."""

    input_per_mtok: float = Field(ge=0, description="USD per million input tokens (stats, budgets)")


EmbeddingBackend = Annotated[SGLangEmbeddings | LiteLLMEmbeddings, Field(discriminator="kind")]


class Policy(_Frozen):
    version: Literal[1] = 1
    tiers: list[Tier] = Field(min_length=1)
    routing: Routing
    auth: Auth = Auth()
    health: Health = Health()
    breaker: Breaker = Breaker()
    upstream: Upstream = Upstream()
    balance: Balance = Balance()
    cors: Cors | None = None  # None: no CORS headers; OPTIONS is 405 as before
    learning: Learning | None = None  # None: no feedback, shadow or label store
    # POST /v1/embeddings: the model name a client sends -> its backend (None: no embeddings served)
    embeddings: dict[str, EmbeddingBackend] | None = None

    @model_validator(mode="after")
    def _cross_checks(self) -> Policy:
        names = [t.name for t in self.tiers]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"tiers: duplicate tier names {sorted(dupes)}")
        for i, r in enumerate(self.routing.auto):
            if r.tier not in names:
                raise ValueError(f"routing.auto[{i}].tier: unknown tier {r.tier!r} (tiers: {names})")
        check_rules(self.routing.rules, names, [k.name for k in self.auth.client_keys])
        order = [names.index(r.tier) for r in self.routing.auto]
        if order != sorted(order):
            raise ValueError("routing.auto: tiers must go from cheaper to stronger as the score rises")
        key_names = [k.name for k in self.auth.client_keys]
        if len(set(key_names)) != len(key_names):
            repeated = sorted({n for n in key_names if key_names.count(n) > 1})
            raise ValueError(f"auth.client_keys: duplicate names {repeated} (limits and budgets are kept per name)")
        for i, k in enumerate(self.auth.client_keys):
            for tier_name in k.tiers or []:
                if tier_name not in names:
                    raise ValueError(f"auth.client_keys[{i}].tiers: unknown tier {tier_name!r} (tiers: {names})")
        if self.learning is not None:
            check_learning(self.learning.shadow, names)
        urls: dict[str, str] = {}
        for t in self.tiers:
            for b in t.backends:
                for url in b.replica_urls() if isinstance(b, SGLangBackend) else []:
                    if url in urls:
                        raise ValueError(f"tiers.{t.name}: replica {url} is also listed under {urls[url]}")
                    urls[url] = f"tier {t.name} ({b.model})"
        owner: dict[str, str] = {}
        for t in self.tiers:
            for b in t.backends:
                for m in backend_model_names(b):
                    if m in names or m in RESERVED_MODEL_NAMES:
                        raise ValueError(f"tiers.{t.name}: model name {m!r} clashes with a tier name or 'auto'")
                    if owner.get(m, t.name) != t.name:
                        raise ValueError(f"tiers.{t.name}: model {m!r} is also served by tier {owner[m]!r}")
                    owner[m] = t.name
        for name, e in (self.embeddings or {}).items():
            if not re.match(_EMBED_NAME, name):
                raise ValueError(f"embeddings: model name {name!r} must be letters, digits and _ . : / - "
                                 "(it is what clients send as `model`)")
            if name in names or name in RESERVED_MODEL_NAMES or name in owner:
                raise ValueError(f"embeddings.{name}: the name clashes with a tier, a chat model or 'auto' "
                                 "(GET /v1/models lists them all)")
            for url in e.replica_urls() if isinstance(e, SGLangEmbeddings) else []:
                if url in urls:
                    raise ValueError(f"embeddings.{name}: replica {url} is also listed under {urls[url]}")
                urls[url] = f"embeddings {name}"
        return self

    def tier(self, name: str) -> Tier:
        for t in self.tiers:
            if t.name == name:
                return t
        raise KeyError(name)

    def tier_index(self, name: str) -> int:
        for i, t in enumerate(self.tiers):
            if t.name == name:
                return i
        raise KeyError(name)

    @property
    def strongest(self) -> Tier:
        return self.tiers[-1]


def valid_name(name: str) -> bool:
    return re.match(_NAME, name) is not None
