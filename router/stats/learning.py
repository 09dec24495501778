"""Counters of learning from traffic, and the ``learning`` section of ``/admin/stats``.

Kept per process in :class:`LearningCounters` (part of :class:`router.stats.recorder.Stats`, so
``--workers N`` processes are summed like the other counters). Quality retained is measured on
shadow verdicts of answers a cheaper tier *served*: the share judged as good as the reference
tier's (label target < 0.5), with a 95 % Wilson score interval and the sample size. Verdicts
of exploration (a prompt the reference tier answered, compared with the cheapest tier's
answer) are labels, not served quality, and are shown apart.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

Z95 = 1.959964


@dataclass(slots=True)
class LearningCounters:
    labels: Counter[str] = field(default_factory=Counter)  # stored by this process, per source
    events: Counter[str] = field(default_factory=Counter)  # shadow jobs, drops, failures, feedback, ...
    spend: dict[str, float] = field(default_factory=dict)  # USD: "shadow" (the other tier's answers), "judge"
    verdicts: dict[str, list[int]] = field(default_factory=dict)  # tier -> [judged as good, judged]
    explore: list[int] = field(default_factory=lambda: [0, 0])  # [cheapest as good, judged]

    def count(self, event: str, n: int = 1) -> None:
        self.events[event] += n

    def verdict(self, tier: str, target: float, *, explore: bool) -> None:
        good = int(target < 0.5)
        cell = self.explore if explore else self.verdicts.setdefault(tier, [0, 0])
        cell[0] += good
        cell[1] += 1

    def export(self) -> dict[str, Any]:
        return {"labels": dict(self.labels), "events": dict(self.events), "spend": dict(self.spend),
                "verdicts": {k: list(v) for k, v in self.verdicts.items()}, "explore": list(self.explore)}


def merge_learning(exports: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"labels": Counter(), "events": Counter(), "spend": {}, "verdicts": {},
                           "explore": [0, 0]}
    for e in exports:
        for key in ("labels", "events"):
            out[key].update(e.get(key, {}))
        for what, usd in e.get("spend", {}).items():
            out["spend"][what] = out["spend"].get(what, 0.0) + usd
        for tier, (good, n) in e.get("verdicts", {}).items():
            cell = out["verdicts"].setdefault(tier, [0, 0])
            cell[0] += good
            cell[1] += n
        good, n = e.get("explore", [0, 0])
        out["explore"] = [out["explore"][0] + good, out["explore"][1] + n]
    return out


def wilson(good: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (None without samples)."""
    if n <= 0:
        return None
    p = good / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def parity(good: int, n: int) -> dict[str, Any]:
    ci = wilson(good, n)
    return {"parity": good / n if n else None, "ci95": [round(ci[0], 4), round(ci[1], 4)] if ci else None,
            "n": n, "as_good": good}


def render_learning(merged: dict[str, Any], *, savings: dict[str, Any], live: dict[str, Any],
                    model: dict[str, Any]) -> dict[str, Any]:
    """The ``learning`` section: quality retained next to savings, labels, shadow spend and failures."""
    by_tier = {t: parity(g, n) for t, (g, n) in sorted(merged["verdicts"].items())}
    good = sum(g for g, _ in merged["verdicts"].values())
    n = sum(n for _, n in merged["verdicts"].values())
    overall = parity(good, n)
    ev, spend = merged["events"], merged["spend"]
    saved = savings.get("saved_pct")
    summary = None
    if overall["parity"] is not None and saved is not None:
        lo, hi = overall["ci95"]
        summary = (f"saved {saved:.0f}% at {100 * overall['parity']:.0f}% ± {100 * (hi - lo) / 2:.0f}% "
                   f"judged parity, n = {n}")
    return {
        "enabled": live.get("enabled", False),
        "quality": {"definition": "share of shadow-judged answers of a cheaper tier as good as the reference "
                                  "tier's (label target < 0.5), 95% Wilson interval",
                    "overall": overall, "by_tier": by_tier, "exploration": parity(*merged["explore"])},
        "savings_pct": saved,
        "summary": summary,
        "labels": {"stored_here": {k: merged["labels"].get(k, 0) for k in ("feedback", "shadow", "import")},
                   "store": live.get("store", {})},
        "shadow": {
            "spend_usd": {"shadow": spend.get("shadow", 0.0), "judge": spend.get("judge", 0.0),
                          "total": spend.get("shadow", 0.0) + spend.get("judge", 0.0)},
            "daily_usd_cap": live.get("daily_usd_cap"),
            "pending": live.get("pending_shadow_jobs", 0),
            "jobs": {k: ev.get(k, 0) for k in ("sampled", "explored", "judged", "dropped_full", "capped",
                                               "reference_failed")},
            "judge_failures": {"no_verdict": ev.get("no_verdict", 0), "errors": ev.get("judge_error", 0)},
        },
        "feedback": {k: ev.get("feedback_" + k, 0) for k in ("stored", "unknown_request", "invalid")},
        "remembered": {**{k: ev.get("remember_" + k, 0) for k in ("ok", "dropped")},
                       "queued": live.get("remember_queue", 0)},
        "store_errors": ev.get("store_error", 0),
        "model": model,
    }
