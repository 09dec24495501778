from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from classifiers.batching import MicroBatcher
from classifiers.fake import ConstantClassifier, FunctionClassifier


def length_score(text: str) -> float:
    return len(text) / 100


async def test_concurrent_callers_are_batched_and_get_their_own_scores() -> None:
    clf = FunctionClassifier(length_score, delay_s=0.05)
    batcher = MicroBatcher(clf, max_batch=8)
    await batcher.start()
    try:
        texts = ["x" * i for i in range(20)]
        scores = await asyncio.gather(*(batcher.score(t) for t in texts))
    finally:
        await batcher.aclose()
    assert scores == pytest.approx([i / 100 for i in range(20)])
    assert sum(clf.batch_sizes) == 20
    assert max(clf.batch_sizes) == 8  # capped at max_batch
    assert len(clf.batch_sizes) < 20  # really batched
    assert all(name.startswith("classifier") for name in clf.threads)  # ran in the executor


async def test_requests_arriving_during_a_batch_form_the_next_one() -> None:
    clf = FunctionClassifier(length_score, delay_s=0.1)
    batcher = MicroBatcher(clf)
    await batcher.start()
    try:
        first = asyncio.ensure_future(batcher.score("a"))
        await asyncio.sleep(0.03)  # the first batch is now running
        rest = [asyncio.ensure_future(batcher.score("b" * i)) for i in range(5)]
        await asyncio.gather(first, *rest)
    finally:
        await batcher.aclose()
    assert clf.batch_sizes == [1, 5]


async def test_exceptions_reach_every_waiting_caller() -> None:
    def boom(text: str) -> float:
        if text == "bad":
            raise RuntimeError("model exploded")
        return 0.5

    batcher = MicroBatcher(FunctionClassifier(boom, delay_s=0.02))
    await batcher.start()
    try:
        results = await asyncio.gather(batcher.score("ok"), batcher.score("bad"), batcher.score("ok"),
                                       return_exceptions=True)
        assert all(isinstance(r, RuntimeError) and "model exploded" in str(r) for r in results)
        assert await batcher.score("ok") == 0.5  # the batcher survives a failed batch
    finally:
        await batcher.aclose()


async def test_bad_output_shape_or_range_is_an_error() -> None:
    class Wrong:
        """Always returns one out-of-range score, whatever the batch size."""

        name = "wrong"

        def score(self, texts: Sequence[str]) -> np.ndarray:
            return np.array([2.0])

        def describe(self) -> dict[str, Any]:
            return {}

    batcher = MicroBatcher(Wrong())
    await batcher.start()
    try:
        with pytest.raises(ValueError, match="outside"):
            await batcher.score("x")
        with pytest.raises(ValueError, match="shape"):
            await asyncio.gather(batcher.score("x"), batcher.score("y"))
    finally:
        await batcher.aclose()


async def test_event_loop_is_not_blocked() -> None:
    batcher = MicroBatcher(ConstantClassifier(0.3, delay_s=0.3))
    await batcher.start()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        started = time.monotonic()
        assert await batcher.score("x") == 0.3
        assert time.monotonic() - started >= 0.3
    finally:
        task.cancel()
        await batcher.aclose()
    assert ticks >= 10  # the loop kept running while the classifier slept in its thread


async def test_lifecycle() -> None:
    batcher = MicroBatcher(ConstantClassifier(0.1))  # constructing needs no running loop
    with pytest.raises(RuntimeError, match="start"):
        await batcher.score("x")
    await batcher.start()
    await batcher.start()  # idempotent
    assert await batcher.score("x") == 0.1
    await batcher.aclose()
    await batcher.aclose()  # idempotent
    with pytest.raises(RuntimeError):
        await batcher.score("x")
    with pytest.raises(RuntimeError, match="closed"):
        await batcher.start()


async def test_aclose_fails_pending_callers_and_keeps_a_passed_executor() -> None:
    executor = ThreadPoolExecutor(max_workers=1)
    batcher = MicroBatcher(ConstantClassifier(0.2, delay_s=0.2), executor=executor)
    await batcher.start()
    running = asyncio.ensure_future(batcher.score("a"))
    await asyncio.sleep(0.05)
    queued = asyncio.ensure_future(batcher.score("b"))
    await asyncio.sleep(0)
    await batcher.aclose()
    for fut in (running, queued):
        with pytest.raises(RuntimeError, match="closed"):
            await fut
    assert executor.submit(lambda: 7).result() == 7  # not shut down: the caller owns it
    executor.shutdown()


def test_constructor_needs_no_loop() -> None:
    MicroBatcher(ConstantClassifier(0.5), max_batch=4)
    with pytest.raises(ValueError):
        MicroBatcher(ConstantClassifier(0.5), max_batch=0)


class CheapClassifier(FunctionClassifier):
    """Says batches of up to 30 characters are cheap enough to score on the event loop."""

    loop_chars = 30


async def test_a_cheap_classifier_scores_short_batches_on_the_loop_and_still_batches() -> None:
    clf = CheapClassifier(length_score)
    batcher = MicroBatcher(clf)
    await batcher.start()
    try:
        scores = await asyncio.gather(*(batcher.score("x" * i) for i in range(1, 6)))  # 15 characters
    finally:
        await batcher.aclose()
    assert scores == pytest.approx([i / 100 for i in range(1, 6)])
    assert clf.batch_sizes == [5] and clf.threads == ["MainThread"]
    assert (batcher.batches_on_loop, batcher.batches_in_thread) == (1, 0)


async def test_a_batch_longer_than_loop_chars_goes_to_the_thread() -> None:
    clf = CheapClassifier(length_score)
    batcher = MicroBatcher(clf)
    await batcher.start()
    try:
        assert await batcher.score("y" * 31) == pytest.approx(0.31)
        assert await batcher.score("y" * 30) == pytest.approx(0.30)
    finally:
        await batcher.aclose()
    assert clf.threads[0].startswith("classifier") and clf.threads[1] == "MainThread"
    assert (batcher.batches_on_loop, batcher.batches_in_thread) == (1, 1)


async def test_a_failure_on_the_loop_reaches_every_caller_of_the_batch() -> None:
    def boom(text: str) -> float:
        raise RuntimeError("model exploded")

    batcher = MicroBatcher(CheapClassifier(boom))
    await batcher.start()
    try:
        results = await asyncio.gather(batcher.score("a"), batcher.score("b"), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        assert batcher.running  # the worker lives on
    finally:
        await batcher.aclose()


def test_the_shipped_classifier_is_scored_on_the_loop_up_to_2000_characters() -> None:
    from classifiers.logreg import load_classifier

    assert MicroBatcher(load_classifier()).loop_chars == 2_000


async def test_a_caller_that_gave_up_before_its_batch_is_not_scored() -> None:
    clf = CheapClassifier(length_score)
    batcher = MicroBatcher(clf)
    await batcher.start()
    try:
        gone = asyncio.ensure_future(batcher.score("xx"))
        kept = asyncio.ensure_future(batcher.score("xxx"))
        await asyncio.sleep(0)  # both pending, the drain scheduled
        gone.cancel()
        assert await kept == pytest.approx(0.03)
    finally:
        await batcher.aclose()
    assert clf.batch_sizes == [1] and gone.cancelled()
