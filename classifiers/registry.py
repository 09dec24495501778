"""Model versions on disk: content-addressed directories, one promoted pointer, a history.

Layout of a registry directory::

    <root>/<version>/            the files of one model (model.json, static.npz, ...)
    <root>/<version>/meta.json   parent, created, training rows and labels, evaluation
    <root>/CURRENT               the promoted version (one line), replaced atomically
    <root>/history.jsonl         one line per promotion, refusal and rollback, with its numbers

A version is the first 12 hex digits of the SHA-256 over the model's file names and bytes
(``meta.json`` excluded), so a name never changes meaning and adding the same model twice is a
no-op. Readers (every proxy process) only read ``CURRENT`` and the version directories;
writers (``tierroute learn``, ``tierroute model promote|rollback``) write a directory under a
temporary name and rename it, and replace ``CURRENT`` with ``os.replace``, so a reader never
sees half a model or half a pointer.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

META_FILE = "meta.json"
CURRENT_FILE = "CURRENT"
HISTORY_FILE = "history.jsonl"
VERSION_LEN = 12
_JSON_OPTS = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY


@dataclass(frozen=True)
class ModelInfo:
    version: str
    path: Path
    meta: dict[str, Any]

    @property
    def created(self) -> float:
        return float(self.meta.get("created", 0.0))


def content_version(directory: Path) -> str:
    """The version of the model files in ``directory`` (meta.json and hidden files excluded)."""
    h = hashlib.sha256()
    for f in sorted(p for p in directory.iterdir() if p.is_file() and p.name != META_FILE
                    and not p.name.startswith(".")):
        h.update(f.name.encode() + b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:VERSION_LEN]


class Registry:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def add(self, model_dir: str | Path, meta: dict[str, Any] | None = None) -> str:
        """Copy the model in ``model_dir`` in (if not there yet); returns its version."""
        src = Path(model_dir)
        if not (src / "model.json").is_file():
            raise ValueError(f"{src} holds no model.json")
        version = content_version(src)
        dest = self.root / version
        if dest.exists():
            return version
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=self.root))
        for f in src.iterdir():
            if f.is_file() and f.name != META_FILE and not f.name.startswith("."):
                shutil.copy2(f, tmp / f.name)
        full = {"version": version, "created": time.time(), **(meta or {})}
        (tmp / META_FILE).write_bytes(orjson.dumps(full, option=_JSON_OPTS))
        try:
            os.rename(tmp, dest)
        except OSError:  # another writer added the same version meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
            if not dest.exists():
                raise
        return version

    def path(self, version: str) -> Path:
        p = self.root / version
        if not (p / "model.json").is_file():
            raise KeyError(f"no model version {version!r} in {self.root}")
        return p

    def info(self, version: str) -> ModelInfo:
        p = self.path(version)
        meta_path = p / META_FILE
        meta = orjson.loads(meta_path.read_bytes()) if meta_path.is_file() else {}
        return ModelInfo(version, p, meta if isinstance(meta, dict) else {})

    def update_meta(self, version: str, **fields: Any) -> None:
        info = self.info(version)
        meta = {**info.meta, **fields}
        _atomic_write(info.path / META_FILE, orjson.dumps(meta, option=_JSON_OPTS))

    def versions(self) -> list[ModelInfo]:
        """Every stored version, oldest first."""
        if not self.root.is_dir():
            return []
        out = [self.info(p.name) for p in self.root.iterdir()
               if p.is_dir() and not p.name.startswith(".") and (p / "model.json").is_file()]
        return sorted(out, key=lambda m: (m.created, m.version))

    def current(self) -> str | None:
        try:
            text = (self.root / CURRENT_FILE).read_text().strip()
        except FileNotFoundError:
            return None
        return text or None

    def promote(self, version: str, *, event: str = "promote", **numbers: Any) -> None:
        """Point ``CURRENT`` at ``version`` and record why."""
        self.path(version)  # must exist
        previous = self.current()
        _atomic_write(self.root / CURRENT_FILE, (version + "\n").encode())
        self.record(event, version=version, previous=previous, **numbers)

    def rollback(self) -> str:
        """Go back one promotion: the version promoted before the current one (repeatable down to
        the first); returns it."""
        chain = self.promotions()
        if len(chain) < 2:
            raise ValueError(f"no earlier promoted version to roll back to from {self.current()!r}")
        self.promote(chain[-2], event="rollback")
        return chain[-2]

    def promotions(self) -> list[str]:
        """The promoted versions still in force, oldest first (a rollback undoes the latest one)."""
        chain: list[str] = []
        for entry in self.history():
            if entry.get("event") in ("promote", "initial"):
                chain.append(str(entry["version"]))
            elif entry.get("event") == "rollback" and chain:
                chain.pop()
        return chain

    def initial(self) -> str | None:
        """The version the registry started from (its first ``initial`` promotion), if any."""
        for entry in self.history():
            if entry.get("event") == "initial":
                return str(entry["version"])
        return None

    def record(self, event: str, **fields: Any) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        line = orjson.dumps({"ts": time.time(), "event": event, **fields}, option=orjson.OPT_SERIALIZE_NUMPY)
        with (self.root / HISTORY_FILE).open("ab") as f:
            f.write(line + b"\n")

    def history(self) -> list[dict[str, Any]]:
        try:
            raw = (self.root / HISTORY_FILE).read_bytes()
        except FileNotFoundError:
            return []
        return [orjson.loads(line) for line in raw.splitlines() if line.strip()]


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
