"""``MicroBatcher``: an asyncio front for a synchronous, CPU-bound ``Classifier``.

Algorithm: callers put ``(text, future)`` on a queue and await the future. One worker task
takes the first pending item, then everything else already pending (up to ``max_batch``),
and runs ``classifier.score(texts)`` in a single-thread executor, so the event loop does not
run model code. While that batch runs, new callers queue up and form the next batch: under
load batches grow by themselves, at low load a request is scored alone with no added wait.

Exception, for a classifier that says it is cheap: one with a ``loop_chars`` attribute (absent
or 0: never) has batches of at most that many characters in all scored on the loop itself.
The shipped static-embedding model does (2,000 characters: a median 0.35 ms of the loop on
the shared prompts): its scoring is pure Python and numpy on small arrays, which holds the GIL,
so in a thread it would stop the loop all the same, and handing it over costs more than the
scoring at low concurrency (one request at a time: ~110 µs of CPU less per request; level at
16 in flight, where batches amortise the hand-off; docs/performance.md §12). Batches still form:
the callers that arrive in one turn of the loop are queued before the worker runs. Longer
batches (long prompts: tokenizers' Rust code and big numpy operations release the GIL) still go
to the thread.

Each caller gets its own score; if ``score`` raises (or returns the wrong shape), every caller
of that batch gets the exception. A caller that gave up (cancelled) is skipped. ``aclose()``
stops the worker and fails whatever is still queued with ``RuntimeError``.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from .base import Classifier, check_scores

DEFAULT_MAX_BATCH = 32
_Item = tuple[str, "asyncio.Future[float]"]


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
        self._queue: asyncio.Queue[_Item] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self.loop_chars = int(getattr(classifier, "loop_chars", 0) or 0)
        self.batches_on_loop = 0
        self.batches_in_thread = 0

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    async def start(self) -> None:
        """Create the queue, the executor (if owned) and the worker task. Idempotent."""
        if self._closed:
            raise RuntimeError("MicroBatcher is closed")
        if self._worker is not None:
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classifier")
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run(), name="classifier-batcher")

    async def score(self, text: str) -> float:
        """The classifier's score for ``text``; raises what the classifier raised."""
        if self._queue is None or self._closed or not self.running:
            raise RuntimeError("MicroBatcher is not running; call start() first")
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((text, fut))
        return await fut

    async def aclose(self) -> None:
        """Stop the worker, fail queued callers, shut down an owned executor. Idempotent."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        if self._queue is not None:
            while not self._queue.empty():
                _, fut = self._queue.get_nowait()
                _fail(fut, RuntimeError("MicroBatcher closed before this text was scored"))
        if self._owns_executor and self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, wait=True)

    async def _run(self) -> None:
        assert self._queue is not None and self._executor is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            batch = [(text, fut) for text, fut in batch if not fut.done()]  # drop cancelled callers
            if not batch:
                continue
            texts = [text for text, _ in batch]
            try:
                if sum(map(len, texts)) <= self.loop_chars:
                    self.batches_on_loop += 1
                    raw = self.classifier.score(texts)
                else:
                    self.batches_in_thread += 1
                    raw = await loop.run_in_executor(self._executor, self.classifier.score, texts)
                scores = check_scores(raw, len(texts))
            except asyncio.CancelledError:
                for _, fut in batch:
                    _fail(fut, RuntimeError("MicroBatcher closed while this text was being scored"))
                raise
            except Exception as e:  # noqa: BLE001 - handed to every waiting caller, not swallowed
                for _, fut in batch:
                    _fail(fut, e)
                continue
            for (_, fut), s in zip(batch, scores, strict=True):
                if not fut.done():
                    fut.set_result(float(s))


def _fail(fut: asyncio.Future[float], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
