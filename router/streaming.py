"""Streams: open (wait for the first event), relay as events arrive, capture usage.

A stream is *opened* before the client gets any header: the proxy waits for the upstream's
first event. An upstream that fails before its first token (a timeout, or SGLang's habit of
reporting a bad streaming request as an error event after its 200, or events that are not JSON
at all) then still gets a proper HTTP status, and a replica that fails that early can be
skipped for another one; the events of that first read are parsed to tell. The client
loses nothing: its first byte could not come before that event anyway.

After that, events are passed on as they arrive, without re-encoding, in the groups the
upstream delivered them (one read, one list): the client gets them in one write, not one write
per event. After the first read, only chunks that carry a usage object are parsed. When the client goes away, the
request's slot (:mod:`router.balance.slot`) closes the upstream response, whether or not the
relay ever started: SGLang sees the disconnect and aborts the request.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

import orjson

from .backends.base import EventStream, broken, inband_error
from .clock import Clock
from .domain import Replica
from .errors import TierrouteError
from .usage import Usage, usage_of


@dataclass(slots=True)
class StreamEvent:
    payload: bytes  # one SSE data payload (a JSON chunk)
    usage_only: bool  # the trailing usage chunk (choices == [])


@dataclass(slots=True)
class OpenedStream:
    upstream: EventStream
    batches: AsyncIterator[list[bytes]]
    first: list[bytes] | None  # the first group of events; None: the upstream ended without any
    first_at: float  # clock time of the first event (time to first token)


async def open_stream(upstream: EventStream, clock: Clock, replica: Replica) -> OpenedStream:
    """Wait for the first event; raise (and close the upstream) if it is an error."""
    batches = upstream.batches()
    try:
        first: list[bytes] | None = await anext(batches)
    except StopAsyncIteration:
        first = None
    except BaseException:
        await upstream.aclose()
        raise
    error = (inband_error(first[0], replica) or _malformed(first, replica)) if first else None
    if error is not None:
        await upstream.aclose()
        raise error
    return OpenedStream(upstream, batches, first, clock.now())


def _malformed(events: list[bytes], replica: Replica) -> TierrouteError | None:
    """A fault if an event of the first group is not a JSON object: nothing has reached the client
    yet, so another replica can still answer. Later events are relayed unparsed."""
    for payload in events:
        try:
            ok = isinstance(orjson.loads(payload), dict)
        except orjson.JSONDecodeError:
            ok = False
        if not ok:
            return broken(replica, f"streamed an event that is not a JSON object: {payload[:60]!r}")
    return None


class UsageCapture:
    """Remembers the last usage object seen in a stream."""

    def __init__(self) -> None:
        self.usage: Usage | None = None

    def event(self, payload: bytes) -> StreamEvent:
        usage_only = False
        if b'"usage":{' in payload or b'"usage": {' in payload:
            try:
                found = usage_of(orjson.loads(payload))
            except orjson.JSONDecodeError:
                found = None
            if found is not None:
                self.usage = found
                usage_only = b'"choices":[]' in payload or b'"choices": []' in payload
        return StreamEvent(payload, usage_only)


async def relay(opened: OpenedStream, capture: UsageCapture) -> AsyncGenerator[list[StreamEvent], None]:
    """Every event of an opened stream, first one included, as it arrives, in its upstream group."""
    if opened.first is None:
        return
    yield [capture.event(p) for p in opened.first]
    async for batch in opened.batches:
        yield [capture.event(p) for p in batch]
