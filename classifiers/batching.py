"""``MicroBatcher``: an asyncio front for a synchronous, CPU-bound ``Classifier``.

Algorithm: callers append ``(text, future)`` to a pending list and await the future; the first
one to find the batcher idle schedules a drain (``loop.call_soon``: a callback, no worker task,
no queue). The drain takes what is pending (up to ``max_batch``) and runs
``classifier.score(texts)`` in a single-thread executor, so the event loop does not run model
code; when that batch ends, its callback hands out the scores and drains again. While a batch
runs, new callers wait in the list and form the next batch: under load batches grow by
themselves, at low load a request is scored alone with no added wait.

Exception, for a classifier that says it is cheap: one with a ``loop_chars`` attribute (absent
or 0: never) has batches of at most that many characters in all scored on the loop itself.
The shipped static-embedding model does (2,000 characters: a median 0.35 ms of the loop on
the shared prompts): its scoring is pure Python and numpy on small arrays, which holds the GIL,
so in a thread it would stop the loop all the same, and handing it over costs more than the
scoring at low concurrency (one request at a time: ~110 µs of CPU less per request; level at
16 in flight, where batches amortise the hand-off; docs/performance.md §12). Batches still form:
the callers that arrive in one turn of the loop are pending before the drain runs. Longer
batches (long prompts: tokenizers' Rust code and big numpy operations release the GIL) still go
to the thread.

Each caller gets its own score; if ``score`` raises (or returns the wrong shape), every caller
of that batch gets the exception. A caller that gave up (cancelled) is skipped. ``aclose()``
fails whatever is still pending or being scored in the thread with ``RuntimeError``.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .base import Classifier, check_scores

DEFAULT_MAX_BATCH = 32
_Item = tuple[str, "asyncio.Future[float]"]
_CLOSED = "MicroBatcher closed before this text was scored"


class MicroBatcher:
    """Batch concurrent ``score(text)`` calls into ``classifier.score(texts)`` calls."""

    def __init__(self, classifier: Classifier, *, max_batch: int = DEFAULT_MAX_BATCH,
                 executor: ThreadPoolExecutor | None = None) -> None:
        """No event-loop work here: call :meth:`start` from a running loop before scoring.

        ``executor`` should have one worker (the model is not assumed thread-safe); when
        omitted the batcher owns one and shuts it down in :meth:`aclose`.
        """
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.classifier = classifier
        self.max_batch = max_batch
        self._executor = executor
        self._owns_executor = executor is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[_Item] = []
        self._draining = False  # a drain is scheduled
        self._in_thread: list[_Item] | None = None  # the batch the executor is scoring
        self._closed = False
        self.loop_chars = int(getattr(classifier, "loop_chars", 0) or 0)
        self.batches_on_loop = 0
        self.batches_in_thread = 0

    @property
    def running(self) -> bool:
        return self._loop is not None and not self._closed

    async def start(self) -> None:
        """Create the executor (if owned) and bind to the running loop. Idempotent."""
        if self._closed:
            raise RuntimeError("MicroBatcher is closed")
        if self._loop is not None:
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classifier")
        self._loop = asyncio.get_running_loop()

    async def score(self, text: str) -> float:
        """The classifier's score for ``text``; raises what the classifier raised."""
        loop = self._loop
        if loop is None or self._closed:
            raise RuntimeError("MicroBatcher is not running; call start() first")
        fut: asyncio.Future[float] = loop.create_future()
        self._pending.append((text, fut))
        if not self._draining and self._in_thread is None:
            self._draining = True
            loop.call_soon(self._drain)
        return await fut

    async def aclose(self) -> None:
        """Fail pending and in-thread callers, shut down an owned executor. Idempotent."""
        self._closed = True
        pending, self._pending = self._pending, []
        for _, fut in [*pending, *(self._in_thread or ())]:
            _fail(fut, RuntimeError(_CLOSED))
        if self._owns_executor and self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, wait=True)

    def _drain(self) -> None:
        """Score what is pending: short batches here on the loop, one after another; a long one in the thread."""
        self._draining = False
        while self._pending and self._in_thread is None and not self._closed:
            batch = [(text, fut) for text, fut in self._pending[:self.max_batch] if not fut.done()]
            del self._pending[:self.max_batch]  # a caller that gave up (cancelled) is skipped
            if not batch:
                continue
            texts = [text for text, _ in batch]
            if sum(map(len, texts)) <= self.loop_chars:
                self.batches_on_loop += 1
                try:
                    scores = check_scores(self.classifier.score(texts), len(texts))
                except Exception as e:  # noqa: BLE001 - handed to every waiting caller, not swallowed
                    _fail_all(batch, e)
                    continue
                _settle(batch, scores)
            else:
                assert self._loop is not None and self._executor is not None
                self.batches_in_thread += 1
                self._in_thread = batch
                done = self._loop.run_in_executor(self._executor, self.classifier.score, texts)
                done.add_done_callback(self._thread_done)

    def _thread_done(self, done: asyncio.Future[Any]) -> None:
        batch, self._in_thread = self._in_thread or [], None
        try:
            scores = check_scores(done.result(), len(batch))
        except Exception as e:  # noqa: BLE001 - handed to every waiting caller, not swallowed
            _fail_all(batch, e)
        else:
            _settle(batch, scores)
        self._drain()


def _settle(batch: list[_Item], scores: Any) -> None:
    for (_, fut), s in zip(batch, scores, strict=True):
        if not fut.done():
            fut.set_result(float(s))


def _fail_all(batch: list[_Item], exc: BaseException) -> None:
    for _, fut in batch:
        _fail(fut, exc)


def _fail(fut: asyncio.Future[float], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
