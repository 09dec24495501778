"""Every proxy process follows the promoted classifier: poll the registry's pointer, load, check, swap.

Algorithm (one loop per process, ``interval_s`` apart, default 1 s):

1. Read ``CURRENT`` of the registry (:mod:`classifiers.registry`). Unchanged, or already refused
   → nothing to do.
2. Load that version in a worker thread (never on the event loop) and check it: it must load,
   ask for a chat text mode this proxy knows, and score a few probe texts to finite numbers in
   [0, 1]. Anything else refuses the version: the old model keeps serving, the refusal is
   logged with the reason and shown in ``/admin/stats`` (``learning.model``), and the same
   version is not tried again until ``CURRENT`` names another one.
3. Swap: a new micro-batcher is started for the new model and put in the scorer slot (one
   assignment: a request scores with the old or the new model, never a mix); the old batcher is
   closed after it has answered what it was given.
4. Cut points stated as shares keep their shares: the score window of the old model is
   dropped and the new model's reference quantiles (recorded by the learner in ``meta.json``)
   stand in until enough new scores arrived (:meth:`router.policy.thresholds.Thresholds.restart`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from redis.exceptions import RedisError

from classifiers.base import Classifier
from classifiers.registry import Registry

log = logging.getLogger("tierroute.model")

PROBES = ("Hi!", "Prove that there are infinitely many primes.",
          "Write a Python function that merges two sorted lists.")


@dataclass
class Loaded:
    version: str
    classifier: Classifier
    meta: dict[str, Any]


@dataclass
class WatchStatus:
    version: str | None = None
    swaps: int = 0
    refused: dict[str, str] = field(default_factory=dict)  # version -> reason
    last_error: str | None = None
    evaluation: dict[str, Any] | None = None  # the serving version's, from the learner

    def describe(self, registry: Registry | None) -> dict[str, Any]:
        """The ``model`` section of ``/admin/stats``."""
        last = None
        if registry is not None:
            rounds = [h for h in registry.history() if h.get("event") in ("promote", "refuse", "rollback")]
            last = rounds[-1] if rounds else None
        return {"version": self.version, "registry": str(registry.root) if registry else None, "swaps": self.swaps,
                "refused": dict(self.refused), "last_error": self.last_error, "evaluation": self.evaluation,
                "last_round": last}


def load_version(registry: Registry, version: str) -> Loaded:
    """Load and check one version (blocking: call it in a thread). Raises ``ValueError`` on any fault."""
    from classifiers.logreg import load_classifier

    try:
        info = registry.info(version)
        model = load_classifier(info.path)
        scores = np.asarray(model.score(list(PROBES)), dtype=np.float64)
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"{type(e).__name__}: {e}") from None
    if scores.shape != (len(PROBES),) or not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1:
        raise ValueError(f"probe scores out of range: {scores!r}")
    return Loaded(version, model, info.meta)


class ModelWatcher:
    """``current`` reads the promoted version: the registry's ``CURRENT`` by default, or a
    :class:`router.learning.model_share.RedisModelSource`'s pointer (which copies the files in)."""

    def __init__(self, registry: Registry, swap: Callable[[Loaded], Any], *, interval_s: float = 1.0,
                 status: WatchStatus | None = None, current: Callable[[], str | None] | None = None) -> None:
        self.registry = registry
        self._swap = swap
        self._current = current or registry.current
        self.interval_s = interval_s
        self.status = status or WatchStatus()

    async def check(self) -> bool:
        """One poll; True when a new model was swapped in."""
        try:
            version = await asyncio.to_thread(self._current)
        except (OSError, ValueError, RedisError) as e:  # the pointer's store: keep serving, say so, try again
            self.status.last_error = f"reading the promoted version: {e}"
            log.warning("model pointer unreadable", extra={"error": str(e)})
            return False
        if version is None or version == self.status.version or version in self.status.refused:
            return False
        try:
            loaded = await asyncio.to_thread(load_version, self.registry, version)
            await _maybe_await(self._swap(loaded))
        except ValueError as e:
            self.status.refused[version] = str(e)
            self.status.last_error = f"{version}: {e}"
            log.error("model refused", extra={"version": version, "reason": str(e),
                                              "serving": self.status.version})
            return False
        previous, self.status.version = self.status.version, version
        self.status.swaps += 1
        self.status.evaluation = loaded.meta.get("evaluation")
        log.info("model swapped", extra={"version": version, "previous": previous,
                                         "evaluation": loaded.meta.get("evaluation")})
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.check()


async def _maybe_await(value: Any) -> None:
    if asyncio.iscoroutine(value):
        await value


def registry_of(models_dir: str | Path | None) -> Registry | None:
    return Registry(models_dir) if models_dir else None
