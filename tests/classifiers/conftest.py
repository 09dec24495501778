"""Helpers for the classifier tests: write small pair-schema JSONL files."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[[Iterable[dict[str, Any]]], Path]:
    def write(rows: Iterable[dict[str, Any]], name: str = "pairs.jsonl") -> Path:
        path = tmp_path / name
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        return path

    return write
