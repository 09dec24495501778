"""Shadow comparisons: a cheap answer against the reference tier's, judged pairwise, off the client's path.

Algorithm (``learning.shadow`` of the policy):

1. **Sample** (when a request is handed over, :meth:`ShadowRunner.sample`): only ``model: auto``
   requests, not from ``exclude_keys``. Answered by a tier cheaper than the reference tier (default
   the strongest) and not in ``exclude_tiers``: kept with probability ``rate``. Answered by the
   reference tier: kept with probability ``explore_rate`` and compared with the *cheapest* tier's
   answer instead (exploration: prompts sent strong get labels too).
2. **Submit** once the client has its whole answer (a stream: after its last event; a stream that
   failed or was left by the client is not compared). At most ``max_pending`` jobs queue or run;
   beyond that a job is dropped and counted. Nothing of this runs before the answer is out.
3. **Run** (a background task): stop if today's (UTC) shadow + judge spend reached
   ``daily_usd_cap`` (shared through Redis when configured); ask the other side's tier for the
   same request, non-streaming, its body built by :func:`router.backends.fields.build` (the
   allow-list) on the least busy healthy replica; then ask the judge both rounds at once
   (:mod:`.judging`): a strict JSON verdict each, else no label ("no verdict", counted). The
   label's target is the mean of the rounds. Costs are priced like served requests and recorded
   as shadow / judge spend, never on the client's key or in served cost.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from classifiers.text import SEPARATOR, content_text

from ..backends import fields
from ..backends.base import Backend
from ..domain import Endpoint, Replica
from ..errors import NoHealthyReplica, TierrouteError
from ..policy.learning import Judge, Shadow
from ..policy.model import Policy
from ..runtime import Runtime
from ..stats.learning import LearningCounters
from ..usage import usage_of
from .judging import Winner, judge_messages, parse_verdict, round_target

log = logging.getLogger("tierroute.learning")


@dataclass(slots=True)
class ShadowJob:
    request_id: str
    endpoint: Endpoint
    body: dict[str, Any]  # the client's (checked) body
    text: str  # the scored text (features, and the prompt when store_prompts)
    compare_tier: str  # the tier asked in the background
    cheap_tier: str
    reference_tier: str
    explore: bool
    score: float | None
    model_version: str | None
    served_text: str = ""  # filled in when the answer is complete

    @property
    def prompt(self) -> tuple[str, str]:
        """(the user's prompt, earlier turns) as the judge sees them."""
        if self.endpoint is Endpoint.CHAT:
            msgs = self.body["messages"]
            last = max((i for i, m in enumerate(msgs) if m.get("role") == "user"), default=len(msgs) - 1)
            earlier = SEPARATOR.join(f"{m.get('role')}: {t}" for m in msgs[:last]
                                     if (t := content_text(m.get("content"))))
            return content_text(msgs[last].get("content")), earlier
        return self.text, ""


@dataclass(frozen=True, slots=True)
class Outcome:
    target: float
    winners: tuple[Winner, Winner]
    judge: str


class DailySpend:
    """Shadow + judge USD per UTC day: this process's, or every proxy's through Redis."""

    def __init__(self, redis: Redis | RedisCluster | None, prefix: str,
                 today: Callable[[], str] = lambda: _utc_day()) -> None:
        self._redis = redis
        self._prefix = prefix + "spend:"
        self._today = today
        self._local: dict[str, float] = {}

    async def add(self, usd: float) -> None:
        day = self._today()
        self._local = {day: self._local.get(day, 0.0) + usd}
        if self._redis is None or usd <= 0:
            return
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incrbyfloat(self._prefix + day, usd)
                pipe.expire(self._prefix + day, 3 * 86_400)
                total, _ = await pipe.execute()
            self._local[day] = max(self._local[day], float(total))
        except (RedisError, OSError, TimeoutError):
            pass  # this process's own spend still counts against the cap

    async def today(self) -> float:
        day = self._today()
        if self._redis is not None:
            try:
                raw = await self._redis.get(self._prefix + day)
                if raw is not None:
                    self._local[day] = max(self._local.get(day, 0.0), float(raw))
            except (RedisError, OSError, TimeoutError):
                pass  # the last total seen here stands in
        return self._local.get(day, 0.0)


def _utc_day() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")


@dataclass
class ShadowRunner:
    runtime: Callable[[], Runtime]
    backends: Mapping[str, Backend]
    counters: LearningCounters
    spend: DailySpend
    rng: random.Random
    on_outcome: Callable[[ShadowJob, Outcome], Any]  # async: store the label
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def sample(self, policy: Policy, principal: str, tier: str) -> tuple[str, str, str, bool] | None:
        """(tier to ask, cheap tier, reference tier, explore) when this auto request is to be compared."""
        assert policy.learning is not None
        sh = policy.learning.shadow
        if not sh.enabled or principal in sh.exclude_keys:
            return None
        ref = reference_tier(policy, sh)
        i, r = policy.tier_index(tier), policy.tier_index(ref)
        if i < r:
            if tier in sh.exclude_tiers or self.rng.random() >= sh.rate:
                return None
            return ref, tier, ref, False
        cheapest = policy.tiers[0].name
        if i == r and cheapest != ref and cheapest not in sh.exclude_tiers and self.rng.random() < sh.explore_rate:
            return cheapest, cheapest, ref, True
        return None

    def submit(self, job: ShadowJob) -> None:
        policy = self.runtime().policy
        if policy.learning is None or len(self.tasks) >= policy.learning.shadow.max_pending:
            self.counters.count("dropped_full")
            return
        self.counters.count("explored" if job.explore else "sampled")
        task = asyncio.create_task(self._run(job))
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("shadow job failed", exc_info=task.exception())

    async def _run(self, job: ShadowJob) -> None:
        rt = self.runtime()
        learning = rt.policy.learning
        if learning is None:
            return
        sh = learning.shadow
        if await self.spend.today() >= sh.daily_usd_cap:
            self.counters.count("capped")
            return
        try:
            other = await self._answer(rt, job)
        except TierrouteError as e:
            self.counters.count("reference_failed")
            log.info("shadow answer failed", extra={"request_id": job.request_id, "error": e.message})
            return
        reference, cheap = (job.served_text, other) if job.explore else (other, job.served_text)
        assert sh.judge is not None
        outcome = await self._judge(rt, sh.judge, job, reference, cheap)
        if outcome is not None:
            self.counters.verdict(job.cheap_tier, outcome.target, explore=job.explore)
            self.counters.count("judged")
            await self.on_outcome(job, outcome)

    async def _answer(self, rt: Runtime, job: ShadowJob) -> str:
        replica = least_busy(rt, job.compare_tier)
        body = fields.build(replica.kind, job.endpoint, job.body, replica.model, stream=False)
        body.pop("stream", None)
        body.pop("stream_options", None)
        data = await self._call(replica, job.endpoint, body, f"{job.request_id}-shadow", "shadow")
        return reply_text(data)

    async def _judge(self, rt: Runtime, judge: Judge, job: ShadowJob, reference: str, cheap: str) -> Outcome | None:
        prompt, context = job.prompt
        try:
            replica = least_busy(rt, judge.tier) if judge.tier else judge_replica(judge)
            replies = await asyncio.gather(*(self._call(
                replica, Endpoint.CHAT,
                fields.build(replica.kind, Endpoint.CHAT,
                             {"messages": judge_messages(prompt, reference, cheap, r, context), "temperature": 0,
                              "max_tokens": judge.max_tokens}, replica.model, stream=False),
                f"{job.request_id}-judge{r}", "judge") for r in (1, 2)))
        except TierrouteError as e:
            self.counters.count("judge_error")
            log.info("judge failed", extra={"request_id": job.request_id, "error": e.message})
            return None
        w1, w2 = (parse_verdict(reply_text(d)) for d in replies)
        if w1 is None or w2 is None:
            self.counters.count("no_verdict")
            log.info("judge gave no verdict", extra={"request_id": job.request_id,
                                                     "replies": [reply_text(d)[:200] for d in replies]})
            return None
        return Outcome((round_target(w1, 1) + round_target(w2, 2)) / 2, (w1, w2), replica.model)

    async def _call(self, replica: Replica, endpoint: Endpoint, body: dict[str, Any], request_id: str,
                    what: str) -> dict[str, Any]:
        replica.state.in_flight += 1
        try:
            reply = await self.backends[replica.kind].complete(replica, endpoint, body, request_id)
        finally:
            replica.state.in_flight -= 1
        u = usage_of(reply.data)
        cost = replica.price.cost(u.prompt_tokens, u.completion_tokens) if u else 0.0
        self.counters.spend[what] = self.counters.spend.get(what, 0.0) + cost
        await self.spend.add(cost)
        return reply.data


def reference_tier(policy: Policy, shadow: Shadow) -> str:
    return shadow.reference_tier or policy.strongest.name


def least_busy(rt: Runtime, tier: str) -> Replica:
    healthy = [r for r in rt.table.candidates(tier) if r.state.healthy]
    if not healthy:
        raise NoHealthyReplica(f"no healthy replica in tier {tier!r}")
    return min(healthy, key=lambda r: r.state.in_flight)


def judge_replica(judge: Judge) -> Replica:
    assert judge.model is not None and judge.price is not None
    api_base = str(judge.api_base).rstrip("/") if judge.api_base else None
    return Replica(f"judge {judge.model} {api_base or ''}", "judge", "judge", "litellm", judge.model, judge.price,
                   api_base=api_base, api_key_env=judge.api_key_env)


def reply_text(data: dict[str, Any]) -> str:
    """The first choice's text of a chat or completions reply (tool calls as JSON)."""
    choices = data.get("choices") or [{}]
    c = choices[0] if isinstance(choices[0], dict) else {}
    if "text" in c:
        return str(c.get("text") or "")
    msg = c.get("message") or {}
    text = content_text(msg.get("content"))
    if msg.get("tool_calls"):
        text += orjson.dumps(msg["tool_calls"]).decode()
    return text


def stream_text(payloads: list[bytes]) -> str:
    """The first choice's text of a streamed answer (its ``data:`` payloads, in order)."""
    parts: list[str] = []
    for p in payloads:
        try:
            chunk = orjson.loads(p)
        except orjson.JSONDecodeError:
            continue
        for c in chunk.get("choices") or []:
            if isinstance(c, dict) and c.get("index", 0) == 0:
                delta = c.get("delta") or {}
                piece = c.get("text") if "text" in c else delta.get("content")
                if isinstance(piece, str):
                    parts.append(piece)
    return "".join(parts)
