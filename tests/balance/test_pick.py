"""Least-in-flight replica choice; route tables keep replica state across reloads."""

from __future__ import annotations

import pytest
import yaml

from router.balance.pick import LeastInFlight, PickRequest
from router.balance.pool import ReplicaRegistry, build_route_table
from router.errors import NoHealthyReplica
from router.policy.loader import parse_policy
from tests.support import policy_dict

URLS = ["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"]
REQ = PickRequest("small", "rid", {})


def _table(registry: ReplicaRegistry, urls: list[str] = URLS):
    return build_route_table(parse_policy(yaml.safe_dump(policy_dict(small=urls)), env={}).policy, registry)


async def test_fewest_in_flight_then_rotation() -> None:
    reps = _table(ReplicaRegistry()).candidates("small")
    reps[0].state.in_flight, reps[1].state.in_flight, reps[2].state.in_flight = 2, 0, 0
    picker = LeastInFlight()
    chosen = [await picker.pick(reps, REQ) for _ in range(4)]
    assert {r.id for r in chosen} == {"small/1", "small/2"}  # ties share the work
    assert chosen[0] is not chosen[1]


async def test_unhealthy_skipped_and_none_healthy_is_503() -> None:
    reps = _table(ReplicaRegistry()).candidates("small")
    reps[0].state.healthy = reps[1].state.healthy = False
    assert (await LeastInFlight().pick(reps, REQ)).id == "small/2"
    reps[2].state.healthy = False
    with pytest.raises(NoHealthyReplica):
        await LeastInFlight().pick(reps, REQ)


def test_reload_keeps_state_of_kept_replicas() -> None:
    registry = ReplicaRegistry()
    old = _table(registry).candidates("small")
    old[1].state.in_flight = 5
    new = _table(registry, URLS[1:] + ["http://127.0.0.1:4"]).candidates("small")
    assert new[0].url == URLS[1] and new[0].state.in_flight == 5 and new[0].state is old[1].state
    assert new[1].state.in_flight == 0
