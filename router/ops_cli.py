"""Operators' commands: ``tierroute route "PROMPT" --explain`` (the score, what moved it, the tier and
the rule that decided), ``tierroute stats URL`` (``/admin/stats`` as tables) and ``tierroute schema``
(the JSON Schema of ``policies.yaml``, for editor completion: ``docs/policies.schema.json`` is its
output, which the example policy points to)."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import Any


def add_route_arguments(rt: argparse.ArgumentParser) -> None:
    rt.add_argument("prompt")
    rt.add_argument("--policy", default="policies.yaml")
    rt.add_argument("--model", default=None, help="a classifier directory (default: the shipped model)")
    rt.add_argument("--max-tokens", type=int, default=None)
    rt.add_argument("--explain", action="store_true", help="the parts of the score that moved it most")
    rt.add_argument("--top", type=int, default=8)


def add_stats_arguments(st: argparse.ArgumentParser) -> None:
    st.add_argument("url", help="the proxy's base URL, e.g. http://127.0.0.1:8000")
    st.add_argument("--admin-key", default=None, help="default: $TIERROUTE_ADMIN_KEY (none for a local keyless proxy)")
    st.add_argument("--json", action="store_true", help="print the document as it came")


def run_route(ns: argparse.Namespace) -> int:
    from classifiers.explain import explain
    from classifiers.logreg import load_classifier
    from classifiers.task import detect_task
    from classifiers.text import text_for_chat

    from .domain import Endpoint
    from .errors import PolicyError
    from .parse import parse_request
    from .policy.capabilities import needs_of
    from .policy.decide import Target, decide
    from .policy.loader import load_policy
    from .policy.routing import rule_for
    from .policy.thresholds import Thresholds

    try:
        policy = load_policy(ns.policy, env={}).policy
    except PolicyError as e:
        print(f"{ns.policy}: {e}")
        return 1
    clf: Any = load_classifier(ns.model)  # an EmbeddingLogRegClassifier: explain reads its linear model
    body: dict[str, Any] = {"model": "auto", "messages": [{"role": "user", "content": ns.prompt}]}
    if ns.max_tokens:
        body["max_tokens"] = ns.max_tokens
    req = parse_request(Endpoint.CHAT, body)
    text = text_for_chat(body["messages"], clf.model.text.get("chat", "last_user"))
    rule = rule_for(policy.routing.rules, body, needs_of(body), req.prompt_tokens_estimate(), "", lambda: text)
    if rule is not None:
        i = policy.routing.rules.index(rule)
        print(f"rule: routing.rules[{i}] {rule.name!r} when {rule.when.model_dump(exclude_none=True, by_alias=True)} "
              f"-> tier {rule.tier} (the classifier is not asked; task: {detect_task(text)})")
        return 0
    why = explain(clf, text)
    thresholds = Thresholds(window=policy.routing.score_window,
                            reference=clf.model.training.get("score_quantiles"))
    cuts = thresholds.cuts(policy.routing)
    names = [t.name for t in policy.tiers]
    d = decide(policy, Target("auto", None, None), score=why.score,
               needed_tokens=req.needed_tokens(policy.routing.min_output_tokens), allowed_tiers=None,
               healthy_tiers=names, cuts=cuts)
    i = [r.tier for r in policy.routing.auto].index(d.base_tier or d.tier)
    low, high = (cuts[i - 1] if i else 0.0), (cuts[i] if i < len(cuts) else 1.0)
    band = policy.routing.auto[i]
    said = (f"share {band.share:g}" if band.share is not None
            else f"below {band.below:g}" if band.below is not None else "the rest")
    print(f"score {why.score:.4f} -> tier {d.tier} (reason {d.reason})")
    print(f"rule: routing.auto[{i}] = {{tier: {band.tier}, {said}}}: scores in [{low:.4f}, {high:.4f}) "
          f"(cut points from {thresholds.source(policy.routing)}: {', '.join(f'{c:.4f}' for c in cuts)})")
    if d.tier != (d.base_tier or d.tier):
        print(f"moved from {d.base_tier} to {d.tier}: {d.reason} (about {req.needed_tokens()} tokens)")
    if ns.explain:
        print(f"what moved it most (logit parts; + pushes toward stronger tiers; logit {why.logit:+.3f}):")
        for p in why.top(ns.top):
            print(f"  {p.logit:+.3f}  {p.what}")
    return 0


def policy_schema() -> dict[str, Any]:
    from .policy.model import Policy

    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **Policy.model_json_schema()}


def run_schema(ns: argparse.Namespace) -> int:
    print(json.dumps(policy_schema(), indent=1, sort_keys=True))
    return 0


def run_stats(ns: argparse.Namespace) -> int:
    import httpx

    key = ns.admin_key or os.environ.get("TIERROUTE_ADMIN_KEY")
    try:
        r = httpx.get(ns.url.rstrip("/") + "/admin/stats", timeout=10,
                      headers={"Authorization": f"Bearer {key}"} if key else {})
    except httpx.HTTPError as e:
        print(f"could not reach {ns.url}: {type(e).__name__}: {e}")
        return 1
    if r.status_code != 200:
        print(f"{ns.url}/admin/stats answered {r.status_code}: {r.text[:300]}")
        return 1
    print(json.dumps(r.json(), indent=1) if ns.json else render_stats(r.json()))
    return 0


def render_stats(doc: dict[str, Any]) -> str:
    """``/admin/stats`` as plain-text tables (pure)."""
    out = [f"uptime {doc['uptime_s']:.0f} s, {doc.get('workers', 1)} worker(s)", ""]
    out += _table(["tier", "requests", "errors", "in tok", "out tok", "cost $", "p50 ms", "p95 ms", "ttft p50",
                   "cache hit"],
                  [[name, t["requests"], t["errors"], t["input_tokens"], t["output_tokens"], f"{t['cost_usd']:.6f}",
                    _n(t["latency_ms"]["p50"]), _n(t["latency_ms"]["p95"]), _n(t["ttft_ms"]["p50"]),
                    _pct(t["cache_hit_rate"])] for name, t in doc["tiers"].items()])
    s = doc["savings"]
    out += ["", f"saved ${s['saved_usd']:.6f} of ${s['baseline_cost_usd']:.6f} ({_pct(s['saved_pct'], 1)}) "
            f"against {s['baseline']}"]
    quality = ((doc.get("learning") or {}).get("quality") or {}).get("overall") or {}
    if quality.get("n"):
        low, high = quality["ci95"]
        out.append(f"judged parity of cheaper answers: {100 * quality['parity']:.0f}% "
                   f"(95% CI {100 * low:.0f}-{100 * high:.0f}%, n = {quality['n']})")
    out += [""] + _table(["replica", "tier", "model", "healthy", "in flight", "requests", "cache hit", "spec accept"],
                         [[rid, r["tier"], r["model"], "yes" if r["healthy"] else "NO", r["in_flight"],
                           r.get("requests", 0), _pct(r.get("cache_hit_rate")),
                           _n((r.get("sglang") or {}).get("spec_accept_length"), 2)]
                          for rid, r in doc["replicas"].items()])
    c = doc["classifier"]
    out += ["", f"classifier decisions: {c['decisions']} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(c['by_tier'].items()))})",
            "routing reasons: " + (", ".join(f"{k} {v}" for k, v in sorted(
                doc["routing_reasons"].items(), key=lambda kv: (-kv[1], kv[0]))) or "-")]
    return "\n".join(out)


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[str(c) for c in head]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in cells]
    return [lines[0], "-" * len(lines[0]), *lines[1:]]


def _n(v: float | None, digits: int = 0) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _pct(v: float | None, digits: int = 0) -> str:
    """A share (0..1) as a percentage; ``digits`` given: ``v`` is already in percent."""
    if v is None:
        return "-"
    return f"{v:.{digits}f}%" if digits else f"{100 * v:.1f}%"
