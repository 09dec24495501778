"""``tierroute learn`` (the retraining sidecar) and ``tierroute model list|promote|rollback``.

The learner itself is :mod:`classifiers.training.learn`; this module only connects it to the label store
the proxies write (:mod:`router.learning.labels`) and prints. Nothing here is imported by ``serve``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from typing import Any

import orjson

from .labels import read_labels

log = logging.getLogger("tierroute.learn")


def add_learn_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models-dir", required=True, help="the model registry the proxies follow (serve --models-dir)")
    p.add_argument("--labels", default=".tierroute/labels.jsonl", help="label file (without --redis-url)")
    p.add_argument("--redis-url", help="read the labels from the proxies' Redis stream instead of a file")
    p.add_argument("--redis-prefix", default="tierroute:learn:", help="key prefix of the label stream")
    p.add_argument("--data-dir", help="the shipped default's training data, trained on with the labels "
                                      "(e.g. ../shared/data); without it the model learns from labels only")
    p.add_argument("--exclude", action="append", default=[], metavar="NAME",
                   help="leave data files whose name starts with NAME out of the base set (repeatable)")
    p.add_argument("--start-model", help="model directory registered and promoted first when the registry is empty")
    p.add_argument("--min-new-labels", type=int, default=200, help="retrain once this many new labels arrived")
    p.add_argument("--holdout", type=float, default=0.2, help="share of the newest labels held out to compare")
    p.add_argument("--min-holdout", type=int, default=50)
    p.add_argument("--margin", type=float, default=0.01, help="APGR the challenger must gain to be promoted")
    p.add_argument("--recipe", type=_recipe,
                   help="how challengers are made: correct:SCALE or correct-all:SCALE (the start model corrected by "
                        "the labels), refit:WEIGHT (with --data-dir) or labels (default: chosen each round)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between rounds")
    p.add_argument("--once", action="store_true", help="one round, then exit")
    p.add_argument("--log-level", default="info", help="debug, info, warning, error (default info)")
    p.add_argument("--exit-with-parent", action="store_true",
                   help="stop when the process that started this one ends (serve --learn)")


def _recipe(text: str) -> Any:
    from classifiers.training.adapt import Recipe

    try:
        return Recipe.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def run_learn(ns: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("sklearn") is None:  # the train extra: a serving install has no trainer
        print("tierroute learn retrains the classifier and needs the train extra: pip install 'tierroute[train]'",
              file=sys.stderr)
        return 2
    from classifiers.training.learn import LearnConfig, Learner

    from ..logs import configure_logging

    configure_logging(ns.log_level)
    cfg = LearnConfig(models_dir=ns.models_dir, data_dir=ns.data_dir, exclude=tuple(ns.exclude),
                      start_model=ns.start_model, min_new_labels=ns.min_new_labels, holdout=ns.holdout,
                      min_holdout=ns.min_holdout, margin=ns.margin, recipe=ns.recipe,
                      interval_s=ns.interval)
    where: dict[str, Any] = {"redis_url": ns.redis_url, "prefix": ns.redis_prefix, "path": ns.labels}

    def labels() -> list[dict[str, Any]]:
        return [lb.to_json() for lb in read_labels(**where)]

    learner = Learner(cfg, labels)
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    parent = os.getppid() if ns.exit_with_parent else None
    version = learner.ensure_champion()
    share = _sharer(ns.redis_url, ns.redis_prefix, learner.registry)
    share(version)
    log.info("learner started", extra={"models_dir": cfg.models_dir, "champion": version,
                                       "labels": ns.redis_url and "redis" or ns.labels})
    try:
        while not stopping:
            rnd = learner.step()
            if rnd is not None:
                if rnd.promoted:
                    share(rnd.challenger)
                print(orjson.dumps({"event": "promote" if rnd.promoted else "refuse", "version": rnd.challenger,
                                    **rnd.numbers()}).decode(), flush=True)
            if ns.once:
                break
            _sleep(cfg.interval_s, stopping, parent)
    except KeyboardInterrupt:
        pass
    return 0


def _sharer(redis_url: str | None, prefix: str, registry: Any) -> Any:
    """Publish promotions through Redis for proxies on other hosts (router/learning/model_share.py)."""
    if not redis_url:
        return lambda version: None
    from ..redis_connect import sync_client
    from .model_share import publish

    client = sync_client(redis_url, socket_timeout=10.0, socket_connect_timeout=5.0)
    return lambda version: publish(client, registry, version, prefix)


def _sleep(seconds: float, stopping: list[bool], parent: int | None) -> None:
    end = time.monotonic() + seconds
    while not stopping and time.monotonic() < end:
        if parent is not None and os.getppid() != parent:  # the parent is gone (we were re-parented)
            stopping.append(True)
            return
        time.sleep(min(0.2, max(0.0, end - time.monotonic())))


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("list", "promote", "rollback"))
    p.add_argument("version", nargs="?", help="the version to promote")
    p.add_argument("--models-dir", required=True)
    p.add_argument("--redis-url", help="also publish the change to proxies reading the pointer in Redis")
    p.add_argument("--redis-prefix", default="tierroute:learn:")


def run_model(ns: argparse.Namespace) -> int:
    from classifiers.registry import Registry

    reg = Registry(ns.models_dir)
    if ns.action == "promote":
        if not ns.version:
            print("promote needs a VERSION (see `tierroute model list`)", file=sys.stderr)
            return 2
        try:
            reg.promote(ns.version, event="promote", by="cli")
        except KeyError as e:
            print(str(e).strip("'\""), file=sys.stderr)
            return 1
        _sharer(ns.redis_url, ns.redis_prefix, reg)(ns.version)
        print(f"promoted {ns.version}")
        return 0
    if ns.action == "rollback":
        try:
            version = reg.rollback()
            _sharer(ns.redis_url, ns.redis_prefix, reg)(version)
            print(f"rolled back to {version}")
        except ValueError as e:
            print(str(e), file=sys.stderr)
            return 1
        return 0
    current = reg.current()
    print(f"{'version':<13} {'created (UTC)':<20} {'kind':<11} {'labels':>7} {'APGR':>7} {'champion':>9}  note")
    for m in reg.versions():
        ev = m.meta.get("evaluation") or {}
        apgr = ev.get("challenger_apgr")
        base = ev.get("champion_apgr")
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(m.created))
        print(f"{m.version:<13} {created:<20} {str(m.meta.get('kind', '-')):<11} {str(m.meta.get('labels', '-')):>7} "
              f"{_num(apgr):>7} {_num(base):>9}  {'CURRENT' if m.version == current else ''}")
    return 0


def _num(x: object) -> str:
    return f"{x:.3f}" if isinstance(x, (int, float)) and x == x else "-"
