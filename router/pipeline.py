"""The path of one request: auth → parse → classify → decide tier → pick replica → forward →
stream back → record. :func:`handle` is that path; read it first.

It speaks OpenAI's request shape; the API layer translates other dialects (Anthropic) in and
out around it. Every client-caused problem is raised as a :mod:`router.errors` type and shaped
into an error response at the edge.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

from .auth import Principal
from .backends import fields
from .backends.base import ConnectFailed, Endpoint, Reply
from .balance.health import mark_failed
from .balance.pick import PickRequest
from .balance.pool import Replica
from .conversations import ConversationKeys, conversation_keys
from .errors import NoHealthyReplica, TierrouteError
from .parse import ParsedRequest, parse_request
from .policy.decide import Decision, Target, decide, resolve_target
from .runtime import Runtime, Services
from .stats.recorder import RequestRecord
from .streaming import OpenedStream, StreamEvent, UsageCapture, open_stream, relay
from .usage import Usage, usage_of

TIER_HEADER = "x-tierroute-tier"
log = logging.getLogger("tierroute.access")


@dataclass(slots=True)
class Caller:
    """Who sent a request, known from its headers before its body is read (``router.api.http``)."""

    rt: Runtime  # one consistent policy snapshot for the whole request
    principal: Principal
    request_id: str  # echoed to the client: theirs when it is a plain token, else ours
    key: str  # ours and unique: leases, pending entries and upstream ids use it, never the client's id
    started: float


@dataclass(slots=True)
class Routed:
    """What the API layer needs to answer: the decision, the replica and the upstream's reply."""

    request_id: str
    request: ParsedRequest
    decision: Decision
    replica: Replica
    reply: Reply | None = None  # non-streaming
    events: AsyncGenerator[list[StreamEvent], None] | None = None  # streaming, in upstream groups
    usage: Usage | None = None
    cost_usd: float | None = None

    def headers(self) -> dict[str, str]:
        h = {"x-tierroute-request-id": self.request_id, "x-tierroute-tier": self.decision.tier,
             "x-tierroute-replica": self.replica.id, "x-tierroute-reason": self.decision.reason}
        if self.decision.score is not None:
            h["x-tierroute-score"] = f"{self.decision.score:.4f}"
        if self.cost_usd is not None:
            h["x-tierroute-cost-usd"] = f"{self.cost_usd:.8f}"
        if self.replica.kind == "litellm":  # SGLang extensions and `metadata` are not sent there
            dropped = fields.dropped(self.replica.kind, self.request.endpoint, self.request.body)
            if dropped:
                h["x-tierroute-dropped-params"] = ",".join(dropped)
        return h


async def handle(svc: Services, caller: Caller, endpoint: Endpoint, body: dict[str, Any],
                 headers: Mapping[str, str]) -> Routed:
    rt, principal, request_id, started = caller.rt, caller.principal, caller.request_id, caller.started  # auth: done
    req = parse_request(endpoint, body)  # parse
    target = resolve_target(rt.policy, req.model, headers.get(TIER_HEADER))
    score, floor, conv = None, None, None
    if target.kind == "auto":  # classify
        score = await svc.scorer.score(req.text_for_score(svc.scorer.chat_text_mode))
        svc.thresholds.observe(score)
        conv, floor = await _conversation(svc, rt, req, headers, principal.name)
    auto = target.kind == "auto"  # only auto routing looks at tier health and cut points
    decision = decide(rt.policy, target, score=score, needed_tokens=req.needed_tokens(),  # decide tier
                      allowed_tiers=principal.tiers, healthy_tiers=rt.table.healthy_tiers() if auto else (),
                      cuts=svc.thresholds.cuts(rt.policy.routing) if auto else (), floor=floor)
    svc.stats.record_decision(decision.tier, decision.reason, decision.score)
    if conv is not None:
        await _remember(svc, rt, conv, floor, decision.tier)
    replica, answer, pick_req = await _pick_and_forward(svc, rt, decision, target, req, request_id)  # pick, send
    routed = Routed(request_id, req, decision, replica)
    if isinstance(answer, Reply):  # answer whole, then record
        routed.reply = answer
        routed.usage = answer.usage
        routed.cost_usd = _record(svc, rt, routed, 200, svc.clock.now() - started, None)
    else:  # stream back; recorded when the stream ends
        routed.events = _stream_back(svc, rt, routed, answer, pick_req, started)
    svc.learning.served(routed, principal.name, auto)  # feedback and shadow labels, off this path
    return routed


async def _conversation(svc: Services, rt: Runtime, req: ParsedRequest, headers: Mapping[str, str],
                        principal: str) -> tuple[ConversationKeys | None, str | None]:
    """This conversation's keys and the tier it already has (when stickiness is on)."""
    if not rt.policy.routing.sticky.enabled or req.endpoint is not Endpoint.CHAT:
        return None, None
    keys = conversation_keys(req.body["messages"], headers, f"{principal}|{req.model}")
    return keys, (await svc.conversations.get(keys.lookup) if keys.lookup else None)


async def _remember(svc: Services, rt: Runtime, keys: ConversationKeys, floor: str | None, tier: str) -> None:
    await svc.conversations.put(keys.store, tier, rt.policy.routing.sticky.ttl_s)
    if floor is not None and rt.policy.tier_index(tier) > rt.policy.tier_index(floor):
        svc.stats.record_escalation()


async def _pick_and_forward(svc: Services, rt: Runtime, decision: Decision, target: Target,
                            req: ParsedRequest, request_id: str) -> tuple[Replica, Reply | OpenedStream, PickRequest]:
    """Pick a replica and send; on a connection failure try another one (``upstream.retries``)."""
    candidates = list(rt.table.candidates(decision.tier, target.model))
    pick_req = PickRequest(decision.tier, request_id, req.body)
    picker = svc.pickers[rt.policy.balance.policy]
    failed: list[Replica] = []
    last: TierrouteError | None = None
    for _ in range(rt.policy.upstream.retries + 1):
        remaining = [c for c in candidates if c not in failed]
        if not remaining:
            break
        try:
            replica = await picker.pick(remaining, pick_req)
        except NoHealthyReplica:
            svc.stats.record(RequestRecord(decision.tier, None, None, NoHealthyReplica.status))
            raise
        backend = svc.backends[replica.kind]
        body = req.for_upstream(replica.kind, replica.model)
        replica.state.in_flight += 1
        try:
            if req.stream:
                stream = await backend.stream(replica, req.endpoint, body, request_id)
                answer: Reply | OpenedStream = await open_stream(stream, svc.clock, f"replica {replica.id}")
                picker.started(replica, pick_req)  # its first token is out: the prompt is prefilled
            else:
                answer = await backend.complete(replica, req.endpoint, body, request_id)
        except (ConnectFailed, NoHealthyReplica) as e:  # not delivered: another replica may serve it
            await _release(svc, rt, replica, pick_req, None, served=False)
            if isinstance(e, ConnectFailed):
                mark_failed(replica, e.message, rt.policy.health.unhealthy_after)
            failed.append(replica)
            last = e
            continue
        except BaseException as e:  # noqa: BLE001 - released, then re-raised (cancellation included)
            await _release(svc, rt, replica, pick_req, None, served=False)
            if isinstance(e, TierrouteError):
                _record_failure(svc, decision, replica, e.status)
            raise
        if isinstance(answer, Reply):  # a stream keeps its slot and lease until it ends
            answer.usage = usage_of(answer.data)
            await _release(svc, rt, replica, pick_req, answer.usage, served=True)
        return replica, answer, pick_req
    if last is None:
        raise NoHealthyReplica(f"no healthy replica in tier {decision.tier!r}")
    _record_failure(svc, decision, failed[-1], last.status)
    raise last


async def _release(svc: Services, rt: Runtime, replica: Replica, pick_req: PickRequest, usage: Usage | None,
                   *, served: bool) -> None:
    """The request no longer occupies the replica: in-flight count down, lease and feedback to the picker."""
    replica.state.in_flight -= 1
    await svc.pickers[rt.policy.balance.policy].done(replica, pick_req, usage, served=served)


async def _stream_back(svc: Services, rt: Runtime, routed: Routed, opened: OpenedStream, pick_req: PickRequest,
                       started: float) -> AsyncGenerator[list[StreamEvent], None]:
    """Relay the stream; when it ends (done, failed or the client left) release and record."""
    capture = UsageCapture()
    status = 499  # the client went away, unless the stream completes or fails
    try:
        async for batch in relay(opened, capture):
            yield batch
        status = 200
    except TierrouteError as e:
        status = e.status
        raise
    finally:
        await opened.upstream.aclose()
        await _release(svc, rt, routed.replica, pick_req, capture.usage, served=True)
        routed.usage = capture.usage
        routed.cost_usd = _record(svc, rt, routed, status, svc.clock.now() - started, opened.first_at - started)


def _record(svc: Services, rt: Runtime, routed: Routed, status: int, latency: float,
            ttft: float | None) -> float:
    u = routed.usage or Usage(0, 0, 0)
    cost = routed.replica.price.cost(u.prompt_tokens, u.completion_tokens)
    baseline = rt.strongest_price.cost(u.prompt_tokens, u.completion_tokens)
    svc.stats.record(RequestRecord(routed.decision.tier, routed.replica.id, routed.replica.model, status,
                                   u.prompt_tokens, u.completion_tokens, u.cached_tokens, cost, baseline,
                                   latency, ttft))
    if not log.isEnabledFor(logging.INFO):
        return cost
    d = routed.decision
    log.info("request", extra={
        "request_id": routed.request_id, "endpoint": routed.request.endpoint.value, "status": status,
        "tier": d.tier, "reason": d.reason, "score": d.score, "replica": routed.replica.id,
        "model": routed.replica.model, "stream": routed.request.stream, "input_tokens": u.prompt_tokens,
        "output_tokens": u.completion_tokens, "cached_tokens": u.cached_tokens, "cost_usd": cost,
        "latency_ms": round(latency * 1000, 2), "ttft_ms": round(ttft * 1000, 2) if ttft is not None else None})
    return cost


def _record_failure(svc: Services, decision: Decision, replica: Replica, status: int) -> None:
    svc.stats.record(RequestRecord(decision.tier, replica.id, replica.model, status))
