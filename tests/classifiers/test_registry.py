"""The model registry: content-addressed versions, an atomic pointer, history, rollback."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from classifiers.logreg import default_model_dir
from classifiers.registry import Registry, content_version


def copy_default(dest: Path, intercept_shift: float = 0.0) -> Path:
    shutil.copytree(default_model_dir(), dest)
    if intercept_shift:
        obj = orjson.loads((dest / "model.json").read_bytes())
        obj["intercept"] += intercept_shift
        (dest / "model.json").write_bytes(orjson.dumps(obj))
    return dest


def test_versions_are_content_hashes_and_adding_twice_is_a_no_op(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "models")
    a = copy_default(tmp_path / "a")
    v1 = reg.add(a, {"note": "first"})
    assert v1 == content_version(a) and len(v1) == 12
    assert reg.add(a, {"note": "again"}) == v1
    assert reg.info(v1).meta["note"] == "first"
    v2 = reg.add(copy_default(tmp_path / "b", 1.0))
    assert v2 != v1 and [m.version for m in reg.versions()] == [v1, v2]
    assert not any(p.name.startswith(".") for p in (tmp_path / "models").iterdir())


def test_promote_rollback_and_history(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "models")
    v1 = reg.add(copy_default(tmp_path / "a"))
    v2 = reg.add(copy_default(tmp_path / "b", 1.0))
    assert reg.current() is None
    reg.promote(v1, event="initial")
    reg.promote(v2, apgr=0.61)
    assert reg.current() == v2
    assert reg.rollback() == v1 and reg.current() == v1
    events = [(h["event"], h["version"]) for h in reg.history()]
    assert events == [("initial", v1), ("promote", v2), ("rollback", v1)]
    assert reg.history()[1]["apgr"] == 0.61
    with pytest.raises(ValueError):
        reg.rollback()  # v1 was the first one
    with pytest.raises(KeyError):
        reg.promote("000000000000")


def test_a_directory_without_a_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError):
        Registry(tmp_path / "models").add(tmp_path / "empty")
