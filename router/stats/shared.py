"""Stats across ``--workers N`` processes, through a directory of per-process snapshots.

Each worker writes its :meth:`Stats.export` to ``<dir>/<pid>.json`` every ``interval_s`` (write
to a temp file, then rename, so readers never see half a file) and once more at shutdown. The
worker answering ``GET /admin/stats`` merges its own live export with every other worker's
latest file whose process is still alive. With one worker there is no directory and nothing
is written.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import orjson

from .recorder import Stats


class SharedStats:
    def __init__(self, stats: Stats, directory: str | Path | None, *, interval_s: float = 1.0) -> None:
        self._stats = stats
        self._dir = Path(directory) if directory else None
        self._interval = interval_s
        self._pid = os.getpid()

    def exports(self) -> list[dict[str, Any]]:
        """This process's live export plus the latest from every other live worker."""
        out = [self._stats.export()]
        if self._dir is None:
            return out
        for path in self._dir.glob("*.json"):
            pid = int(path.stem) if path.stem.isdigit() else -1
            if pid == self._pid or not _alive(pid):
                continue
            try:
                out.append(orjson.loads(path.read_bytes()))
            except (OSError, orjson.JSONDecodeError):
                continue  # a worker that is exiting or a file being replaced; its next write counts
        return out

    def write(self) -> None:
        """Snapshot now (on the loop's thread: the stats are not thread-safe) and write it."""
        if self._dir is not None:
            _write_atomic(self._dir, self._pid, orjson.dumps(self._stats.export()))

    async def run(self) -> None:
        if self._dir is None:
            return
        self._dir.mkdir(parents=True, exist_ok=True)
        while True:
            data = orjson.dumps(self._stats.export())
            await asyncio.to_thread(_write_atomic, self._dir, self._pid, data)
            await asyncio.sleep(self._interval)


def _write_atomic(directory: Path, pid: int, data: bytes) -> None:
    tmp = directory / f".{pid}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, directory / f"{pid}.json")


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
