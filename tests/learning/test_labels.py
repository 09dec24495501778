"""The label and its stores: validation, the bounded file, the shared Redis stream, the CLI."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from router.cli import main
from router.learning.labels import FileLabelStore, Label, RedisLabelStore, label_counts, read_labels
from tests.learning.support import REDIS_URL


def _label(source: str = "shadow", target: float = 1.0, **kw: object) -> Label:
    return Label.new(source, target, **kw)  # type: ignore[arg-type]


def test_label_round_trips_and_rejects_bad_fields() -> None:
    x = _label("feedback", 0.25, request_id="r1", tier="small", features={"tf": [1.0]}, extra={"comment": "ok"})
    assert Label.loads(x.dumps()) == x
    assert set(x.to_json()) == {"id", "ts", "source", "target", "request_id", "tier", "reference_tier", "weight",
                                "prompt", "features", "model_version", "score", "extra"}
    for bad in ({"target": 1.5}, {"source": "guess"}, {"weight": -1}, {"tier": 3}, {"features": [1]},
                {"surprise": 1}, {"target": True}):
        with pytest.raises(ValueError):
            Label.from_json({**x.to_json(), **bad})


def test_file_store_is_bounded_and_counts_what_it_dropped(tmp_path: Path) -> None:
    store = FileLabelStore(tmp_path / "labels.jsonl", max_labels=20)
    for i in range(100):
        store.add_sync(_label("shadow" if i % 2 else "feedback", request_id=str(i)))
        assert sum(1 for _ in (tmp_path / "labels.jsonl").open()) <= 22  # cap + 10 %
    held = store.read_sync()
    assert 20 <= len(held) <= 22
    assert [x.request_id for x in held] == [str(i) for i in range(100 - len(held), 100)]  # the newest, in order
    assert store.counts_sync() == {"feedback": 50, "shadow": 50, "import": 0}
    assert label_counts(path=tmp_path / "labels.jsonl") == {"feedback": 50, "shadow": 50, "import": 0,
                                                            "held": len(held)}


def test_file_store_reads_after_ts_with_limit_and_skips_torn_lines(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    store = FileLabelStore(path, max_labels=1000)
    labels = [Label.from_json({**_label().to_json(), "ts": 1000.0 + i}) for i in range(10)]
    for x in labels:
        store.add_sync(x)
    with path.open("ab") as f:
        f.write(b'{"id": "torn", "ts": 20')  # a crash mid-write
    assert store.read_sync(after_ts=1004.0) == labels[5:]
    assert store.read_sync(after_ts=1004.0, limit=2) == labels[5:7]
    assert read_labels(after_ts=1008.0, path=path) == labels[9:]


def test_redis_store_is_shared_capped_and_readable_from_another_process() -> None:
    prefix = f"test-labels-{uuid.uuid4().hex[:8]}:"

    async def write() -> list[Label]:
        a = RedisLabelStore(Redis.from_url(REDIS_URL), prefix, max_labels=50, owns_client=True)
        b = RedisLabelStore(Redis.from_url(REDIS_URL), prefix, max_labels=50, owns_client=True)
        written = []
        for i in range(400):
            x = _label("import" if i % 4 else "feedback", request_id=str(i))
            await (a if i % 2 else b).add(x)
            written.append(x)
        assert await a.counts() == {"feedback": 100, "shadow": 0, "import": 300}
        size = await b.size()
        assert 50 <= size < 400  # MAXLEN ~: trimmed in whole nodes, near the cap
        await a.aclose()
        await b.aclose()
        return written

    written = asyncio.run(write())
    got = read_labels(redis_url=REDIS_URL, prefix=prefix)  # the learner's way: synchronous
    assert got == written[-len(got):]
    assert read_labels(redis_url=REDIS_URL, prefix=prefix, limit=3) == got[:3]
    assert read_labels(after_ts=got[-2].ts, redis_url=REDIS_URL, prefix=prefix) == got[-1:]
    asyncio.run(_drop(prefix))


async def _drop(prefix: str) -> None:
    r = Redis.from_url(REDIS_URL)
    await r.delete(prefix + "labels", prefix + "label_counts")
    await r.aclose()


def test_labels_cli_import_export_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs = tmp_path / "pairs.jsonl"
    rows = [{"id": "a", "prompt": "Prove Fermat's little theorem.", "weak_score": 0, "strong_score": 1},
            {"id": "b", "prompt": "Say hi.", "weak_score": 1, "strong_score": 1},
            {"id": "c", "prompt": "Sort a list in Python.", "weak_score": 1, "strong_score": 0, "split": "test"},
            {"id": "d", "prompt": "skipped: no score", "weak_score": None, "strong_score": 1}]
    pairs.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    store = ["--path", str(tmp_path / "store.jsonl")]
    assert main(["labels", *store, "import", str(pairs)]) == 0
    assert main(["labels", *store, "import", str(pairs), "--keep-prompts", "--split", "test", "--weight", "3"]) == 0
    out = tmp_path / "export.jsonl"
    assert main(["labels", *store, "export", "--out", str(out)]) == 0
    labels = [Label.loads(line) for line in out.read_bytes().splitlines()]
    assert [(x.extra["row"], x.target, x.source, x.prompt, x.weight) for x in labels] == [
        ("a", 1.0, "import", None, 1.0), ("b", 0.0, "import", None, 1.0), ("c", 0.0, "import", None, 1.0),
        ("c", 0.0, "import", "Sort a list in Python.", 3.0)]
    assert all(x.features and "tf" in x.features for x in labels)
    capsys.readouterr()
    assert main(["labels", *store, "stats"]) == 0
    text = capsys.readouterr().out
    assert "held: 4" in text and "import    added        4" in text
    assert main(["labels", *store, "export"]) == 0  # to stdout
    assert len(capsys.readouterr().out.splitlines()) == 4
