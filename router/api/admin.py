"""Operations endpoints: /health, /ready, /metrics, /admin/stats, /admin/policy; the SIGTERM drain.

The admin endpoints need the admin key (router.api.http's gate); /metrics too when the policy says
``auth.metrics_admin_only``; /health and /ready are open. :class:`Drain`: on SIGTERM /ready turns 503
while the proxy goes on serving for a grace period, then the server's own graceful shutdown runs."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ..policy.loader import PolicyStatus
from ..runtime import Services
from ..stats.learning import render_learning
from ..stats.recorder import merge_exports, render
from .http import Front, json_response

log = logging.getLogger("tierroute.drain")


class Drain:
    """SIGTERM -> draining: /ready answers 503 (the load balancer takes the pod out of rotation) while
    every request, in flight or new, is still served for ``grace_s``; then the signal goes on to the
    server's own handler (uvicorn: stop accepting, finish in-flight requests, exit). A second SIGTERM
    stops at once. Installed only on the main thread of a server that handles SIGTERM itself."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.draining = False

    def install(self) -> bool:
        if self.grace_s <= 0 or threading.current_thread() is not threading.main_thread():
            return False
        loop = asyncio.get_running_loop()
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return False  # nobody stops the server on SIGTERM (not under uvicorn): leave it alone

        def on_sigterm(sig: int, frame: FrameType | None) -> None:
            if self.draining:
                previous(sig, frame)
                return
            self.draining = True
            loop.call_soon_threadsafe(self._begin, loop, previous, sig)

        signal.signal(signal.SIGTERM, on_sigterm)
        return True

    def _begin(self, loop: asyncio.AbstractEventLoop, previous: Callable[[int, FrameType | None], Any],
               sig: int) -> None:
        log.info("draining: /ready answers 503, still serving", extra={"grace_s": self.grace_s})
        loop.call_later(self.grace_s, previous, sig, None)


@dataclass
class AdminDeps:
    svc: Services
    policy_status: Callable[[], PolicyStatus]
    classifier_info: Callable[[], dict[str, Any] | None]  # None until the classifier is loaded
    stats_exports: Callable[[], list[dict[str, Any]]]
    affinity: Callable[[], dict[str, Any]]  # the affinity store's state (Redis breaker events) and choices
    model: Callable[[], dict[str, Any]] = dict  # the classifier version serving, swaps and refusals
    learning: Callable[[], dict[str, Any]] = dict  # router.learning.service: label store, spend cap, queues
    background: Callable[[], dict[str, Any]] = dict  # router.supervise: restarts and last error per loop
    bounds: Callable[[], dict[str, Any]] = dict  # what grows with traffic: size and cap per structure
    limits: Callable[[], Awaitable[dict[str, Any]]] | None = None  # router.limits: usage vs limits per key
    drain: Drain = field(default_factory=lambda: Drain(0.0))  # SIGTERM: /ready 503 while still serving
    discovery: Callable[[], dict[str, Any]] = dict  # router.balance.discovery: names, replicas, draining


def routes(deps: AdminDeps, front: Front) -> list[Route]:
    svc = deps.svc
    guarded = front.admin_route

    async def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def ready(request: Request) -> Response:
        rt = svc.runtime()
        healthy = sorted(rt.table.healthy_tiers())
        checks = {"policy_loaded": True, "classifier_loaded": deps.classifier_info() is not None,
                  "healthy_tiers": healthy}
        ok = checks["classifier_loaded"] and bool(healthy) and not deps.drain.draining
        return json_response({"ready": ok, "draining": deps.drain.draining, **checks}, 200 if ok else 503)

    async def stats(request: Request) -> Response:
        doc = _stats_document(deps)
        if deps.limits is not None:
            doc["limits"] = await deps.limits()
        return json_response(doc)

    async def policy(request: Request) -> Response:
        rt = svc.runtime()
        st = deps.policy_status()
        return json_response({
            "path": st.path, "digest": st.digest, "loaded_at": st.loaded_at, "reloads": st.reloads,
            "last_error": st.last_error, "last_error_at": st.last_error_at,
            "warnings": list(rt.loaded.warnings), "price_sources": rt.loaded.price_sources,
            "classifier": deps.classifier_info(),
            "policy": rt.policy.model_dump(mode="json"),
        })

    async def scores(request: Request) -> Response:
        merged = merge_exports(deps.stats_exports())
        return json_response({**_auto_routing(deps, merged), "count": len(merged["scores"]),
                              "scores": [round(x, 6) for x in merged["scores"]]})

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(_prometheus(_stats_document(deps)), media_type="text/plain; version=0.0.4")

    admin_metrics = guarded(metrics)

    async def metrics_route(request: Request) -> Response:
        """Open, like SGLang's, unless the policy's ``auth.metrics_admin_only`` asks for the admin key."""
        return await (admin_metrics if svc.runtime().keys.metrics_admin_only else metrics)(request)

    return [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
        Route("/admin/stats", guarded(stats), methods=["GET"]),
        Route("/admin/policy", guarded(policy), methods=["GET"]),
        Route("/admin/scores", guarded(scores), methods=["GET"]),
    ]


def _stats_document(deps: AdminDeps) -> dict[str, Any]:
    rt = deps.svc.runtime()
    info: dict[str, dict[str, Any]] = {}
    for r in rt.table.all_replicas():
        st = r.state
        info[r.id] = {"tier": r.tier, "kind": r.kind, "model": r.model, "url": r.url, "api_base": r.api_base,
                      "speculative": r.speculative, "healthy": st.healthy, "in_flight": st.in_flight,
                      "checks_ok": st.checks_ok, "breaker": st.breaker.view(),
                      "last_error": st.last_error, "max_total_tokens": st.max_total_tokens,
                      "sglang": dict(st.metrics)}
    exports = deps.stats_exports()
    merged = merge_exports(exports)
    doc = render(merged, now=deps.svc.clock.wall(), strongest_tier=rt.policy.strongest.name, replica_info=info)
    doc["auto_routing"] = _auto_routing(deps, merged)
    doc["affinity"] = deps.affinity()
    doc["learning"] = render_learning(merged["learning"], savings=doc["savings"], live=deps.learning(),
                                      model=deps.model())
    doc["model"] = deps.model()
    doc["workers"] = len(exports)
    doc["background"] = deps.background()
    doc["bounds"] = deps.bounds()
    doc["discovery"] = deps.discovery()
    doc["capabilities"] = {t: c.describe() for t, c in rt.table.capabilities().items()}  # declared over reported
    return doc


def _auto_routing(deps: AdminDeps, merged: dict[str, Any]) -> dict[str, Any]:
    """The current cut points, where they come from, and each tier's target vs routed share."""
    routing = deps.svc.runtime().policy.routing
    decided = merged["decisions"]
    total = sum(decided.values())
    return {
        "mode": "share" if routing.by_share else "below",
        "cuts": list(deps.svc.thresholds.cuts(routing)),
        "cuts_from": deps.svc.thresholds.source(routing),
        "tiers": {r.tier: {"target_share": r.share,
                           "routed_share": decided.get(r.tier, 0) / total if total else None}
                  for r in routing.auto},
    }


def _prometheus(doc: dict[str, Any]) -> str:
    """The headline numbers of /admin/stats in Prometheus' text format."""
    lines: list[str] = []

    def family(name: str, kind: str, help_: str, samples: list[tuple[str, float | None]]) -> None:
        lines.append(f"# HELP tierroute_{name} {help_}")
        lines.append(f"# TYPE tierroute_{name} {kind}")
        lines.extend(f"tierroute_{name}{labels} {value}" for labels, value in samples if value is not None)

    tiers = doc["tiers"]
    for key, kind, help_ in (("requests", "counter", "Requests answered per tier."),
                             ("errors", "counter", "Failed requests per tier."),
                             ("input_tokens", "counter", "Prompt tokens per tier."),
                             ("output_tokens", "counter", "Completion tokens per tier."),
                             ("cached_tokens", "counter", "Prompt tokens served from the prefix cache."),
                             ("cost_usd", "counter", "Cost in USD per tier.")):
        family(f"{key}_total", kind, help_, [(f'{{tier="{t}"}}', g[key]) for t, g in tiers.items()])
    family("latency_ms", "gauge", "Latency percentiles over recent requests.",
           [(f'{{tier="{t}",quantile="{q[1:]}"}}', v) for t, g in tiers.items() for q, v in g["latency_ms"].items()])
    family("savings_usd_total", "counter", "Saved against always using the strongest tier.",
           [("", doc["savings"]["saved_usd"])])
    reps = doc["replicas"]
    family("replica_healthy", "gauge", "1 when the replica passes health checks.",
           [(f'{{replica="{r}",tier="{v.get("tier")}"}}', float(bool(v.get("healthy")))) for r, v in reps.items()
            if "healthy" in v])
    family("replica_in_flight", "gauge", "Requests in flight from this proxy.",
           [(f'{{replica="{r}",tier="{v.get("tier")}"}}', v.get("in_flight")) for r, v in reps.items()])
    family("classifier_decisions_total", "counter", "Tiers chosen for model auto.",
           [(f'{{tier="{t}"}}', n) for t, n in doc["classifier"]["by_tier"].items()])
    return "\n".join(lines) + "\n"
