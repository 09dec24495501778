"""``tierroute labels export|import|stats``: the label store from the command line.

The store is the one a proxy with the same settings writes to: Redis with ``--redis-url`` (env
``TIERROUTE_REDIS_URL``), else the local file; ``--policy`` takes the file, Redis prefix and
cap from its ``learning`` section (flags win).

* ``export [--out FILE] [--after-ts T] [--limit N]``: labels as JSONL (stdout by default).
* ``import PAIRS.jsonl [--keep-prompts] [--split S] [--weight W]``: a pair-schema file as labels
  with ``source: import`` and ``target = 1 if strong_score > weak_score else 0``; the recipe's
  features are computed (``--classifier DIR``: the model whose feature spec to use); the prompt
  is kept only with ``--keep-prompts``.
* ``stats``: labels added per source, held, mean target per source, time span.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import defaultdict
from typing import Any

from ..errors import PolicyError
from .labels import Label, LabelStore, open_store

IMPORT_BATCH = 256


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", help="take the store's file, prefix and cap from this policy's learning section")
    p.add_argument("--redis-url", help="the proxies' Redis (env TIERROUTE_REDIS_URL); else the local file")
    p.add_argument("--path", help="local label file (default .tierroute/labels.jsonl)")
    p.add_argument("--prefix", help="Redis key prefix (default tierroute:learn:)")
    p.add_argument("--max-labels", type=int, help="cap of the store (default 100000)")
    sub = p.add_subparsers(dest="labels_command", metavar="ACTION", required=True)
    e = sub.add_parser("export", help="write labels as JSONL")
    e.add_argument("--out", help="file (default stdout)")
    e.add_argument("--after-ts", type=float, default=0.0)
    e.add_argument("--limit", type=int)
    i = sub.add_parser("import", help="add a pair-schema JSONL file as labels (source import)")
    i.add_argument("file")
    i.add_argument("--keep-prompts", action="store_true", help="keep the prompt text in each label")
    i.add_argument("--split", help="only rows of this split")
    i.add_argument("--weight", type=float, default=1.0)
    i.add_argument("--classifier", help="model dir whose feature spec to compute (default: the shipped model)")
    sub.add_parser("stats", help="labels per source, held, mean target, time span")


def run(ns: argparse.Namespace) -> int:
    try:
        where = _where(ns)
    except PolicyError as e:
        print(f"invalid policy {e.path}: {'; '.join(e.problems)}", file=sys.stderr)
        return 2
    return asyncio.run(_run(ns, open_store(**where)))


def _where(ns: argparse.Namespace) -> dict[str, Any]:
    where: dict[str, Any] = {"redis_url": ns.redis_url or os.environ.get("TIERROUTE_REDIS_URL") or None}
    if ns.policy:
        from ..policy.loader import load_policy

        learning = load_policy(ns.policy).policy.learning
        if learning is not None:
            where.update(prefix=learning.redis_prefix, path=learning.labels.path,
                         max_labels=learning.labels.max_labels)
    for key in ("path", "prefix", "max_labels"):
        if getattr(ns, key) is not None:
            where[key] = getattr(ns, key)
    return where


async def _run(ns: argparse.Namespace, store: LabelStore) -> int:
    try:
        if ns.labels_command == "export":
            return await _export(ns, store)
        if ns.labels_command == "import":
            return await _import(ns, store)
        return await _stats(store)
    finally:
        await store.aclose()


async def _export(ns: argparse.Namespace, store: LabelStore) -> int:
    labels = await store.read(ns.after_ts, ns.limit)
    data = b"".join(label.dumps() + b"\n" for label in labels)
    if ns.out:
        with open(ns.out, "wb") as f:
            f.write(data)
        print(f"{len(labels)} labels -> {ns.out}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
    return 0


async def _import(ns: argparse.Namespace, store: LabelStore) -> int:
    from classifiers.featurize import Featurizer
    from classifiers.training.data import load_pairs  # pair-schema files: training data

    try:
        rows = load_pairs(ns.file, split=ns.split)
    except (OSError, ValueError) as e:
        print(f"cannot read {ns.file}: {e}", file=sys.stderr)
        return 1
    featurizer = await asyncio.to_thread(Featurizer.load, ns.classifier)
    for start in range(0, len(rows), IMPORT_BATCH):
        chunk = rows[start:start + IMPORT_BATCH]
        feats = await asyncio.to_thread(featurizer.features, [r.prompt for r in chunk])
        for r, f in zip(chunk, feats, strict=True):
            await store.add(Label.new("import", 1.0 if r.label else 0.0, weight=ns.weight, features=f,
                                      prompt=r.prompt if ns.keep_prompts else None,
                                      extra={"file": os.path.basename(ns.file), "row": r.id,
                                             "feature_spec": featurizer.spec}))
    print(f"imported {len(rows)} labels from {ns.file}", file=sys.stderr)
    return 0


async def _stats(store: LabelStore) -> int:
    labels = await store.read()
    targets: dict[str, list[float]] = defaultdict(list)
    for label in labels:
        targets[label.source].append(label.target)
    counts = await store.counts()
    print(f"store: {store.describe()}")
    print(f"held: {len(labels)}")
    for source, added in counts.items():
        held = targets.get(source, [])
        mean = f"{sum(held) / len(held):.3f}" if held else "-"
        print(f"  {source:<9} added {added:>8}  held {len(held):>8}  mean target {mean}")
    if labels:
        print(f"span: {min(x.ts for x in labels):.0f} .. {max(x.ts for x in labels):.0f} (unix s)")
    return 0
