"""Command-line entries: ``tierroute train DATA.jsonl -o DIR`` (named in ``router/cli.py``), and
``python -m classifiers.training.cli {train,eval}`` for use without the proxy installed.

Heavy imports (torch, sentence-transformers, scikit-learn) happen only when a command runs.
"""

from __future__ import annotations

import argparse
import shlex
import time
from collections.abc import Sequence

from .eval_cli import add_eval_arguments, run_eval


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", metavar="DATA.jsonl", help="pair-schema JSONL (../shared/data/README.md)")
    parser.add_argument("-o", "--out", required=True, metavar="DIR", help="where model.json and MODEL_CARD.md go")
    parser.add_argument("--split", default="train",
                        help="rows whose `split` is this (default: train; 'all': every row)")
    parser.add_argument("--dev-fraction", type=float, default=0.2, help="held out for the dev metrics (default 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="dev split and CV seed (default 0)")


def run_train(ns: argparse.Namespace) -> int:
    """Train (see :func:`classifiers.training.train.train`) and print the dev metrics table."""
    from .train import metrics_table, train

    started = time.monotonic()
    report = train(ns.data, ns.out, split=_split(ns.split), dev_fraction=ns.dev_fraction, seed=ns.seed,
                   command=_train_command(ns))
    print(f"trained on {report.rows} rows of {report.data_path} (split {report.split}); "
          f"C={report.C:g}; {time.monotonic() - started:.0f}s")
    print(f"dev split ({report.dev_rows} held-out rows):")
    print(metrics_table(report.dev))
    print(f"wrote {report.model_path} and {report.card_path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classifiers.training.cli",
                                     description="Train or evaluate the classifier.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    add_train_arguments(t := sub.add_parser("train", help="train on pair-schema JSONL"))
    t.set_defaults(func=run_train)
    add_eval_arguments(e := sub.add_parser("eval", help="evaluate a trained model on pair-schema JSONL"))
    e.set_defaults(func=run_eval)  # the same command as `tierroute eval`
    ns = parser.parse_args(argv)
    return int(ns.func(ns))


def _split(value: str | None) -> str | None:
    return None if value in (None, "all") else value


def _train_command(ns: argparse.Namespace) -> str:
    """The ``tierroute train`` command line that reproduces this run (non-default options only)."""
    parts = ["tierroute", "train", ns.data, "-o", ns.out]
    if ns.split != "train":
        parts += ["--split", ns.split]
    if ns.dev_fraction != 0.2:
        parts += ["--dev-fraction", str(ns.dev_fraction)]
    if ns.seed != 0:
        parts += ["--seed", str(ns.seed)]
    return shlex.join(parts)


if __name__ == "__main__":
    raise SystemExit(main())
