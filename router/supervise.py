"""Supervised background loops: one unexpected exception must not end a loop silently.

:func:`supervise` runs ``loop_fn()`` forever. When it raises, the exception is logged with its
traceback and the loop's name, counted in :class:`LoopCounters`, and the loop is started again
after a backoff (``INITIAL_BACKOFF_S`` doubling up to ``MAX_BACKOFF_S``; back to the start after a
run that lasted longer than ``MAX_BACKOFF_S``). Cancellation (shutdown) is not caught: it stops
the loop and the supervisor at once. A loop that returns normally is done and not restarted.
The counts are shown in ``/admin/stats`` under ``background``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger("tierroute.supervise")

INITIAL_BACKOFF_S = 0.1
MAX_BACKOFF_S = 30.0


@dataclass
class LoopState:
    restarts: int = 0
    last_error: str | None = None


@dataclass
class LoopCounters:
    """Restarts and the last error per supervised loop."""

    loops: dict[str, LoopState] = field(default_factory=dict)

    def describe(self) -> dict[str, dict[str, object]]:
        return {name: {"restarts": s.restarts, "last_error": s.last_error} for name, s in self.loops.items()}


async def supervise(name: str, loop_fn: Callable[[], Awaitable[None]], *, counters: LoopCounters,
                    initial_backoff_s: float = INITIAL_BACKOFF_S, max_backoff_s: float = MAX_BACKOFF_S) -> None:
    state = counters.loops.setdefault(name, LoopState())
    loop = asyncio.get_running_loop()
    delay = initial_backoff_s
    while True:
        started = loop.time()
        try:
            await loop_fn()
            return
        except Exception as e:  # noqa: BLE001 - the supervisor: logged with traceback, counted, restarted
            state.restarts += 1
            state.last_error = f"{type(e).__name__}: {e}"
            if loop.time() - started > max_backoff_s:
                delay = initial_backoff_s  # it ran well for a while: a fresh failure, not a crash loop
            log.exception("background loop crashed; restarting", extra={"loop": name, "restarts": state.restarts,
                                                                          "backoff_s": delay})
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_backoff_s)
