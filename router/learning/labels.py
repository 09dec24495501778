"""Labels and where they are kept (the contract is in docs/learning.md, "The label").

A :class:`Label` says how much one prompt needed a stronger tier than the one that answered it
(``target`` 0..1). Stores, behind one small :class:`LabelStore` protocol:

* :class:`RedisLabelStore` (with ``--redis-url``): one capped stream shared by every proxy,
  ``XADD <prefix>labels MAXLEN ~ N * label <json>``; a hash ``<prefix>label_counts`` counts the
  labels added per source (the stream forgets the oldest, the counts do not).
* :class:`FileLabelStore` (no Redis): an append-only JSONL file, one label per line. Appends hold
  an exclusive ``flock`` on ``<path>.lock``; every ``max(1, N // 20)`` appends by a process the
  file is counted and, when over ``N`` by more than 10 %, rewritten with its newest ``N`` lines
  (to a temporary file, then renamed, so a reader sees the old or the new file, never half).
  Labels dropped by compaction stay counted in ``<path>.counts.json``.

Both work from any process: the proxy uses them on its event loop (file I/O in a thread), the
learner sidecar and ``tierroute labels`` through :func:`read_labels` / :func:`open_store` with
``asyncio.run``. ``read(after_ts, limit)`` returns labels with ``ts > after_ts``, oldest first.
"""

from __future__ import annotations

import asyncio
import fcntl
import math
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, cast

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from ..redis_connect import async_client

Source = Literal["feedback", "shadow", "import"]
SOURCES: tuple[Source, ...] = ("feedback", "shadow", "import")
_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Label:
    id: str
    ts: float
    source: Source
    target: float
    request_id: str | None = None
    tier: str | None = None
    reference_tier: str | None = None
    weight: float = 1.0
    prompt: str | None = None
    features: dict[str, Any] | None = None
    model_version: str | None = None
    score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, source: Source, target: float, **kw: Any) -> Label:
        """A label with a fresh id, stamped now; checked like :meth:`from_json`."""
        return cls.from_json({"id": uuid.uuid4().hex, "ts": time.time(), "source": source, "target": target, **kw})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def dumps(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, obj: Any) -> Label:
        """A label from its JSON object; ``ValueError`` naming the field when it is not one."""
        if not isinstance(obj, dict):
            raise ValueError("a label is a JSON object")
        unknown = set(obj) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown label fields {sorted(unknown)}")
        if obj.get("source") not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {obj.get('source')!r}")
        if not isinstance(obj.get("id"), str) or not obj["id"]:
            raise ValueError("`id` must be a non-empty string")
        for name, lo, hi in (("ts", 0.0, math.inf), ("target", 0.0, 1.0), ("weight", 0.0, math.inf)):
            v = obj.get(name, 1.0 if name == "weight" else None)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                raise ValueError(f"`{name}` must be a number in [{lo}, {hi}], got {v!r}")
        for name in ("request_id", "tier", "reference_tier", "prompt", "model_version"):
            if obj.get(name) is not None and not isinstance(obj[name], str):
                raise ValueError(f"`{name}` must be a string or null")
        score = obj.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            raise ValueError("`score` must be a number or null")
        for name in ("features", "extra"):
            if obj.get(name) is not None and not isinstance(obj[name], dict):
                raise ValueError(f"`{name}` must be an object")
        return cls(**{**obj, "ts": float(obj["ts"]), "target": float(obj["target"]),
                      "weight": float(obj.get("weight", 1.0)), "extra": obj.get("extra") or {}})

    @classmethod
    def loads(cls, data: bytes | str) -> Label:
        return cls.from_json(orjson.loads(data))


class LabelStore(Protocol):
    async def add(self, label: Label) -> None: ...

    async def read(self, after_ts: float = 0.0, limit: int | None = None) -> list[Label]:
        """Labels with ``ts > after_ts``, oldest first, at most ``limit``."""
        ...

    async def counts(self) -> dict[str, int]:
        """Labels added per source over the store's life (also those the cap has dropped since)."""
        ...

    async def size(self) -> int:
        """Labels held now (at most about the cap)."""
        ...

    def describe(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


class FileLabelStore:
    def __init__(self, path: str | Path, max_labels: int) -> None:
        self.path = Path(path)
        self.max_labels = max_labels
        self._check_every = max(1, max_labels // 20)
        self._since_check = 0

    def describe(self) -> dict[str, Any]:
        return {"store": "file", "path": str(self.path), "max_labels": self.max_labels}

    async def add(self, label: Label) -> None:
        await asyncio.to_thread(self.add_sync, label)

    def add_sync(self, label: Label) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            with self.path.open("ab") as f:
                f.write(label.dumps() + b"\n")
            self._since_check += 1
            if self._since_check >= self._check_every:
                self._since_check = 0
                self._compact_locked()

    async def read(self, after_ts: float = 0.0, limit: int | None = None) -> list[Label]:
        return await asyncio.to_thread(self.read_sync, after_ts, limit)

    def read_sync(self, after_ts: float = 0.0, limit: int | None = None) -> list[Label]:
        out: list[Label] = []
        for label in self._iter():
            if label.ts > after_ts:
                out.append(label)
                if limit is not None and len(out) >= limit:
                    break
        return out

    async def counts(self) -> dict[str, int]:
        return await asyncio.to_thread(self.counts_sync)

    def counts_sync(self) -> dict[str, int]:
        held = Counter(label.source for label in self._iter())
        dropped = self._dropped()
        return {s: held.get(s, 0) + dropped.get(s, 0) for s in SOURCES}

    async def size(self) -> int:
        return await asyncio.to_thread(lambda: sum(1 for _ in self._lines()))

    async def aclose(self) -> None:
        return None

    def _lines(self) -> Iterator[bytes]:
        try:
            with self.path.open("rb") as f:
                yield from (line for line in f if line.strip())
        except FileNotFoundError:
            return

    def _iter(self) -> Iterator[Label]:
        for line in self._lines():
            try:
                yield Label.loads(line)
            except (ValueError, orjson.JSONDecodeError):
                continue  # a line torn by a crash mid-write: skipped, never fatal

    def _locked(self) -> _Flock:
        return _Flock(self.path.with_name(self.path.name + ".lock"))

    def _counts_path(self) -> Path:
        return self.path.with_name(self.path.name + ".counts.json")

    def _dropped(self) -> dict[str, int]:
        try:
            data = orjson.loads(self._counts_path().read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return {}
        return {k: int(v) for k, v in data.get("dropped", {}).items()} if isinstance(data, dict) else {}

    def _compact_locked(self) -> None:
        lines = list(self._lines())
        if len(lines) <= self.max_labels * 1.1:
            return
        cut = len(lines) - self.max_labels
        dropped = Counter(self._dropped())
        for line in lines[:cut]:
            try:
                dropped[str(orjson.loads(line).get("source"))] += 1
            except (orjson.JSONDecodeError, AttributeError):
                continue
        _write_atomic(self._counts_path(), orjson.dumps({"dropped": dict(dropped)}))
        _write_atomic(self.path, b"".join(lines[cut:]))


class _Flock:
    """An exclusive ``flock`` on a lock file (held across processes) for the ``with`` block."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = -1

    def __enter__(self) -> None:
        self._fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class RedisLabelStore:
    def __init__(self, redis: Redis | RedisCluster, prefix: str, max_labels: int, *, owns_client: bool = False) -> None:
        self._redis = redis
        self.key = prefix + "labels"
        self._counts_key = prefix + "label_counts"
        self.max_labels = max_labels
        self._owns = owns_client

    def describe(self) -> dict[str, Any]:
        return {"store": "redis", "key": self.key, "max_labels": self.max_labels}

    async def add(self, label: Label) -> None:
        # not a MULTI: the stream and its counts have no common hash tag (a cluster refuses a transaction across slots)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(self.key, {"label": label.dumps()}, maxlen=self.max_labels, approximate=True)
            pipe.hincrby(self._counts_key, label.source, 1)
            await pipe.execute()

    async def read(self, after_ts: float = 0.0, limit: int | None = None) -> list[Label]:
        # Stream ids are Redis' clock in ms; labels carry the proxy's. Start a minute early, filter by ts.
        start = f"{max(0, int(after_ts * 1000) - 60_000)}-0" if after_ts > 0 else "-"
        out: list[Label] = []
        while limit is None or len(out) < limit:
            page: list[Any] = await self._redis.xrange(self.key, min=start, max="+", count=_PAGE) or []
            for _entry_id, values in page:
                try:
                    label = Label.loads(values[b"label"])
                except (KeyError, TypeError, ValueError, orjson.JSONDecodeError):
                    continue
                if label.ts > after_ts:
                    out.append(label)
                    if limit is not None and len(out) >= limit:
                        break
            if len(page) < _PAGE:
                break
            last = page[-1][0]
            start = "(" + (last.decode() if isinstance(last, bytes) else str(last))
        return out

    async def counts(self) -> dict[str, int]:
        raw = await self._redis.hgetall(self._counts_key)
        got = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
        return {s: got.get(s, 0) for s in SOURCES}

    async def size(self) -> int:
        return int(await self._redis.xlen(self.key))

    async def aclose(self) -> None:
        if self._owns:
            await self._redis.aclose()


def open_store(*, redis_url: str | None = None, prefix: str = "tierroute:learn:",
               path: str | Path = ".tierroute/labels.jsonl", max_labels: int = 100_000) -> LabelStore:
    """The store a proxy with these settings writes to (Redis when ``redis_url`` is given)."""
    if redis_url:
        client = async_client(redis_url, socket_timeout=5.0, socket_connect_timeout=2.0)
        return RedisLabelStore(client, prefix, max_labels, owns_client=True)
    return FileLabelStore(path, max_labels)


def read_labels(after_ts: float = 0.0, limit: int | None = None, **where: Any) -> list[Label]:
    """Synchronous read for other processes (the learner, the CLI); ``where``: :func:`open_store`'s arguments."""

    async def run() -> list[Label]:
        store = open_store(**where)
        try:
            return await store.read(after_ts, limit)
        finally:
            await store.aclose()

    return asyncio.run(run())


def label_counts(**where: Any) -> dict[str, int]:
    """Synchronous :meth:`LabelStore.counts` plus ``held`` (labels held now)."""

    async def run() -> dict[str, int]:
        store = open_store(**where)
        try:
            return {**await store.counts(), "held": await store.size()}
        finally:
            await store.aclose()

    return cast(dict[str, int], asyncio.run(run()))
