from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.training.data import PairRow, load_pairs


def row(i: int, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {"id": f"r{i}", "prompt": f"prompt {i}", "task": "t", "weak_model": "w",
                               "strong_model": "s", "weak_score": 0.0, "strong_score": 1.0, "split": "train"}
    return {**base, **kw}


def test_nulls_skipped_contaminated_dropped_split_filtered(write_jsonl) -> None:
    path = write_jsonl([
        row(0),
        row(1, weak_score=None),
        row(2, strong_score=None),
        row(3, contaminated=True),
        row(4, split="test", weak_score=1.0, strong_score=1.0),
        row(5, contaminated=False, weak_score=1.0, strong_score=0.0),
    ])
    assert [r.id for r in load_pairs(path)] == ["r0", "r4", "r5"]
    assert [r.id for r in load_pairs(path, split="train")] == ["r0", "r5"]
    assert [r.id for r in load_pairs(path, split="test")] == ["r4"]
    assert [r.id for r in load_pairs(path, keep_contaminated=True)] == ["r0", "r3", "r4", "r5"]


def test_fields_and_label(write_jsonl) -> None:
    path = write_jsonl([row(0), row(1, weak_score=1, strong_score=1), row(2, weak_score=0.7, strong_score=0.5)])
    rows = load_pairs(path)
    assert rows[0] == PairRow(id="r0", prompt="prompt 0", weak_score=0.0, strong_score=1.0, split="train",
                              task="t", contaminated=False)
    assert [r.label for r in rows] == [True, False, False]


def test_missing_split_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prompt": "x", "weak_score": 0.2, "strong_score": 0.5}\n\n')
    (r,) = load_pairs(path)
    assert r.split is None and r.task is None and r.label
    assert load_pairs(path, split="train") == []


def test_malformed_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prompt": "x", "weak_score": 0, "strong_score": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r"p\.jsonl:2"):
        load_pairs(path)
    path.write_text('{"id": "a", "prompt": 3, "weak_score": 0, "strong_score": 1}\n')
    with pytest.raises(ValueError, match="prompt"):
        load_pairs(path)
