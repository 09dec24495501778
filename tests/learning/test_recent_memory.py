"""The feedback memory of recent requests costs ~1 KB per request, not ~5 KB (issue 10, point 8).

Found by the chaos run's soak: each proxy's RSS grew 34-38 % over 50,000 requests, most of it
:class:`RecentRequests` holding every answered request's features as dicts of Python floats
(~4-5 KB each; ~450 MB per process at the default cap of 100,000). They are kept as right-sized
JSON bytes now (orjson's own output would keep an ~8 KB buffer each).
"""

from __future__ import annotations

import asyncio
import random
import tracemalloc

import orjson

from classifiers.featurize import Featurizer
from router.clock import SystemClock
from router.learning.recent import RecentRequests, Served

WORDS = ["alpha", "bravo", "cargo", "delta", "engine", "fabric", "garden", "harbor", "island", "jungle"]


def test_recent_requests_cost_about_a_kilobyte_each() -> None:
    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 80))) for _ in range(1000)]
    features = Featurizer.load().features(texts)
    recent = RecentRequests(SystemClock(), max_entries=10_000)

    async def fill() -> None:
        for i, f in enumerate(features):  # a fresh copy each, held by nothing but the store afterwards
            await recent.put(Served(f"req-{i:06d}", "app", "small", 0.3, "v1", orjson.loads(orjson.dumps(f)), None),
                             ttl_s=60)

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    asyncio.run(fill())
    per_entry = (tracemalloc.get_traced_memory()[0] - before) / len(features)
    tracemalloc.stop()
    assert per_entry < 2000, per_entry
    got = asyncio.run(recent.get("req-000007"))
    assert got is not None and got.request_id == "req-000007" and got.features is not None
    assert len(got.features["emb"]) == 64 and got.tier == "small"
