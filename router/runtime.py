"""What a request runs against: the swappable routing snapshot and the long-lived services.

:class:`Runtime` is immutable and replaced as a whole when the policy reloads (one attribute
assignment, so a request sees either the old or the new one, never a mix). :class:`Services`
is built once by the app factory and passed to every request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from classifiers.text import ChatTextMode

from .auth import KeyRing
from .backends.base import Backend
from .balance.pick import ReplicaPicker
from .balance.pool import ReplicaRegistry, build_route_table
from .clock import Clock
from .conversations import ConversationStore
from .domain import RouteTable
from .limits import Limits
from .policy.loader import LoadedPolicy
from .policy.model import Policy, Price
from .policy.thresholds import Thresholds
from .stats.recorder import Stats

if TYPE_CHECKING:
    from .pipeline import Routed


class Scorer(Protocol):
    chat_text_mode: ChatTextMode  # which part of a conversation the model was trained to score

    async def score(self, text: str) -> float:
        """Probability that ``text`` needs a stronger tier than the cheapest."""
        ...


class LearningHook(Protocol):
    def served(self, routed: Routed, principal: str, auto: bool) -> None:
        """An answered request (a stream: headers out), for feedback and shadow labels; never waits."""
        ...


class NoLearning:
    def served(self, routed: Routed, principal: str, auto: bool) -> None:
        return None


@dataclass(frozen=True)
class Runtime:
    loaded: LoadedPolicy
    table: RouteTable
    keys: KeyRing

    @property
    def policy(self) -> Policy:
        return self.loaded.policy

    @property
    def strongest_price(self) -> Price:
        price = self.policy.strongest.backends[0].price
        assert price is not None, "prices are resolved by the loader"
        return price


def build_runtime(loaded: LoadedPolicy, registry: ReplicaRegistry, env: Mapping[str, str]) -> Runtime:
    return Runtime(loaded, build_route_table(loaded.policy, registry), KeyRing(loaded.policy, env))


@dataclass
class Services:
    runtime: Callable[[], Runtime]
    scorer: Scorer
    pickers: Mapping[str, ReplicaPicker]  # by policy.balance.policy
    backends: Mapping[str, Backend]
    stats: Stats
    limits: Limits  # router.limits: rate limits and budgets per key (in Redis when there is one)
    clock: Clock
    thresholds: Thresholds
    conversations: ConversationStore
    learning: LearningHook = field(default_factory=NoLearning)  # router.learning.service
