"""Per-request steering, as OpenRouter and Martian allow: bounds on the tier and on the cost.

A request may carry, as body fields or headers (the header wins when both are given):

- ``min_tier`` / ``x-tierroute-min-tier``: no tier cheaper than this one;
- ``max_tier`` / ``x-tierroute-max-tier``: no tier stronger than this one;
- ``max_cost_usd`` / ``x-tierroute-max-cost-usd``: no tier whose estimated cost for this request
  is above it. The estimate is the tier's price (its first backend's) for the estimated prompt
  tokens plus ``max_tokens`` (or ``routing.min_output_tokens`` when the request gives none).

:func:`steered_tiers` gives the tiers that stay in bounds; :func:`router.policy.decide.decide`
keeps ``auto`` inside them (reason ``steered`` when they moved it) and refuses a pinned tier
outside them. When no tier stays in bounds, or a pin is outside, the answer is a 400
``outside_steering_bounds`` that names each tier and why it is out. Unknown tier names, a
minimum above the maximum or a cost that is not a positive number are 400s naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import BadRequest
from .model import Policy

HEADERS = {"min_tier": "x-tierroute-min-tier", "max_tier": "x-tierroute-max-tier",
           "max_cost_usd": "x-tierroute-max-cost-usd"}


@dataclass(frozen=True, slots=True)
class Steer:
    min_tier: str | None = None
    max_tier: str | None = None
    max_cost_usd: float | None = None


def steer_of(policy: Policy, body: Mapping[str, Any], headers: Mapping[str, str]) -> Steer | None:
    """The request's steering (module doc), checked; ``None`` when it has none (most requests)."""
    given = {k: headers.get(h) if headers.get(h) is not None else body.get(k) for k, h in HEADERS.items()}
    if all(v is None for v in given.values()):
        return None
    names = [t.name for t in policy.tiers]
    for k in ("min_tier", "max_tier"):
        if given[k] is not None and given[k] not in names:
            raise BadRequest(f"{k} must be one of the tiers {names}, got {given[k]!r}", param=k)
    if given["min_tier"] and given["max_tier"] and names.index(given["min_tier"]) > names.index(given["max_tier"]):
        raise BadRequest(f"min_tier {given['min_tier']!r} is stronger than max_tier {given['max_tier']!r}",
                         param="min_tier")
    cost = given["max_cost_usd"]
    if cost is not None:
        try:
            cost = float(cost)
        except (TypeError, ValueError):
            cost = -1.0
        if isinstance(given["max_cost_usd"], bool) or not cost > 0:
            raise BadRequest(f"max_cost_usd must be a positive number of US dollars, got {given['max_cost_usd']!r}",
                             param="max_cost_usd")
    return Steer(given["min_tier"], given["max_tier"], cost)


def estimated_costs(policy: Policy, prompt_tokens: int, output_tokens: int) -> dict[str, float]:
    """Each tier's estimated cost of this request (its first backend's price)."""
    out = {}
    for t in policy.tiers:
        price = t.backends[0].price
        assert price is not None, "prices are resolved by the loader"
        out[t.name] = price.cost(prompt_tokens, output_tokens)
    return out


def steered_tiers(policy: Policy, steer: Steer, costs: Mapping[str, float]) -> tuple[list[str], dict[str, str]]:
    """The tiers in bounds, and why each other one is out."""
    names = [t.name for t in policy.tiers]
    lo = names.index(steer.min_tier) if steer.min_tier else 0
    hi = names.index(steer.max_tier) if steer.max_tier else len(names) - 1
    inside, why = [], {}
    for i, n in enumerate(names):
        if i < lo:
            why[n] = f"below min_tier {steer.min_tier!r}"
        elif i > hi:
            why[n] = f"above max_tier {steer.max_tier!r}"
        elif steer.max_cost_usd is not None and costs[n] > steer.max_cost_usd:
            why[n] = f"estimated ${costs[n]:.6f} > max_cost_usd ${steer.max_cost_usd:g}"
        else:
            inside.append(n)
    return inside, why


def outside(why: Mapping[str, str], tiers: Sequence[str]) -> BadRequest:
    """The 400 for a request whose tier (pinned) or every tier (auto) is out of its bounds."""
    return BadRequest("no tier this request may use is within its steering bounds: "
                      + "; ".join(f"{t}: {why[t]}" for t in tiers if t in why),
                      param="max_cost_usd" if any("max_cost_usd" in why[t] for t in tiers if t in why) else "max_tier",
                      code="outside_steering_bounds")
