"""Learning from traffic, the proxy's side: one object the pipeline hands each answered request to.

:meth:`LearningService.served` is called once per answered request (by :func:`router.pipeline.handle`)
and never waits: with a ``learning`` section in the policy it

* queues the request to be remembered for feedback (:mod:`.recent`): a background loop computes
  the recipe's features of the scored text in batches, in a worker thread, and stores them
  (the text itself only with ``store_prompts``); beyond ``REMEMBER_QUEUE`` waiting requests new
  ones are dropped and counted;
* samples it for a shadow comparison (:mod:`.shadow`); a sampled stream is watched (its events
  collected as they pass) and submitted when it ends.

:meth:`feedback` turns a ``POST /v1/feedback`` body into a label. Labels go to the label store
(:mod:`.labels`): Redis with ``--redis-url``, else the policy's local file. The featurizer
(``classifiers.featurize.Featurizer``) is loaded once, in a thread, by :meth:`start`. Its two background
loops (remembering, store counts) run under :func:`router.supervise.supervise` with the app's
loops: a crash is logged, counted in ``/admin/stats`` ``background`` and restarted with backoff.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from ..backends.base import Backend
from ..clock import Clock
from ..errors import NotFound, NotReady, Unprocessable
from ..policy.learning import Learning
from ..redis_connect import async_client
from ..runtime import Runtime
from ..stats.recorder import Stats
from ..streaming import StreamEvent
from ..supervise import LoopCounters, supervise
from .labels import FileLabelStore, Label, LabelStore, RedisLabelStore
from .recent import RecentRequests, Served
from .shadow import DailySpend, Outcome, ShadowJob, ShadowRunner, reply_text, stream_text

if TYPE_CHECKING:
    from ..pipeline import Routed

log = logging.getLogger("tierroute.learning")
REMEMBER_QUEUE = 4096
FEATURE_BATCH = 64
COUNTS_EVERY_S = 2.0
MAX_COMMENT = 2000


class Featurizer(Protocol):
    def features(self, texts: Sequence[str]) -> list[dict[str, Any]]: ...


class ChatModeSource(Protocol):
    chat_text_mode: Any


@dataclass(slots=True)
class _Pending:
    request_id: str
    principal: str
    tier: str
    score: float | None
    model_version: str | None
    text: str


class LearningService:
    def __init__(self, runtime: Callable[[], Runtime], backends: Mapping[str, Backend], stats: Stats, clock: Clock,
                 scorer: ChatModeSource, model_version: Callable[[], str | None], *, redis_url: str | None,
                 featurizer_dir: str | None, rng: random.Random | None = None,
                 background: LoopCounters | None = None) -> None:
        self._runtime = runtime
        self._backends = backends
        self._counters = stats.learning
        self._clock = clock
        self._scorer = scorer
        self._model_version = model_version
        self._redis_url = redis_url
        self._featurizer_dir = featurizer_dir
        self._rng = rng or random.Random()
        self._background = background if background is not None else LoopCounters()  # the app's: /admin/stats
        self._redis: Redis | RedisCluster | None = None
        self._featurizer: Featurizer | None = None
        self._store: LabelStore | None = None
        self._recent: RecentRequests | None = None
        self._shadow: ShadowRunner | None = None
        self._queue: asyncio.Queue[_Pending] | None = None
        self._pending: dict[str, _Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._starting: asyncio.Task[None] | None = None
        self._store_view: dict[str, Any] = {}

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the stores and load the featurizer, when the policy has a ``learning`` section."""
        cfg = self._runtime().policy.learning
        if cfg is None or self._shadow is not None:
            return
        self._featurizer = await asyncio.to_thread(_load_featurizer, self._featurizer_dir)
        if cfg.shadow.enabled and cfg.shadow.judge is not None and cfg.shadow.judge.model is not None:
            await self._backends["litellm"].start()  # import litellm now, not in the first shadow job
        if self._redis_url:
            self._redis = async_client(self._redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
            self._store = RedisLabelStore(self._redis, cfg.redis_prefix, cfg.labels.max_labels)
        else:
            self._store = FileLabelStore(cfg.labels.path, cfg.labels.max_labels)
        self._recent = RecentRequests(self._clock, cfg.feedback.max_remembered, redis=self._redis,
                                      prefix=cfg.redis_prefix)
        self._queue = asyncio.Queue(REMEMBER_QUEUE)
        self._shadow = ShadowRunner(self._runtime, self._backends, self._counters,
                                    DailySpend(self._redis, cfg.redis_prefix), self._rng, self._store_outcome)
        for name, fn in (("learning_remember", self._remember_loop), ("learning_counts", self._counts_loop)):
            self._tasks.add(asyncio.create_task(supervise(name, fn, counters=self._background)))

    async def aclose(self) -> None:
        if self._starting is not None:
            self._starting.cancel()
        pending = list(self._tasks) + list(self._shadow.tasks if self._shadow else ())
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._store is not None:
            await self._store.aclose()
        if self._redis is not None:
            await self._redis.aclose()

    def _start_later(self) -> None:
        """A reload added a ``learning`` section: start in the background (this request is not kept)."""
        if self._starting is None or self._starting.done():
            self._starting = asyncio.create_task(self.start())

    # -- the pipeline's hook ------------------------------------------------------------------

    def served(self, routed: Routed, principal: str, auto: bool) -> None:
        """Hand over an answered request (a stream: once its headers are out). Never waits."""
        policy = self._runtime().policy
        cfg = policy.learning
        if cfg is None:
            return
        if self._shadow is None or self._queue is None:
            self._start_later()
            return
        text = routed.request.text_for_score(self._scorer.chat_text_mode)
        tier, score, version = routed.decision.tier, routed.decision.score, self._model_version()
        if cfg.feedback.enabled:
            item = _Pending(routed.request_id, principal, tier, score, version, text)
            try:
                self._queue.put_nowait(item)
                self._pending[item.request_id] = item
            except asyncio.QueueFull:
                self._counters.count("remember_dropped")
        picked = self._shadow.sample(policy, principal, tier) if auto else None
        if picked is None:
            return
        compare, cheap, reference, explore = picked
        job = ShadowJob(routed.request_id, routed.request.endpoint, routed.request.body, text, compare, cheap,
                        reference, explore, score, version)
        if routed.events is None:
            assert routed.reply is not None
            job.served_text = reply_text(routed.reply.data)
            self._shadow.submit(job)
        else:
            routed.events = self._watch(routed.events, job)

    async def _watch(self, events: AsyncGenerator[list[StreamEvent], None],
                     job: ShadowJob) -> AsyncGenerator[list[StreamEvent], None]:
        """Pass a sampled stream through, keeping its payloads; submit the job if it completes."""
        payloads: list[bytes] = []
        completed = False
        try:
            async for batch in events:
                payloads.extend(ev.payload for ev in batch)
                yield batch
            completed = True
        finally:
            await events.aclose()
            if completed and self._shadow is not None:
                job.served_text = stream_text(payloads)
                self._shadow.submit(job)

    # -- feedback -----------------------------------------------------------------------------

    async def feedback(self, principal: str, body: dict[str, Any]) -> Label:
        """A feedback label for one of this principal's recent requests (errors: 404, 422, 503)."""
        cfg = self._runtime().policy.learning
        if cfg is None or not cfg.feedback.enabled:
            raise NotFound("Feedback is not enabled on this proxy (policy learning.feedback).",
                           code="feedback_disabled")
        rid, score, comment = _feedback_fields(body, self._counters)
        if self._recent is None or self._featurizer is None:
            raise NotReady("Learning is still starting; retry shortly.")
        served = await self._lookup(rid)
        if served is None or served.principal != principal:
            self._counters.count("feedback_unknown_request")
            raise NotFound(f"No recent request {rid!r} answered for this key (unknown or expired).",
                           param="request_id", code="request_not_found")
        extra: dict[str, Any] = {"feedback_score": score}
        if comment is not None:
            extra["comment"] = comment
        label = Label.new("feedback", 1.0 - score, request_id=rid, tier=served.tier, prompt=served.prompt,
                          features=served.features, model_version=served.model_version, score=served.score,
                          extra=extra)
        await self._add(label, raise_unavailable=True)
        self._counters.count("feedback_stored")
        return label

    async def _lookup(self, rid: str) -> Served | None:
        pending = self._pending.get(rid)
        if pending is not None:  # answered moments ago, features not computed yet: compute them now
            return await self._served(pending)
        assert self._recent is not None
        return await self._recent.get(rid)

    async def _served(self, p: _Pending) -> Served:
        assert self._featurizer is not None
        cfg = self._runtime().policy.learning
        feats = (await asyncio.to_thread(self._featurizer.features, [p.text]))[0]
        keep = cfg is not None and cfg.store_prompts
        return Served(p.request_id, p.principal, p.tier, p.score, p.model_version, feats, p.text if keep else None)

    # -- background ---------------------------------------------------------------------------

    async def _remember_loop(self) -> None:
        assert self._queue is not None and self._recent is not None and self._featurizer is not None
        while True:
            batch = [await self._queue.get()]
            while len(batch) < FEATURE_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                feats = await asyncio.to_thread(self._featurizer.features, [p.text for p in batch])
                cfg = self._runtime().policy.learning
                keep = cfg is not None and cfg.store_prompts
                ttl = cfg.feedback.remember_s if cfg is not None else 3600.0
                for p, f in zip(batch, feats, strict=True):
                    await self._recent.put(Served(p.request_id, p.principal, p.tier, p.score, p.model_version, f,
                                                  p.text if keep else None), ttl)
            finally:  # a batch that failed (the supervisor restarts the loop) leaves nothing behind
                for p in batch:
                    self._pending.pop(p.request_id, None)
            self._counters.count("remember_ok", len(batch))

    async def _counts_loop(self) -> None:
        assert self._store is not None
        while True:
            try:
                self._store_view = {**self._store.describe(), "by_source": await self._store.counts(),
                                    "held": await self._store.size()}
            except (RedisError, OSError, TimeoutError) as e:
                self._store_view = {**self._store.describe(), "error": str(e)}
            await asyncio.sleep(COUNTS_EVERY_S)

    async def _store_outcome(self, job: ShadowJob, outcome: Outcome) -> None:
        assert self._featurizer is not None
        cfg = self._runtime().policy.learning
        feats = (await asyncio.to_thread(self._featurizer.features, [job.text]))[0]
        label = Label.new("shadow", outcome.target, request_id=job.request_id, tier=job.cheap_tier,
                          reference_tier=job.reference_tier, prompt=job.text if cfg and cfg.store_prompts else None,
                          features=feats, model_version=job.model_version, score=job.score,
                          extra={"verdicts": list(outcome.winners), "judge": outcome.judge, "explore": job.explore})
        await self._add(label, raise_unavailable=False)

    async def _add(self, label: Label, *, raise_unavailable: bool) -> None:
        assert self._store is not None
        spec = getattr(self._featurizer, "spec", None)
        if label.features is not None and spec and "feature_spec" not in label.extra:  # the learner checks it
            label = dataclasses.replace(label, extra={**label.extra, "feature_spec": spec})
        try:
            await self._store.add(label)
        except (RedisError, OSError, TimeoutError) as e:
            self._counters.count("store_error")
            log.warning("label store failed", extra={"error": str(e), "source": label.source})
            if raise_unavailable:
                raise NotReady(f"The label store is unavailable: {e}") from None
            return
        self._counters.labels[label.source] += 1

    # -- /admin/stats -------------------------------------------------------------------------

    def live(self) -> dict[str, Any]:
        cfg: Learning | None = self._runtime().policy.learning
        return {"enabled": cfg is not None, "store": dict(self._store_view),
                "daily_usd_cap": cfg.shadow.daily_usd_cap if cfg is not None and cfg.shadow.enabled else None,
                "pending_shadow_jobs": len(self._shadow.tasks) if self._shadow else 0,
                "remember_queue": self._queue.qsize() if self._queue else 0}

    def bounds(self) -> dict[str, Any]:
        """What grows with traffic here, against its cap (``/admin/stats`` ``bounds``)."""
        return {"remember_queue": self._queue.qsize() if self._queue else 0, "remember_queue_max": REMEMBER_QUEUE,
                "remembered": len(self._recent) if self._recent else 0,
                "remembered_max": self._recent.max_entries if self._recent else None,
                "pending_features": len(self._pending)}


def _feedback_fields(body: dict[str, Any], counters: Any) -> tuple[str, float, str | None]:
    """(request_id, score 0..1, comment) of a feedback body, or 422 naming the field."""

    def bad(message: str, param: str) -> Unprocessable:
        counters.count("feedback_invalid")
        return Unprocessable(message, param=param)

    rid = body.get("request_id")
    if not isinstance(rid, str) or not rid or len(rid) > 128:
        raise bad("`request_id` is required: the x-tierroute-request-id of the answer.", "request_id")
    has_score, has_thumbs = body.get("score") is not None, body.get("thumbs") is not None
    if has_score == has_thumbs:
        raise bad("Give exactly one of `score` (0..1) or `thumbs` (\"up\" or \"down\").", "score")
    if has_thumbs:
        thumbs = body["thumbs"]
        if thumbs not in ("up", "down"):
            raise bad("`thumbs` must be \"up\" or \"down\".", "thumbs")
        score = 1.0 if thumbs == "up" else 0.0
    else:
        s = body["score"]
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.0 <= s <= 1.0:
            raise bad("`score` must be a number from 0 (bad) to 1 (good).", "score")
        score = float(s)
    comment = body.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
        raise bad(f"`comment` must be a string of at most {MAX_COMMENT} characters.", "comment")
    return rid, score, comment


def _load_featurizer(model_dir: str | None) -> Featurizer:
    from classifiers.featurize import Featurizer as RecipeFeaturizer  # loaded once, in a thread, at start

    return RecipeFeaturizer.load(model_dir)  # type: ignore[no-any-return]
