"""Request statistics: counters, latency windows, classifier decisions, cost and savings.

One :class:`Stats` per process, fed by the pipeline after each request. ``export()`` gives a
JSON-able, mergeable form (counters plus the raw sample windows) so that ``--workers N``
processes can be summed exactly (see :mod:`router.stats.shared`); ``render()`` turns merged
exports into the ``GET /admin/stats`` document.

Savings are measured against "always the strongest tier": each request's tokens priced at the
strongest tier's price (its first backend's), minus what the request actually cost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..clock import Clock
from .learning import LearningCounters, merge_learning
from .window import SampleWindow, percentiles

SCORE_BINS = 20
SCORE_SAMPLE = 4096


@dataclass(frozen=True, slots=True)
class RequestRecord:
    tier: str
    replica: str | None  # replica id, e.g. "small/0"; None when no replica could be chosen
    model: str | None
    status: int
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    baseline_cost_usd: float = 0.0
    latency_s: float = 0.0
    ttft_s: float | None = None
    attempts: int = 1  # upstream attempts (more than one: retried after upstream faults)


@dataclass(slots=True)
class Counters:
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    baseline_cost_usd: float = 0.0
    retried: int = 0  # requests that needed more than one upstream attempt

    def add(self, r: RequestRecord) -> None:
        self.requests += 1
        self.retried += r.attempts > 1
        self.errors += r.status >= 400
        self.input_tokens += r.input_tokens
        self.output_tokens += r.output_tokens
        self.cached_tokens += r.cached_tokens
        self.cost_usd += r.cost_usd
        self.baseline_cost_usd += r.baseline_cost_usd

    def merge(self, other: dict[str, Any]) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + other.get(f.name, 0))


@dataclass(slots=True)
class Group:
    counters: Counters = field(default_factory=Counters)
    latency: SampleWindow = field(default_factory=SampleWindow)
    ttft: SampleWindow = field(default_factory=SampleWindow)

    def add(self, r: RequestRecord) -> None:
        self.counters.add(r)
        if r.status < 400:
            self.latency.add(r.latency_s)
            if r.ttft_s is not None:
                self.ttft.add(r.ttft_s)

    def export(self) -> dict[str, Any]:
        return {"counters": asdict(self.counters), "latency": self.latency.values(), "ttft": self.ttft.values()}


class Stats:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.started = clock.wall()
        self.tiers: dict[str, Group] = {}
        self.replicas: dict[str, Group] = {}
        self.replica_tier: dict[str, str] = {}
        self.reasons: Counter[str] = Counter()
        self.decisions: Counter[str] = Counter()  # tier chosen for model "auto"
        self.score_hist = [0] * SCORE_BINS
        self.rejected: Counter[str] = Counter()  # status -> requests refused before reaching a tier
        self.failed_attempts: Counter[str] = Counter()  # replica id -> attempts that met an upstream fault
        self.tier_fallbacks = 0  # requests served by a fallback tier after upstream faults
        self.escalations = 0  # conversations moved to a stronger tier by a later turn
        self.scores = SampleWindow(SCORE_SAMPLE)  # recent classifier scores, for calibration on traffic
        self.learning = LearningCounters()  # labels, shadow jobs and spend, judged quality (router.stats.learning)
        self.embeddings: dict[str, Group] = {}  # POST /v1/embeddings, per model name clients send
        self.params: Counter[str] = Counter()  # "dropped|refused:<tier>:<parameter>" -> requests

    def record(self, r: RequestRecord) -> None:
        _group(self.tiers, r.tier).add(r)
        if r.replica is not None:
            _group(self.replicas, r.replica).add(r)
            self.replica_tier[r.replica] = r.tier

    def record_embedding(self, r: RequestRecord) -> None:
        """One ``/v1/embeddings`` request; ``r.tier`` is the embedding model's name (no tier, no replica)."""
        _group(self.embeddings, r.tier).add(r)

    def record_decision(self, tier: str, reason: str, score: float | None) -> None:
        self.reasons[reason] += 1
        if score is not None:
            self.decisions[tier] += 1
            self.scores.add(score)
            self.score_hist[min(int(score * SCORE_BINS), SCORE_BINS - 1)] += 1

    def record_params(self, tier: str, *, dropped: Iterable[str] = (), refused: Iterable[str] = ()) -> None:
        """Parameters a tier's model does not take: left out of a request, or the reason it was refused."""
        for what, names in (("dropped", dropped), ("refused", refused)):
            for name in names:
                self.params[f"{what}:{tier}:{name}"] += 1

    def record_failed_attempt(self, replica: str) -> None:
        self.failed_attempts[replica] += 1

    def record_tier_fallback(self) -> None:
        self.tier_fallbacks += 1

    def record_escalation(self) -> None:
        self.escalations += 1

    def record_rejected(self, status: int) -> None:
        self.rejected[str(status)] += 1

    def export(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "tiers": {k: g.export() for k, g in self.tiers.items()},
            "replicas": {k: g.export() for k, g in self.replicas.items()},
            "replica_tier": dict(self.replica_tier),
            "reasons": dict(self.reasons),
            "decisions": dict(self.decisions),
            "score_hist": list(self.score_hist),
            "rejected": dict(self.rejected),
            "failed_attempts": dict(self.failed_attempts),
            "tier_fallbacks": self.tier_fallbacks,
            "escalations": self.escalations,
            "scores": self.scores.values(),
            "learning": self.learning.export(),
            "embeddings": {k: g.export() for k, g in self.embeddings.items()},
            "params": dict(self.params),
        }


def _group(groups: dict[str, Group], key: str) -> Group:
    g = groups.get(key)
    if g is None:
        g = groups[key] = Group()
    return g


def merge_exports(exports: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum several processes' exports into one (windows are concatenated)."""
    out: dict[str, Any] = {"started": min((e["started"] for e in exports), default=0.0), "tiers": {},
                           "replicas": {}, "replica_tier": {}, "reasons": Counter(), "decisions": Counter(),
                           "score_hist": [0] * SCORE_BINS, "rejected": Counter(), "failed_attempts": Counter(),
                           "escalations": 0, "tier_fallbacks": 0,
                           "scores": [], "embeddings": {}, "params": Counter()}
    for e in exports:
        for section in ("tiers", "replicas", "embeddings"):
            for k, g in e.get(section, {}).items():
                cur = out[section].setdefault(k, {"counters": {}, "latency": [], "ttft": []})
                c = Counters(**cur["counters"]) if cur["counters"] else Counters()
                c.merge(g["counters"])
                cur["counters"] = asdict(c)
                cur["latency"] += g["latency"]
                cur["ttft"] += g["ttft"]
        out["replica_tier"].update(e["replica_tier"])
        for key in ("reasons", "decisions", "rejected"):
            out[key].update(e[key])
        out["failed_attempts"].update(e.get("failed_attempts", {}))
        out["params"].update(e.get("params", {}))
        out["score_hist"] = [a + b for a, b in zip(out["score_hist"], e["score_hist"], strict=True)]
        out["escalations"] += e.get("escalations", 0)
        out["tier_fallbacks"] += e.get("tier_fallbacks", 0)
        out["scores"] += e.get("scores", [])
    out["learning"] = merge_learning([e.get("learning", {}) for e in exports])
    return out


def render(merged: dict[str, Any], *, now: float, strongest_tier: str,
           replica_info: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The /admin/stats document. ``replica_info``: live facts per replica id (health, url, …)."""
    total = Counters()
    for g in merged["tiers"].values():
        total.merge(g["counters"])
    failed = merged["failed_attempts"]
    replicas = {rid: {**info, **_group_view(merged["replicas"].get(rid)), "failed_attempts": failed.get(rid, 0)}
                for rid, info in replica_info.items()}
    for rid, g in merged["replicas"].items():  # replicas that served before a reload removed them
        replicas.setdefault(rid, {"tier": merged["replica_tier"].get(rid), "removed": True, **_group_view(g),
                                  "failed_attempts": failed.get(rid, 0)})
    hist = merged["score_hist"]
    return {
        "uptime_s": round(now - merged["started"], 1),
        "totals": _counters_view(asdict(total)),
        "savings": {
            "baseline": f"every request on the strongest tier ({strongest_tier})",
            "baseline_cost_usd": total.baseline_cost_usd,
            "cost_usd": total.cost_usd,
            "saved_usd": total.baseline_cost_usd - total.cost_usd,
            "saved_pct": 100 * (1 - total.cost_usd / total.baseline_cost_usd) if total.baseline_cost_usd else None,
        },
        "tiers": {k: _group_view(g) for k, g in merged["tiers"].items()},
        "replicas": replicas,
        "classifier": {
            "decisions": sum(merged["decisions"].values()),
            "by_tier": dict(merged["decisions"]),
            "score_histogram": {"bin_edges": [round(i / SCORE_BINS, 3) for i in range(SCORE_BINS + 1)],
                                "counts": hist},
        },
        "routing_reasons": dict(merged["reasons"]),
        "retries": {"retried_requests": total.retried, "failed_attempts": sum(failed.values()),
                    "tier_fallbacks": merged["tier_fallbacks"]},
        "conversations": {"escalations": merged["escalations"], "held": merged["reasons"].get("sticky", 0)},
        "rejected_by_status": dict(merged["rejected"]),
        # parameters a tier's model does not take (upstream.unsupported_params): {dropped|refused: {tier: {param: n}}}
        "unsupported_params": _params_view(merged.get("params", {})),
        # POST /v1/embeddings per model name (not in totals and savings, which compare chat tiers)
        "embeddings": {k: _group_view(g) for k, g in merged.get("embeddings", {}).items()},
    }


def _params_view(counts: Mapping[str, int]) -> dict[str, dict[str, dict[str, int]]]:
    out: dict[str, dict[str, dict[str, int]]] = {"dropped": {}, "refused": {}}
    for key, n in counts.items():
        what, tier, name = key.split(":", 2)
        out[what].setdefault(tier, {})[name] = n
    return out


def _group_view(g: dict[str, Any] | None) -> dict[str, Any]:
    if g is None:
        return _counters_view(asdict(Counters())) | {"latency_ms": percentiles([]), "ttft_ms": percentiles([])}
    return _counters_view(g["counters"]) | {
        "latency_ms": _ms(percentiles(g["latency"])),
        "ttft_ms": _ms(percentiles(g["ttft"])),
    }


def _counters_view(c: dict[str, Any]) -> dict[str, Any]:
    inp = c.get("input_tokens", 0)
    return {**c, "cache_hit_rate": (c.get("cached_tokens", 0) / inp) if inp else None}


def _ms(p: dict[str, float | None]) -> dict[str, float | None]:
    return {k: (round(v * 1000, 2) if v is not None else None) for k, v in p.items()}
