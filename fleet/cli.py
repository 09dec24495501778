"""The fleet's ``tierroute`` commands: ``up``, ``demo``, ``sim-worker``, ``fake-provider``, ``sim-judge``.

:mod:`router.cli` names these functions and imports this module only when one of these commands
runs; each command imports its own simulator inside its functions.
"""

from __future__ import annotations

import argparse
import importlib


def add_up_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=8000, help="the proxy's port")
    p.add_argument("--dir", default=".tierroute/up", help="where the generated policy and the logs go")
    p.add_argument("--redis", default="auto", help="auto: 127.0.0.1:6379 if it answers, else start a private "
                   "redis-server; start: always a private one; none: in-memory state; or a URL in any form "
                   "--redis-url takes (redis://, redis+cluster://, redis+sentinel://)")


def run_up(ns: argparse.Namespace) -> int:
    from pathlib import Path

    from .up import run_up as up

    return up(port=ns.port, work=Path(ns.dir), redis=ns.redis)


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)


def run_demo(ns: argparse.Namespace) -> int:
    from .demo import run_demo as demo

    return demo(requests=ns.requests, concurrency=ns.concurrency, seed=ns.seed)


def add_sim_worker_arguments(p: argparse.ArgumentParser) -> None:
    _add_server_arguments(p, "worker")


def run_sim_worker(ns: argparse.Namespace) -> int:
    return _serve(ns, "worker")


def add_fake_provider_arguments(p: argparse.ArgumentParser) -> None:
    _add_server_arguments(p, "fake_provider")


def run_fake_provider(ns: argparse.Namespace) -> int:
    return _serve(ns, "fake_provider")


def add_sim_judge_arguments(p: argparse.ArgumentParser) -> None:
    _add_server_arguments(p, "judge")


def run_sim_judge(ns: argparse.Namespace) -> int:
    return _serve(ns, "judge")


def _add_server_arguments(p: argparse.ArgumentParser, simulator: str) -> None:
    """``--host``/``--port`` and the flags of ``fleet.sim.<simulator>`` (its ``add_arguments``)."""
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    importlib.import_module(f"fleet.sim.{simulator}").add_arguments(p)


def _serve(ns: argparse.Namespace, simulator: str) -> int:
    """Run ``fleet.sim.<simulator>``'s app, configured from the parsed flags, until interrupted."""
    sim = importlib.import_module(f"fleet.sim.{simulator}")
    return _run_plain(sim.create_app(sim.config_from_args(ns)), ns)


def _run_plain(app: object, ns: argparse.Namespace) -> int:
    import uvicorn

    from router.logs import configure_logging

    configure_logging("warning")
    uvicorn.run(app, host=ns.host, port=ns.port, log_config=None, access_log=False,  # type: ignore[arg-type]
                loop="uvloop", http="httptools")
    return 0
