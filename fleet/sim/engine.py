"""The simulated SGLang engine: admission queue, latency model, prefix cache, counters.

Lifecycle of one request (``async with engine.session(prompt_ids) as s``):

1. *Queue.* Wait FIFO for one of ``max_running_requests`` running slots (waiting requests
   are ``num_queue_reqs``).
2. *Admission.* Match the prompt in the radix cache (``cached_tokens`` = matched prefix
   length) and lock the matched path so it cannot be evicted.
3. ``await s.prefill()`` -- TTFT = ``ttft_ms`` + uncached prompt tokens /
   ``prefill_tokens_per_s``. The prefill produces the first output token. Then the prompt is
   inserted into the cache and locked (SGLang's ``cache_unfinished_req``), so concurrent
   requests with the same prefix hit it.
4. ``async for available in s.decode(n, stream=...)`` -- every further token costs one decode
   step of ``1 / decode_tokens_per_s`` seconds. A speculative (EAGLE-like) worker commits
   ``spec_accept_length`` tokens per step on average (step ``k`` commits
   ``floor((k+1)·L) - floor(k·L)``), so its effective decode rate is
   ``decode_tokens_per_s · spec_accept_length``. Streaming yields the cumulative count of
   tokens ready; it sleeps until the next step is due but at least ``MIN_SLEEP_S``, so very
   fast rates produce chunks of several tokens instead of a sleep per token. Non-streaming
   sleeps once for the whole decode.
5. ``s.finish(output_ids)`` -- prompt + output are inserted into the cache (SGLang's
   ``cache_finished_req``); on exit the lock is released and the slot handed to the next
   waiter. A session left without ``finish`` (client gone) counts as aborted.

Decode speed does not depend on batch size (a simplification). The KV pool is the radix tree
bounded by ``max_total_tokens`` (LRU eviction of unlocked leaves). As in SGLang's scheduler,
``token_usage`` counts only tokens that cannot be evicted: the locked tree plus running
requests' not-yet-inserted tokens, over ``max_total_tokens``. ``cache_hit_rate`` is cumulative
(cached / prompt tokens since start or reset; SGLang reports the last prefill batch's) and
``gen_throughput`` is the output rate over the last ``THROUGHPUT_WINDOW_S`` seconds.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from .radix import Node, RadixCache
from .tokenize import Tokenizer

MIN_SLEEP_S = 0.002
THROUGHPUT_WINDOW_S = 5.0

# Bucket bounds of SGLang's TokenizerMetricsCollector / SchedulerMetricsCollector
# (python/sglang/srt/metrics/collector.py).
TTFT_BUCKETS = (0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400)
E2E_BUCKETS = (0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400, 600, 1200,
               1800, 2400)
QUEUE_BUCKETS = (0.0, 0.1, 0.2, 0.5, 1, 2, 3, 4, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 100, 200,
                 300, 400, 500, 600, 700, 800, 900, 1000, 1200, 1400, 1600, 1800, 2000, 2500, 3000)


@dataclass(frozen=True)
class WorkerConfig:
    """One simulated SGLang worker. Defaults resemble a 7-8B model on one H100."""

    model: str = "sim-model"  # served model name (``--served-model-name``)
    model_path: str | None = None  # reported ``model_path``; defaults to ``model``
    ttft_ms: float = 25.0  # fixed part of the time to first token
    prefill_tokens_per_s: float = 20_000.0
    decode_tokens_per_s: float = 80.0  # per request, per decode step
    max_running_requests: int = 64
    max_total_tokens: int = 200_000  # KV-cache capacity in tokens
    context_length: int = 32_768
    speculative: bool = False  # EAGLE-style speculative decoding
    spec_accept_length: float = 2.5  # average tokens committed per decode step when speculative
    seed: int = 0  # changes every reply
    min_output_tokens: int = 16  # natural reply length range (bounded by max_tokens)
    max_output_tokens: int = 64
    api_key: str | None = None  # SGLang's --api-key: every route but /health* and /metrics needs it
    vision: bool = False  # a multimodal model: image parts count as prompt tokens (else they are dropped)
    tool_call_parser: str | None = "qwen25"  # SGLang's --tool-call-parser; None: "auto" tool choice gets prose

    def __post_init__(self) -> None:
        positive = ("prefill_tokens_per_s", "decode_tokens_per_s", "max_running_requests",
                    "max_total_tokens", "context_length")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.ttft_ms < 0:
            raise ValueError("ttft_ms must not be negative")
        if self.spec_accept_length < 1:
            raise ValueError("spec_accept_length must be at least 1")
        if not 1 <= self.min_output_tokens <= self.max_output_tokens:
            raise ValueError("need 1 <= min_output_tokens <= max_output_tokens")

    @property
    def served_model_path(self) -> str:
        return self.model_path or self.model

    @property
    def tokens_per_step(self) -> float:
        return self.spec_accept_length if self.speculative else 1.0


class Histogram:
    """Cumulative Prometheus histogram values (bucket counts, sum, count)."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * len(self.bounds)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.sum += value
        self.count += 1
        for i, b in enumerate(self.bounds):
            if value <= b:
                self.counts[i] += 1
                break

    def cumulative(self) -> list[int]:
        out, run = [], 0
        for c in self.counts:
            run += c
            out.append(run)
        return out


@dataclass
class Totals:
    requests: int = 0  # admitted generation requests
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    finished: int = 0
    aborted: int = 0
    failed: int = 0  # injected failures (/sim/fail)
    ttft: Histogram = field(default_factory=lambda: Histogram(TTFT_BUCKETS))
    e2e: Histogram = field(default_factory=lambda: Histogram(E2E_BUCKETS))
    queue: Histogram = field(default_factory=lambda: Histogram(QUEUE_BUCKETS))


class Slots:
    """``limit`` running slots with a FIFO queue of waiters."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        if self.running < self.limit and not self._waiters:
            self.running += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            else:
                self._waiters.remove(fut)
            raise

    def release(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot passes straight to the waiter
                return
        self.running -= 1


class SimEngine:
    """All mutable state of one simulated worker (created by ``create_app``)."""

    def __init__(self, cfg: WorkerConfig) -> None:
        self.cfg = cfg
        self.tokenizer = Tokenizer()
        self.cache = RadixCache(cfg.max_total_tokens)
        self.slots = Slots(cfg.max_running_requests)
        self.started_at = time.time()
        self.healthy = True
        self.fail_next = 0
        self.fail_status = 500
        self.fail_message: str | None = None  # /sim/fail's "message" (default: "Simulated failure (N).")
        self.fail_retry_after: str | None = None  # /sim/fail's "retry_after": sent as Retry-After
        self.fault: str | None = None  # /sim/fault's "mode": "hang_after_headers" or "malformed_sse"
        self.fault_left = 0  # requests the fault still applies to (-1: until cleared)
        self.epoch = 0  # bumped by reset(); sessions from an older epoch leave the new cache alone
        self.reset()

    def reset(self) -> None:
        """Clear the cache and the counters (running requests keep going)."""
        self.cache.reset()
        self.epoch += 1
        self.totals = Totals()
        self.running_private = 0  # tokens of running requests not (yet) in the tree
        self._generated: deque[tuple[float, int]] = deque()
        self._since = time.perf_counter()

    def session(self, prompt_ids: Sequence[int]) -> Session:
        return Session(self, tuple(prompt_ids))

    def take_failure(self) -> int | None:
        """The status to fail this request with, if failures were requested (/sim/fail)."""
        if self.fail_next <= 0:
            return None
        self.fail_next -= 1
        self.totals.failed += 1
        return self.fail_status

    def take_fault(self) -> str | None:
        """The broken answer to give this request, if a fault mode is on (/sim/fault)."""
        if self.fault is None or self.fault_left == 0:
            return None
        if self.fault_left > 0:
            self.fault_left -= 1
        self.totals.failed += 1
        return self.fault

    # -- gauges -------------------------------------------------------------------------------

    @property
    def num_used_tokens(self) -> int:
        return self.cache.protected_size + self.running_private

    @property
    def token_usage(self) -> float:
        return min(1.0, self.num_used_tokens / self.cfg.max_total_tokens)

    @property
    def cache_hit_rate(self) -> float:
        t = self.totals
        return t.cached_tokens / t.prompt_tokens if t.prompt_tokens else 0.0

    def gen_throughput(self) -> float:
        now = time.perf_counter()
        cutoff = now - THROUGHPUT_WINDOW_S
        gen = self._generated
        while gen and gen[0][0] < cutoff:
            gen.popleft()
        span = min(THROUGHPUT_WINDOW_S, max(now - self._since, 1e-3))
        return sum(n for _, n in gen) / span

    def record_generated(self, n: int) -> None:
        self._generated.append((time.perf_counter(), n))

    def stats(self) -> dict[str, object]:
        t = self.totals
        return {
            "requests": t.requests, "prompt_tokens": t.prompt_tokens, "cached_tokens": t.cached_tokens,
            "completion_tokens": t.completion_tokens, "finished": t.finished, "aborted": t.aborted,
            "failed": t.failed, "running": self.slots.running, "queued": self.slots.queued,
            "cache_tokens_in_use": self.cache.total_size,
            "cache_tokens_locked": self.cache.protected_size,
            "cache_tokens_evicted": self.cache.evicted_tokens,
            "num_used_tokens": self.num_used_tokens, "token_usage": self.token_usage,
            "cache_hit_rate": self.cache_hit_rate, "gen_throughput": self.gen_throughput(),
            "healthy": self.healthy, "fail_next": self.fail_next,
            "fault": self.fault if self.fault_left else None,
        }


class Session:
    """One request's passage through the engine; see the module docstring."""

    def __init__(self, engine: SimEngine, prompt: tuple[int, ...]) -> None:
        self.engine = engine
        self.prompt = prompt
        self.cached_tokens = 0
        self._node: Node | None = None
        self._epoch = 0
        self._private = 0
        self._finished = False
        self._t_arrive = time.perf_counter()
        self._t_admit = self._t_arrive
        self.ttft_s = 0.0

    async def __aenter__(self) -> Session:
        eng = self.engine
        await eng.slots.acquire()
        self._t_admit = time.perf_counter()
        eng.totals.queue.observe(self._t_admit - self._t_arrive)
        self._epoch = eng.epoch
        # SGLang matches at most len - 1 tokens: the last one is always computed (for its logits).
        self.cached_tokens, self._node = eng.cache.match_and_lock(self.prompt[:-1])
        self._private = len(self.prompt) - self.cached_tokens
        eng.running_private += self._private
        t = eng.totals
        t.requests += 1
        t.prompt_tokens += len(self.prompt)
        t.cached_tokens += self.cached_tokens
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        eng = self.engine
        if self._epoch == eng.epoch:
            eng.running_private -= self._private
            if self._node is not None:
                eng.cache.unlock(self._node)
            if not self._finished:
                eng.totals.aborted += 1
        self._node = None
        eng.slots.release()

    def _relock(self, tokens: tuple[int, ...]) -> None:
        eng = self.engine
        if self._epoch != eng.epoch:
            return
        _, node = eng.cache.insert(tokens)
        eng.cache.lock(node)
        if self._node is not None:
            eng.cache.unlock(self._node)
        self._node = node

    async def prefill(self) -> None:
        cfg = self.engine.cfg
        uncached = len(self.prompt) - self.cached_tokens
        await asyncio.sleep(cfg.ttft_ms / 1000.0 + uncached / cfg.prefill_tokens_per_s)
        self._relock(self.prompt)
        if self._epoch == self.engine.epoch:
            self.engine.running_private -= self._private
            self._private = 0
        self.ttft_s = time.perf_counter() - self._t_arrive
        self.engine.totals.ttft.observe(self.ttft_s)

    async def decode(self, n: int, *, stream: bool) -> AsyncIterator[int]:
        """Yield the cumulative number of the ``n`` output tokens that are ready."""
        if n <= 0:
            return
        cfg = self.engine.cfg
        per_step = cfg.tokens_per_step
        dt = 1.0 / cfg.decode_tokens_per_s
        if self._epoch == self.engine.epoch:
            self.engine.running_private += n
            self._private += n
        if not stream:
            await asyncio.sleep(math.ceil((n - 1) / per_step) * dt)
            yield n
            return
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        ready = 1
        yield ready
        while ready < n:
            due = t0 + math.ceil(ready / per_step) * dt  # the step that makes token ready+1
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(max(wait, MIN_SLEEP_S))
            steps = int((loop.time() - t0) / dt + 1e-9)
            ready = min(n, 1 + int(steps * per_step + 1e-9))
            yield ready

    def finish(self, output_ids: Sequence[int]) -> None:
        eng = self.engine
        self._finished = True
        self._relock(self.prompt + tuple(output_ids))
        if self._epoch == eng.epoch:
            eng.running_private -= self._private
            self._private = 0
            t = eng.totals
            t.completion_tokens += len(output_ids)
            t.finished += 1
            t.e2e.observe(time.perf_counter() - self._t_arrive)
            eng.record_generated(len(output_ids))
