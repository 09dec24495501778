"""The path of one request: (auth, at the edge) → parse → classify → decide tier → pick replica →
forward → answer or stream back → record. :func:`handle` is that path; read it first. The key's
limits (:mod:`router.limits`) admit a request at the edge, before its body is read; the record step
charges its tokens and cost to them.

What a request holds on its replica (in-flight count, the picker's pending entry and lease,
prefill marks, the upstream stream) lives in one :class:`router.balance.slot.Slot`, opened where
the replica is picked and closed when ``handle`` returns, however it ends: the edge's ``respond``
sends the answer or relays the whole stream inside it, and a client hanging up cancels it.

It speaks OpenAI's request shape; the API layer translates other dialects (Anthropic) in and
out around it. Every client-caused problem is raised as a :mod:`router.errors` type and shaped
into an error response at the edge.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .auth import Principal
from .backends import fields
from .backends.base import Reply
from .balance.pick import PickRequest
from .balance.slot import Slot
from .conversations import ConversationKeys, conversation_keys
from .domain import Endpoint, Replica
from .errors import BadRequest, NoHealthyReplica, TierrouteError
from .limits import ADMITTED, Admission
from .parse import ParsedRequest, parse_request
from .policy.capabilities import NO_NEEDS, clamp_output, needs_of
from .policy.decide import Decision, Target, decide, resolve_target
from .policy.routing import rule_for
from .policy.steer import Steer, estimated_costs, steer_of, steered_tiers
from .runtime import Runtime, Services
from .stats.recorder import RequestRecord
from .streaming import OpenedStream, StreamEvent, UsageCapture, open_stream, relay
from .usage import Usage, usage_of

TIER_HEADER = "x-tierroute-tier"
Respond = Callable[["Routed"], Awaitable[None]]  # the edge: send the reply, or relay the stream to the end
log = logging.getLogger("tierroute.access")


@dataclass(slots=True)
class Caller:
    """Who sent a request, known from its headers before its body is read (``router.api.http``)."""

    rt: Runtime  # one consistent policy snapshot for the whole request
    principal: Principal
    request_id: str  # echoed to the client: theirs when it is a plain token, else ours
    key: str  # ours and unique: leases, pending entries and upstream ids use it, never the client's id
    started: float
    admission: Admission = ADMITTED  # its key's limits let it in (router.limits); budget used up: downgrade


@dataclass(slots=True)
class Adjusted:
    """What the proxy changed in the request for the replica that answered."""

    dropped: tuple[str, ...] = ()  # parameters its model does not take (upstream.unsupported_params: drop)
    max_tokens: int | None = None  # the output budget, cut to its room; None: sent as asked


@dataclass(slots=True)
class Routed:
    """What the API layer needs to answer: the decision, the replica and the upstream's reply."""

    request_id: str
    request: ParsedRequest
    decision: Decision
    replica: Replica
    failed: list[str]  # earlier attempts that met an upstream fault: "<replica>:<status>"
    reply: Reply | None = None  # non-streaming
    events: AsyncGenerator[list[StreamEvent], None] | None = None  # streaming, in upstream groups
    usage: Usage | None = None
    cost_usd: float | None = None
    status: int = 499  # of a stream: 200 once it completed, an error's status, else the client left
    unsupported: tuple[str, ...] = ()  # parameters the replica's model does not take, dropped (policy)
    needs: tuple[str, ...] = ()  # what the request needs of a tier (router.policy.capabilities)
    clamped_max_tokens: int | None = None  # its output budget, cut to the replica's room

    def headers(self) -> dict[str, str]:
        h = {"x-tierroute-request-id": self.request_id, "x-request-id": self.request_id,
             "x-tierroute-tier": self.decision.tier,
             "x-tierroute-replica": self.replica.id, "x-tierroute-reason": self.decision.reason}
        if self.decision.score is not None:
            h["x-tierroute-score"] = f"{self.decision.score:.4f}"
        if self.cost_usd is not None:
            h["x-tierroute-cost-usd"] = f"{self.cost_usd:.8f}"
        if self.failed:
            h["x-tierroute-attempts"] = str(len(self.failed) + 1)
        if self.needs:
            h["x-tierroute-needs"] = ",".join(self.needs)
        if self.clamped_max_tokens is not None:
            h["x-tierroute-max-tokens-clamped"] = str(self.clamped_max_tokens)
        if self.replica.kind == "litellm" or self.unsupported:  # SGLang extensions, `metadata`, what it does not take
            dropped = fields.dropped(self.replica.kind, self.request.endpoint, self.request.body) + self.unsupported
            if dropped:
                h["x-tierroute-dropped-params"] = ",".join(dropped)
        return h


async def handle(svc: Services, caller: Caller, endpoint: Endpoint, body: dict[str, Any],
                 headers: Mapping[str, str], respond: Respond) -> None:
    rt, principal = caller.rt, caller.principal  # auth: done by the edge, from the headers
    req = parse_request(endpoint, body)  # parse
    target = resolve_target(rt.policy, req.model, headers.get(TIER_HEADER))
    score, floor, conv, rule = None, None, None, None
    needs = needs_of(req.body) if req.endpoint is Endpoint.CHAT else NO_NEEDS  # images, tools, JSON schema
    if target.kind == "auto":  # classify (unless one of the policy's rules says what the request is)
        rule = rule_for(rt.policy.routing.rules, req.body, needs, req.prompt_tokens_estimate(), principal.name,
                        lambda: req.text_for_score(svc.scorer.chat_text_mode)) if rt.policy.routing.rules else None
        if rule is None:
            score = await svc.scorer.score(req.text_for_score(svc.scorer.chat_text_mode))
            svc.thresholds.observe(score)
        conv, floor = await _conversation(svc, rt, req, headers, principal.name)
    auto = target.kind == "auto"  # only auto routing looks at tier health and cut points
    steer = steer_of(rt.policy, req.body, headers)  # the request's own bounds: min/max tier, max cost
    decision = decide(rt.policy, target, score=score,  # decide tier
                      needed_tokens=req.needed_tokens(rt.policy.routing.min_output_tokens),
                      allowed_tiers=principal.tiers, healthy_tiers=rt.table.healthy_tiers() if auto else (),
                      cuts=svc.thresholds.cuts(rt.policy.routing) if auto else (), floor=floor,
                      budget_exhausted=caller.admission.budget_exhausted,
                      needs=needs, caps=rt.table.capabilities() if needs else None,
                      steered=_steered(rt, req, steer) if steer is not None else None, rule=rule)
    svc.stats.record_decision(decision.tier, decision.reason, decision.score)
    if conv is not None:
        await _remember(svc, rt, conv, floor, decision.tier)
    # Everything the request holds on its replica is released when this block ends, however it ends.
    failed: list[str] = []  # attempts that met an upstream fault, retried elsewhere
    adjusted = Adjusted()  # of the attempt that answered: parameters dropped, output budget clamped
    async with Slot(svc.pickers[rt.policy.balance.policy], PickRequest(decision.tier, caller.key, req.body)) as slot:
        try:
            decision, answer = await _pick_and_forward(svc, rt, decision, target, req, slot, caller, failed,
                                                       adjusted)  # pick, send
        except TierrouteError as e:  # routed, then failed (no replica, upstream error): say where it went
            e.headers.setdefault(TIER_HEADER, decision.tier)
            e.headers.setdefault("x-tierroute-reason", decision.reason)
            raise
        assert slot.replica is not None
        routed = Routed(caller.request_id, req, decision, slot.replica, failed, unsupported=adjusted.dropped,
                        needs=needs, clamped_max_tokens=adjusted.max_tokens)
        if routed.unsupported:  # left out by the attempt that answered
            svc.stats.record_params(routed.replica.tier, dropped=routed.unsupported)
        if isinstance(answer, Reply):  # answer whole: record, then respond
            routed.reply = answer
            slot.usage = routed.usage = answer.usage = usage_of(answer.data)
            routed.cost_usd = _record(svc, rt, caller, routed, 200, svc.clock.now() - caller.started, None)
            svc.learning.served(routed, principal.name, auto)  # feedback and shadow labels, off this path
            await respond(routed)
            return
        capture = UsageCapture()  # stream back; recorded when it ends (499 unless it completes or fails)
        routed.events = _stream_back(rt, routed, answer, capture)
        svc.learning.served(routed, principal.name, auto)
        try:
            await respond(routed)
        finally:
            slot.usage = routed.usage = capture.usage
            routed.cost_usd = _record(svc, rt, caller, routed, routed.status, svc.clock.now() - caller.started,
                                      answer.first_at - caller.started)


def _steered(rt: Runtime, req: ParsedRequest, steer: Steer) -> tuple[list[str], dict[str, str]]:
    costs = estimated_costs(rt.policy, req.prompt_tokens_estimate(),
                            req.max_tokens or rt.policy.routing.min_output_tokens)
    return steered_tiers(rt.policy, steer, costs)


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


async def _pick_and_forward(svc: Services, rt: Runtime, decision: Decision, target: Target, req: ParsedRequest,
                            slot: Slot, caller: Caller, failed: list[str],
                            adjusted: Adjusted) -> tuple[Decision, Reply | OpenedStream]:
    """Pick a replica and send. On an upstream fault before the first byte (no connection, 5xx, 429,
    a timeout) try another replica of the tier, then the decision's fallback tiers, ``upstream.retries``
    more attempts in all; each failed attempt is noted in ``failed`` ("<replica>:<status>"). Parameters
    the replica's model does not take are refused or (noted in ``adjusted``) dropped: :func:`_unsupported`;
    an output budget above the replica's room is cut to it (noted in ``adjusted``)."""
    budget = rt.policy.upstream.retries + 1
    last: tuple[Replica, TierrouteError] | None = None
    for tier in (decision.tier, *decision.fallbacks):
        if tier != slot.request.tier:
            slot.move(tier)
        candidates = list(rt.table.candidates(tier, target.model if tier == target.tier else None))
        while budget > 0 and candidates:
            try:
                replica = await slot.pick(candidates)  # in flight, leased and past the prefill hold from here
            except NoHealthyReplica:
                break
            budget -= 1
            candidates.remove(replica)
            # SGLang takes every public parameter (router/backends/fields.py, rule 5), not Anthropic's extensions (6)
            adjusted.dropped = await _unsupported(svc, rt, req, replica) if replica.kind == "litellm" else \
                fields.unsupported_on_sglang(replica, req.endpoint, req.body, req.extensions())
            adjusted.max_tokens = clamp_output(req.max_tokens, rt.table.replica_caps(replica),
                                               rt.policy.tier(replica.tier).context_tokens,
                                               req.prompt_tokens_estimate()) if req.max_tokens else None
            try:
                answer = await _send(svc, req, slot, replica, adjusted.max_tokens)
            except TierrouteError as e:
                if not e.fault:  # the upstream's answer to this request (4xx): the client's to see
                    svc.stats.record(RequestRecord(replica.tier, replica.id, replica.model, e.status,
                                                   attempts=len(failed) + 1))
                    _upstream_said(e, caller.request_id, replica, "upstream refused the request")
                    raise
                _fault(svc, rt, replica, e, caller.request_id)
                failed.append(f"{replica.id}:{e.status}")
                await slot.release()
                last = replica, e
                continue
            replica.state.breaker.success(replica.id)
            if tier == decision.tier:
                return decision, answer
            svc.stats.record_tier_fallback()
            return replace(decision, tier=tier, reason="fallback_error"), answer
    if last is None:
        svc.stats.record(RequestRecord(decision.tier, None, None, NoHealthyReplica.status))
        raise NoHealthyReplica(f"no healthy replica in tier {decision.tier!r}")
    replica, error = last
    svc.stats.record(RequestRecord(replica.tier, replica.id, replica.model, error.status, attempts=len(failed)))
    error.name_request(caller.request_id)
    raise error


async def _unsupported(svc: Services, rt: Runtime, req: ParsedRequest, replica: Replica) -> tuple[str, ...]:
    """The request's public parameters that ``replica``'s model does not take (litellm's table; SGLang
    takes them all): dropped (the backend leaves them out, the answer names them in
    ``x-tierroute-dropped-params``), or, under ``upstream.unsupported_params: reject`` and always for
    tools, structured output and output limits (``fields.NEVER_DROPPED``), a 400 naming one and the tier."""
    names = await svc.backends[replica.kind].unsupported(replica, req.endpoint, req.body)
    refused = [n for n in names if n not in fields.HINTS
               and (n in fields.NEVER_DROPPED or rt.policy.upstream.unsupported_params == "reject")]
    if refused:
        svc.stats.record_params(replica.tier, refused=refused[:1])
        why = ("" if refused[0] in fields.NEVER_DROPPED else
               " (the policy's upstream.unsupported_params is 'reject'; with 'drop' it is left out)")
        raise BadRequest(
            f"The parameter {refused[0]!r} is not supported by tier {replica.tier!r} (model {replica.model}){why}. "
            f"Remove it or pin another tier.", param=refused[0], code="unsupported_parameter",
            headers={TIER_HEADER: replica.tier})
    return names


async def _send(svc: Services, req: ParsedRequest, slot: Slot, replica: Replica,
                max_tokens: int | None) -> Reply | OpenedStream:
    """One attempt: the whole answer, or a stream whose first event has come."""
    backend = svc.backends[replica.kind]
    body = req.for_upstream(replica.kind, replica.model)
    if max_tokens is not None:  # cut to the replica's room (router.policy.capabilities.clamp_output)
        body.update({k: max_tokens for k in ("max_tokens", "max_completion_tokens") if k in body})
    if not req.stream:
        answer = await backend.complete(replica, req.endpoint, body, slot.request.key)
        slot.served = True
        return answer
    stream = await backend.stream(replica, req.endpoint, body, slot.request.key)
    opened = await open_stream(stream, svc.clock, replica)
    slot.upstream = stream
    slot.started()  # its first token is out: the prompt is prefilled
    return opened


def _fault(svc: Services, rt: Runtime, replica: Replica, e: TierrouteError, rid: str) -> None:
    """An upstream fault: to the replica's breaker, the stats and the log (with the upstream's own words)."""
    b = rt.policy.breaker
    why = (e.detail or e.message)[:200]
    replica.state.last_error = why
    replica.state.breaker.fault(why, failures=b.failures, window_s=b.window_s, open_s=b.open_s, name=replica.id)
    svc.stats.record_failed_attempt(replica.id)
    _upstream_said(e, rid, replica, "upstream fault")


def _upstream_said(e: TierrouteError, rid: str, replica: Replica, what: str) -> None:
    """The upstream's own words (host, replica, provider text: never in the client's answer), to the log."""
    log.warning(what, extra={"request_id": rid, "replica": replica.id, "status": e.status,
                             "error": e.detail or e.message})


async def _stream_back(rt: Runtime, routed: Routed, opened: OpenedStream,
                       capture: UsageCapture) -> AsyncGenerator[list[StreamEvent], None]:
    """Relay the stream, noting how it ended in ``routed.status`` (its slot closes the upstream).

    After the first byte nothing is retried: a fault ends the stream with an error event (the edge)."""
    try:
        async for batch in relay(opened, capture):
            yield batch
        routed.status = 200
    except TierrouteError as e:
        routed.status = e.status
        r = routed.replica
        if e.fault:
            b = rt.policy.breaker
            r.state.breaker.fault((e.detail or e.message)[:200], failures=b.failures, window_s=b.window_s,
                                  open_s=b.open_s, name=r.id)
        if e.detail is not None:
            _upstream_said(e, routed.request_id, r, "upstream fault mid-stream")
            e.name_request(routed.request_id)
        raise


def _record(svc: Services, rt: Runtime, caller: Caller, routed: Routed, status: int, latency: float,
            ttft: float | None) -> float:
    u = routed.usage or Usage(0, 0, 0)
    cost = routed.replica.price.cost(u.prompt_tokens, u.completion_tokens)
    baseline = rt.strongest_price.cost(u.prompt_tokens, u.completion_tokens)
    svc.limits.charge(caller.principal, u.prompt_tokens + u.completion_tokens, cost)  # tokens per minute, budget
    svc.stats.record(RequestRecord(routed.decision.tier, routed.replica.id, routed.replica.model, status,
                                   u.prompt_tokens, u.completion_tokens, u.cached_tokens, cost, baseline,
                                   latency, ttft, attempts=len(routed.failed) + 1))
    if not log.isEnabledFor(logging.INFO):
        return cost
    d = routed.decision
    log.info("request", extra={
        "request_id": routed.request_id, "endpoint": routed.request.endpoint.value, "status": status,
        "tier": d.tier, "reason": d.reason, "score": d.score, "replica": routed.replica.id,
        "model": routed.replica.model, "stream": routed.request.stream, "input_tokens": u.prompt_tokens,
        "output_tokens": u.completion_tokens, "cached_tokens": u.cached_tokens, "cost_usd": cost,
        "latency_ms": round(latency * 1000, 2), "ttft_ms": round(ttft * 1000, 2) if ttft is not None else None,
        "attempts": len(routed.failed) + 1, "failed_attempts": routed.failed})
    return cost
