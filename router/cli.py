"""The ``tierroute`` command: one table of subcommands, each imported only when it runs.

Parsing takes two steps. :func:`main` looks at the first argument: a known command gets a parser
of its own, filled by the function the table names (``module:function``, imported then), and its
handler runs; anything else goes to the top-level parser, which lists the commands from the
table alone. So ``tierroute serve`` never imports the simulators, the training code or the
evaluation (``tests/test_layering.py`` checks), and ``tierroute --help`` imports none of them.
The fleet's commands (``up``, ``demo``, ``sim-*``, ``fake-provider``) live in :mod:`fleet.cli`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Command:
    help: str
    run: str  # "module:function", called with the parsed namespace; returns the exit status
    arguments: str | None = None  # "module:function" that adds the command's flags to its parser


COMMANDS: dict[str, Command] = {
    "serve": Command("run the proxy", "router.serve_cli:run_serve", "router.serve_cli:add_serve_arguments"),
    "validate": Command("check a policy file", "router.serve_cli:run_validate",
                        "router.serve_cli:add_validate_arguments"),
    "train": Command("train the complexity classifier on pair-schema JSONL", "classifiers.training.cli:run_train",
                     "classifiers.training.cli:add_train_arguments"),
    "eval": Command("score a classifier on pair-schema JSONL (RouteLLM's APGR, CPT)",
                    "classifiers.training.eval_cli:run_eval", "classifiers.training.eval_cli:add_eval_arguments"),
    "train-default": Command("rebuild the shipped classifier from every allowed data file",
                             "classifiers.training.default_cli:run_train_default",
                             "classifiers.training.default_cli:add_train_default_arguments"),
    "eval-tiers": Command("cost and quality of N-tier routing on multi-model outcome data",
                          "classifiers.training.tiers_cli:run_tiers",
                          "classifiers.training.tiers_cli:add_tiers_arguments"),
    "calibrate": Command("choose a score threshold for a share of strong calls or a target PGR",
                         "router.calibrate:run_calibrate", "router.calibrate:add_calibrate_arguments"),
    "learn": Command("the sidecar: retrain the classifier on labels, promote a better model",
                     "router.learning.learn_cli:run_learn", "router.learning.learn_cli:add_learn_arguments"),
    "model": Command("list, promote or roll back classifier versions in a registry",
                     "router.learning.learn_cli:run_model", "router.learning.learn_cli:add_model_arguments"),
    "labels": Command("the label store: export, import pair-schema files, stats", "router.learning.cli:run",
                      "router.learning.cli:add_arguments"),
    "route": Command("score a prompt and show the tier auto routing gives it (and why)", "router.ops_cli:run_route",
                     "router.ops_cli:add_route_arguments"),
    "stats": Command("print a proxy's /admin/stats as tables", "router.ops_cli:run_stats",
                     "router.ops_cli:add_stats_arguments"),
    "schema": Command("print the JSON Schema of policies.yaml", "router.ops_cli:run_schema"),
    "up": Command("a local stack: simulated SGLang tiers, a fake provider, Redis if none answers, and the proxy on "
                  "127.0.0.1; Ctrl-C stops it all", "fleet.cli:run_up", "fleet.cli:add_up_arguments"),
    "demo": Command("start sim workers, a fake provider and the proxy; send mixed traffic", "fleet.cli:run_demo",
                    "fleet.cli:add_demo_arguments"),
    "sim-worker": Command("a simulated SGLang worker (SGLang's HTTP surface, no GPU)", "fleet.cli:run_sim_worker",
                          "fleet.cli:add_sim_worker_arguments"),
    "fake-provider": Command("a fake external provider (OpenAI + Anthropic APIs) for litellm",
                             "fleet.cli:run_fake_provider", "fleet.cli:add_fake_provider_arguments"),
    "sim-judge": Command("a simulated judge for shadow comparisons (OpenAI chat API, strict verdicts)",
                         "fleet.cli:run_sim_judge", "fleet.cli:add_sim_judge_arguments"),
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:
        name = args[0]
        try:
            parser = command_parser(name)
            run = resolve(COMMANDS[name].run)
        except ModuleNotFoundError as e:
            if not (e.name or "").startswith("fleet"):
                raise
            print(f"tierroute {name} needs the fleet package (simulators and demo), which this install leaves out "
                  "(the container image is the proxy alone): run it from a source checkout or the wheel",
                  file=sys.stderr)
            return 2
        return int(run(parser.parse_args(args[1:])) or 0)
    top = top_parser()
    top.parse_args(args)  # --help, or an error naming the commands
    top.print_help()
    return 2


def top_parser() -> argparse.ArgumentParser:
    """The command list, from :data:`COMMANDS` alone (nothing is imported)."""
    p = argparse.ArgumentParser(prog="tierroute", description="Cost-aware LLM routing proxy.")
    sub = p.add_subparsers(metavar="COMMAND")
    for name, cmd in COMMANDS.items():
        sub.add_parser(name, help=cmd.help, add_help=False)
    return p


def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of one command, its flags added by the function the table names."""
    cmd = COMMANDS[name]
    p = argparse.ArgumentParser(prog=f"tierroute {name}", description=cmd.help)
    if cmd.arguments is not None:
        resolve(cmd.arguments)(p)
    return p


def resolve(target: str) -> Callable[..., Any]:
    module, _, function = target.partition(":")
    found: Callable[..., Any] = getattr(importlib.import_module(module), function)
    return found


if __name__ == "__main__":
    sys.exit(main())
