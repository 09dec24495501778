"""Opening a stream (first event peeked, in-band errors raised) and relaying it with usage capture."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from router.clock import FakeClock
from router.domain import Replica
from router.errors import UpstreamError, UpstreamStatus
from router.policy.model import Price
from router.streaming import UsageCapture, open_stream, relay

REPLICA = Replica(key="s", id="small/0", tier="small", kind="sglang", model="m",
                  price=Price(input_per_mtok=0, output_per_mtok=0), url="http://10.0.0.7:30000")


class FakeStream:
    """Delivers ``payloads`` in groups of ``group`` events, as one upstream read each."""

    def __init__(self, payloads: list[bytes], fail: Exception | None = None, group: int = 1) -> None:
        self.payloads = payloads
        self.fail = fail
        self.group = group
        self.closed = False

    async def batches(self) -> AsyncIterator[list[bytes]]:
        for i in range(0, len(self.payloads), self.group):
            yield self.payloads[i:i + self.group]
        if self.fail:
            raise self.fail

    async def aclose(self) -> None:
        self.closed = True


CHUNK = b'{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}'
USAGE = (b'{"id":"c","object":"chat.completion.chunk","choices":[],'
         b'"usage":{"prompt_tokens":5,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":3}}}')


@pytest.mark.parametrize("group", [1, 2, 3])
async def test_relay_passes_events_unchanged_in_their_groups_and_captures_usage(group: int) -> None:
    up = FakeStream([CHUNK, CHUNK, USAGE], group=group)
    opened = await open_stream(up, FakeClock(), REPLICA)
    cap = UsageCapture()
    batches = [b async for b in relay(opened, cap)]
    assert [len(b) for b in batches] == {1: [1, 1, 1], 2: [2, 1], 3: [3]}[group]  # as they arrived
    events = [e for b in batches for e in b]
    assert [e.payload for e in events] == [CHUNK, CHUNK, USAGE]
    assert [e.usage_only for e in events] == [False, False, True]
    assert cap.usage == (5, 2, 3)
    assert not up.closed  # closing is the owner's job once the relay ends


@pytest.mark.parametrize("first, status", [
    (b'{"object":"error","message":"bad max_tokens","type":"BadRequestError","param":null,"code":400}', 400),
    (b'{"error":{"message":"overloaded","type":"x","code":503}}', 503),
    (b'{"error":{"message":"boom"}}', 502),
])
async def test_inband_error_as_first_event_becomes_a_status(first: bytes, status: int) -> None:
    up = FakeStream([first, CHUNK], group=2)  # the error leads the first group
    with pytest.raises(Exception) as ei:
        await open_stream(up, FakeClock(), REPLICA)
    assert ei.value.status == status and up.closed
    if status == 400:
        assert isinstance(ei.value, UpstreamStatus) and ei.value.message == "bad max_tokens"


async def test_failure_before_first_event_closes_upstream() -> None:
    up = FakeStream([], fail=UpstreamError("gone"))
    with pytest.raises(UpstreamError):
        await open_stream(up, FakeClock(), REPLICA)
    assert up.closed


async def test_empty_stream() -> None:
    opened = await open_stream(FakeStream([]), FakeClock(), REPLICA)
    assert [e async for e in relay(opened, UsageCapture())] == []
