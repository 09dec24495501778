"""Stats across worker processes through a snapshot directory."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from router.clock import FakeClock
from router.stats.recorder import RequestRecord, Stats, merge_exports
from router.stats.shared import SharedStats


def test_live_workers_are_merged_and_dead_ones_ignored(tmp_path: Path) -> None:
    mine, other = Stats(FakeClock()), Stats(FakeClock())
    mine.record(RequestRecord("small", "small/0", "m", 200, input_tokens=3))
    other.record(RequestRecord("small", "small/0", "m", 200, input_tokens=4))
    (tmp_path / f"{os.getppid()}.json").write_bytes(orjson.dumps(other.export()))  # a live process
    (tmp_path / "999999999.json").write_bytes(orjson.dumps(other.export()))  # no such process
    (tmp_path / "garbage.json").write_bytes(b"{")
    shared = SharedStats(mine, tmp_path)
    merged = merge_exports(shared.exports())
    assert merged["tiers"]["small"]["counters"]["input_tokens"] == 7
    shared.write()
    assert orjson.loads((tmp_path / f"{os.getpid()}.json").read_bytes())["tiers"]["small"]["counters"]["requests"] == 1


def test_single_worker_writes_nothing(tmp_path: Path) -> None:
    shared = SharedStats(Stats(FakeClock()), None)
    shared.write()
    assert len(shared.exports()) == 1 and list(tmp_path.iterdir()) == []
