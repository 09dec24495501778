"""The app factory: build every dependency once, mount the APIs, run the background tasks.

``create_app(settings)`` loads and validates the policy (raising ``PolicyError`` before any
socket opens), then returns a Starlette app whose lifespan starts the upstream clients, loads
the classifier (in a thread, once), runs a first round of health checks and starts the
health, policy-watch and stats-sharing loops. Tests pass their own classifier, clock and env.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from redis.exceptions import RedisError
from starlette.applications import Starlette

from classifiers.base import Classifier
from classifiers.batching import MicroBatcher
from classifiers.registry import Registry
from classifiers.text import CHAT_TEXT_MODES, DEFAULT_CHAT_TEXT_MODE, ChatTextMode

from .api import admin, anthropic, dashboard, embeddings, feedback, openai, responses
from .api.edge import Edge
from .api.http import Front
from .auth import KeyRing, is_loopback, widened
from .backends.base import Backend
from .backends.litellm import LiteLLMBackend
from .backends.model_info import fill_litellm_caps
from .backends.sglang import SGLangBackend
from .balance.affinity import AffinityStore, MemoryAffinity
from .balance.cache_aware import CacheAwarePicker
from .balance.discovery import ReplicaDiscovery, Resolver, SystemResolver
from .balance.health import HealthChecker
from .balance.pick import LeastInFlight, ReplicaPicker
from .balance.pool import ReplicaRegistry
from .balance.redis_affinity import RedisAffinity
from .clock import Clock, SystemClock
from .conversations import ConversationStore, MemoryConversations, RedisConversations
from .domain import Endpoint
from .errors import NotReady
from .learning.model_watch import Loaded, ModelWatcher, WatchStatus, load_version, registry_of
from .learning.service import LearningService
from .limits import Limits, MemoryLimits
from .logs import configure_logging
from .policy.loader import LoadedPolicy, PolicyWatcher, load_policy
from .policy.thresholds import Thresholds
from .redis_connect import redis_client, sync_client
from .redis_limits import RedisLimits
from .runtime import Runtime, Services, build_runtime
from .settings import Settings
from .stats.recorder import Stats
from .stats.shared import SharedStats
from .supervise import LoopCounters, supervise

log = logging.getLogger("tierroute.app")


class ScorerSlot:
    """The classifier's async front, filled in once the model has loaded at start-up."""

    def __init__(self) -> None:
        self.batcher: MicroBatcher | None = None
        self.info: dict[str, Any] | None = None
        self.chat_text_mode: ChatTextMode = DEFAULT_CHAT_TEXT_MODE
        self.version: str | None = None  # the registry version serving (None: not from a registry)

    def fill(self, batcher: MicroBatcher, info: dict[str, Any], version: str | None = None) -> None:
        mode = (info.get("text") or {}).get("chat", DEFAULT_CHAT_TEXT_MODE)
        if mode not in CHAT_TEXT_MODES:
            raise ValueError(f"the classifier asks for an unknown chat text mode {mode!r}")
        self.batcher, self.info, self.chat_text_mode, self.version = batcher, info, mode, version

    async def swap(self, loaded: Loaded, thresholds: Thresholds) -> None:
        """Serve ``loaded`` from now on (see router/learning/model_watch.py); raises ValueError if unusable."""
        batcher = MicroBatcher(loaded.classifier)
        await batcher.start()
        old = self.batcher
        try:
            self.fill(batcher, {**_describe(loaded.classifier), "version": loaded.version}, loaded.version)
        except ValueError:
            await batcher.aclose()
            raise
        thresholds.restart(loaded.meta.get("score_quantiles") or (self.info or {}).get("score_quantiles"))
        if old is not None:
            await old.aclose()

    def bounds(self) -> dict[str, Any]:
        """The serving classifier's caches against their caps, if it has any (``/admin/stats`` → ``bounds``)."""
        bounds = getattr(self.batcher.classifier, "bounds", None) if self.batcher is not None else None
        return bounds() if bounds is not None else {}

    async def score(self, text: str) -> float:
        if self.batcher is None:
            raise NotReady("The classifier is still loading; retry shortly or pin a tier.")
        return await self.batcher.score(text)


class RuntimeHolder:
    """The current :class:`Runtime`; replaced whole on reload."""

    def __init__(self, runtime: Runtime) -> None:
        self.current = runtime

    def __call__(self) -> Runtime:
        return self.current


def create_app(settings: Settings, *, classifier: Classifier | None = None, clock: Clock | None = None,
               env: Mapping[str, str] | None = None, resolver: Resolver | None = None) -> Edge:
    env = dict(os.environ) if env is None else env
    clock = clock or SystemClock()
    loaded = load_policy(settings.policy_path, env=env)
    for w in loaded.warnings:
        log.warning("policy warning", extra={"warning": w})
    registry = ReplicaRegistry(clock)
    runtime = RuntimeHolder(build_runtime(loaded, registry, env))
    up = loaded.policy.upstream
    sglang = SGLangBackend(connect_timeout_s=up.connect_timeout_s, read_timeout_s=up.read_timeout_s, env=env)
    external = LiteLLMBackend(connect_timeout_s=up.connect_timeout_s, read_timeout_s=up.read_timeout_s, env=env)
    backends: dict[str, Backend] = {"sglang": sglang, "litellm": external}
    stats = Stats(clock)
    scorer = ScorerSlot()
    routing = loaded.policy.routing
    local_conversations = MemoryConversations(clock, routing.sticky.max_conversations)
    redis = redis_client(settings.redis_url) if settings.redis_url else None
    conversations: ConversationStore = (RedisConversations(redis, local_conversations) if redis is not None
                                        else local_conversations)
    thresholds = Thresholds(window=routing.score_window)
    store: AffinityStore = RedisAffinity(redis, clock) if redis is not None else MemoryAffinity(clock)
    cache_aware = CacheAwarePicker(store, lambda: runtime().policy.balance)
    pickers: dict[str, ReplicaPicker] = {"cache_aware": cache_aware, "least_loaded": LeastInFlight()}
    background = LoopCounters()  # restarts of the supervised loops, in /admin/stats
    learning = LearningService(runtime, backends, stats, clock, scorer, lambda: (scorer.info or {}).get("version"),
                               redis_url=settings.redis_url, featurizer_dir=settings.classifier_dir,
                               background=background)
    limits: Limits = RedisLimits(redis, clock) if redis is not None else MemoryLimits(clock)
    svc = Services(runtime, scorer, pickers, backends, stats, limits, clock, thresholds, conversations, learning)
    shared = SharedStats(stats, settings.stats_dir)
    http = httpx.AsyncClient()  # health checks and server info; the hot path uses the backends' clients
    health = HealthChecker(lambda: runtime().table, http, clock, env)
    discovery = ReplicaDiscovery(lambda: runtime().table, registry,  # replicas named by DNS (`discover:`)
                                 lambda: setattr(runtime, "current", build_runtime(runtime().loaded, registry, env)),
                                 health.check_all, resolver or SystemResolver(), clock)
    drain = admin.Drain(float(env.get("TIERROUTE_DRAIN_S", "0")))  # `serve` sets it: SIGTERM -> /ready 503
    tasks: set[asyncio.Task[None]] = set()

    def on_reload(new: LoadedPolicy) -> None:
        runtime.current = build_runtime(new, registry, env)
        local_conversations.max_entries = new.policy.routing.sticky.max_conversations
        for work in (health.check_all(), fill_litellm_caps(runtime.current.table)):  # new replicas: health, caps
            t = asyncio.create_task(work)
            tasks.add(t)
            t.add_done_callback(tasks.discard)

    exposed = not is_loopback(settings.host)  # where `serve` bound (keyless: loopback only, see serve_cli.bind_address)
    watcher = PolicyWatcher(settings.policy_path, loaded, on_reload, interval_s=settings.reload_interval_s,
                            guard=lambda new: widened(runtime().keys, KeyRing(new.policy, env), exposed=exposed))
    models = registry_of(settings.models_dir)
    watcher_status = WatchStatus()
    promoted = _promoted_source(settings, loaded, models)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await backends["sglang"].start()
        external_models = [r.model for r in runtime().table.all_replicas() if r.kind == "litellm"]
        if external_models:
            await external.start(external_models)
            await fill_litellm_caps(runtime().table)  # what each model can do, from litellm's map
        start = await asyncio.to_thread(_start_model, models, promoted, watcher_status) \
            if classifier is None and models else None
        if start is not None:  # the registry's promoted model
            await scorer.swap(start, thresholds)
            watcher_status.version, watcher_status.evaluation = start.version, start.meta.get("evaluation")
        else:
            model = classifier if classifier is not None else await asyncio.to_thread(_load_classifier, settings)
            batcher = MicroBatcher(model)
            await batcher.start()
            scorer.fill(batcher, _describe(model))
            thresholds.set_reference(scorer.info.get("score_quantiles") if scorer.info else None)
        await discovery.refresh()
        await health.check_all()
        await learning.start()  # label stores and featurizer (in a thread); nothing without policy.learning
        if settings.freeze_heap:
            freeze_heap()
        loops = {"health": health.run, "policy_watch": watcher.run, "stats_share": shared.run,
                 "lease_renewal": cache_aware.run, "discovery": discovery.run}
        drain.install()
        if models is not None:
            loops["model_watch"] = ModelWatcher(models, lambda loaded: scorer.swap(loaded, thresholds),
                                                current=promoted, interval_s=settings.model_poll_s,
                                                status=watcher_status).run
        for name, loop_fn in loops.items():
            tasks.add(asyncio.create_task(supervise(name, loop_fn, counters=background)))
        log.info("tierroute ready", extra={"policy": settings.policy_path, "digest": loaded.digest,
                                           "healthy_tiers": sorted(runtime().table.healthy_tiers())})
        try:
            yield
        finally:
            for t in list(tasks):
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await learning.aclose()
            await limits.aclose()
            shared.write()
            if scorer.batcher is not None:
                await scorer.batcher.aclose()
            for b in backends.values():
                await b.aclose()
            await http.aclose()
            await embedder.aclose()
            await store.aclose()

    deps = admin.AdminDeps(svc, lambda: watcher.status, lambda: scorer.info, shared.exports,
                           lambda: {"store": store.describe(),
                                    "decisions": dict(cache_aware.reasons),
                                    "prefill_holds": cache_aware.holds,
                                    "prefill_holds_timed_out": cache_aware.holds_timed_out,
                                    "conversation_store_errors": getattr(conversations, "errors", 0)},
                           lambda: watcher_status.describe(models))
    deps.learning = learning.live
    deps.background = background.describe
    deps.drain, deps.discovery = drain, discovery.describe
    deps.limits = lambda: limits.usage(runtime().keys.principals())
    deps.bounds = lambda: {"h1_pool": sglang.describe(), "affinity": store.describe(),
                           "conversations": conversations.describe(), "learning": learning.bounds(),
                           "limits": limits.bounds(), "responses": stored.describe(),
                           "classifier": scorer.bounds()}
    stored = responses.ResponseStore()  # previous_response_id and GET /v1/responses/{id}
    front = Front(svc)  # request ids, the auth gate and the error renderer of every route
    embedder = embeddings.EmbeddingsService(svc, env)
    starlette = Starlette(routes=openai.routes(front) + embeddings.routes(front, embedder)
                          + anthropic.routes(front, svc)
                          + feedback.routes(front, learning) + admin.routes(deps, front)
                          + responses.routes(front, stored) + dashboard.routes(),
                          lifespan=lifespan, exception_handlers=front.handlers())
    oai = openai.OpenAIDialect()
    return Edge(svc, front, starlette, {"/v1/chat/completions": (Endpoint.CHAT, oai),
                                 "/v1/completions": (Endpoint.COMPLETIONS, oai),
                                 "/v1/messages": (Endpoint.CHAT, anthropic.AnthropicDialect()),
                                 "/v1/responses": (Endpoint.CHAT, responses.ResponsesDialect(stored))})


def freeze_heap() -> None:
    """Move every object alive after start-up out of the cyclic garbage collector's reach.

    The modules, the policy, the classifier and the clients are ~75,000 tracked objects that live
    as long as the process; a full collection walked them all in about 40 ms on this machine,
    stalling every request in flight (the p99 at 16 concurrent was 35-40 ms against a median of
    3 ms; docs/performance.md). ``gc.freeze()`` puts them in a permanent generation, so
    collections only look at what requests create. Frozen objects are still freed by reference
    counting; only cycles among them would stay. Serving processes only: the tests build many
    apps in one process and leave the collector alone.
    """
    gc.collect()
    gc.freeze()


def app_from_env() -> Edge:
    """Factory for ``uvicorn --factory`` worker processes (``serve --workers N``)."""
    settings = Settings.from_json(os.environ["TIERROUTE_SETTINGS_JSON"])
    configure_logging(settings.log_level)
    return create_app(settings)


def _promoted_source(settings: Settings, loaded: LoadedPolicy, models: Registry | None) -> Callable[[], str | None]:
    """Where the promoted version is read: Redis's pointer when there is Redis, else the registry's CURRENT."""
    if models is None or not settings.redis_url:
        return models.current if models is not None else (lambda: None)
    from .learning.model_share import DEFAULT_PREFIX, RedisModelSource

    learning = loaded.policy.learning
    url = settings.redis_url  # the client is made at the first read: a cluster's connects when made
    return RedisModelSource(lambda: sync_client(url, socket_timeout=5.0, socket_connect_timeout=2.0), models,
                            learning.redis_prefix if learning else DEFAULT_PREFIX).current


def _start_model(registry: Registry, current: Callable[[], str | None], status: WatchStatus) -> Loaded | None:
    """The promoted model; None when nothing is promoted yet or it cannot be used (the refusal or
    error is recorded): then the shipped model serves until a usable one is promoted."""
    try:
        version = current()
    except (OSError, ValueError, RedisError) as e:
        status.last_error = f"reading the promoted version: {e}"
        log.error("model pointer unreadable", extra={"error": str(e), "serving": "shipped default"})
        return None
    if not version:
        return None
    try:
        return load_version(registry, version)
    except ValueError as e:
        status.refused[version] = str(e)
        log.error("model refused", extra={"version": version, "reason": str(e), "serving": "shipped default"})
        return None


def _load_classifier(settings: Settings) -> Classifier:
    from classifiers.logreg import load_classifier

    return load_classifier(settings.classifier_dir)


def _describe(model: Classifier) -> dict[str, Any]:
    describe = getattr(model, "describe", None)
    info = describe() if callable(describe) else {}
    return {"name": getattr(model, "name", type(model).__name__), **(info if isinstance(info, dict) else {})}

