"""``tierroute serve`` (the proxy, optionally with the learning sidecar) and ``tierroute validate``.

Both read a policy file; ``serve`` then starts uvicorn on :func:`router.app.create_app`. The
proxy's modules are imported inside the commands, so ``serve --help`` loads argparse and this file.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import tempfile
from typing import TYPE_CHECKING

from .errors import PolicyError
from .logs import configure_logging

if TYPE_CHECKING:
    from .policy.model import Policy
    from .settings import Settings

log = logging.getLogger("tierroute.cli")


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", dest="policy_path", help="policies.yaml (env TIERROUTE_POLICY)")
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--workers", type=int, help="worker processes (default 1)")
    p.add_argument("--redis-url", help="Redis shared by proxy replicas (affinity, conversations, limits; env "
                   "TIERROUTE_REDIS_URL): redis://host:port/db, a Redis Cluster redis+cluster://host:port[,host:port] "
                   "or a Sentinel primary redis+sentinel://host:port[,host:port]/service[/db] (rediss… for TLS)")
    p.add_argument("--classifier", dest="classifier_dir", help="classifier model dir (default: shipped model)")
    p.add_argument("--models-dir", help="follow the promoted model of this registry, swapping it in live "
                                        "(tierroute learn writes it; env TIERROUTE_MODELS_DIR)")
    p.add_argument("--learn", action="store_true", help="also run the learning sidecar (tierroute learn) as a child "
                   "process on this box, on the policy's label store and --models-dir")
    p.add_argument("--learn-data-dir", help="the learner's base training data (tierroute learn --data-dir)")
    p.add_argument("--log-level", help="debug, info, warning, error (default info)")
    p.add_argument("--drain-s", type=float, help="on SIGTERM: answer /ready 503 but keep serving for this long, "
                   "then shut down (env TIERROUTE_DRAIN_S; default 0)")
    p.add_argument("--shutdown-timeout-s", type=float, help="after the drain: how long in-flight requests may "
                   "still run before they are cut (env TIERROUTE_SHUTDOWN_TIMEOUT_S; default 10)")


def add_validate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file")


def run_serve(ns: argparse.Namespace) -> int:
    from .auth import KeyRing
    from .policy.loader import load_policy
    from .settings import Settings

    settings = Settings.from_env(policy_path=ns.policy_path, host=ns.host, port=ns.port, workers=ns.workers,
                                 redis_url=ns.redis_url, classifier_dir=ns.classifier_dir, models_dir=ns.models_dir,
                                 log_level=ns.log_level,
                                 freeze_heap=True)
    configure_logging(settings.log_level)
    try:
        loaded = load_policy(settings.policy_path)
    except PolicyError as e:
        print_policy_error(e)
        return 2
    host, warning = bind_address(settings.host, keyless=not KeyRing(loaded.policy, os.environ).has_client_keys)
    if warning:
        log.warning(warning, extra={"requested_host": settings.host})
    settings = dataclasses.replace(settings, host=host)
    # Read by create_app (every worker): SIGTERM turns /ready 503 and serves on for the drain (router/api/admin.py).
    for flag, var in ((ns.drain_s, "TIERROUTE_DRAIN_S"), (ns.shutdown_timeout_s, "TIERROUTE_SHUTDOWN_TIMEOUT_S")):
        if flag is not None:
            os.environ[var] = str(flag)
    if ns.learn:
        return _serve_with_learner(ns, settings, loaded.policy)
    return _run_server(settings)


def _serve_with_learner(ns: argparse.Namespace, settings: Settings, policy: Policy) -> int:
    """``serve --learn``: the learner as a child process, stopped when the proxy stops."""
    from .procs import ProcessGroup, tierroute_cmd

    if not settings.models_dir or policy.learning is None:
        print("serve --learn needs --models-dir and a `learning:` section in the policy", file=sys.stderr)
        return 2
    # uvicorn re-raises SIGTERM after its shutdown, so this process may end without unwinding:
    # the child also stops on its own when its parent is gone.
    cmd = ["learn", "--models-dir", settings.models_dir, "--log-level", settings.log_level, "--exit-with-parent"]
    if settings.redis_url:
        cmd += ["--redis-url", settings.redis_url, "--redis-prefix", policy.learning.redis_prefix]
    else:
        cmd += ["--labels", policy.learning.labels.path]
    if ns.learn_data_dir:
        cmd += ["--data-dir", ns.learn_data_dir]
    with ProcessGroup() as procs:
        procs.start("learn", tierroute_cmd(*cmd))
        return _run_server(settings)


def _run_server(settings: Settings) -> int:
    import uvicorn

    from .app import create_app

    # proxy_headers off: tierroute does not use the client's address, so X-Forwarded-* need no parsing.
    common = dict(host=settings.host, port=settings.port, log_config=None, access_log=False,
                  loop="uvloop", http="httptools", proxy_headers=False,
                  timeout_graceful_shutdown=float(os.environ.get("TIERROUTE_SHUTDOWN_TIMEOUT_S", "10")))
    if settings.workers <= 1:
        try:
            app = create_app(settings)
        except PolicyError as e:
            print_policy_error(e)
            return 2
        uvicorn.run(app, **common)  # type: ignore[arg-type]
        return 0
    with tempfile.TemporaryDirectory(prefix="tierroute-stats-") as stats_dir:
        settings = dataclasses.replace(settings, stats_dir=stats_dir)
        os.environ["TIERROUTE_SETTINGS_JSON"] = settings.to_json()
        uvicorn.run("router.app:app_from_env", factory=True, workers=settings.workers, **common)  # type: ignore[arg-type]
    return 0


def run_validate(ns: argparse.Namespace) -> int:
    from .policy.loader import load_policy
    from .policy.model import SGLangBackend

    try:
        loaded = load_policy(ns.file)
    except PolicyError as e:
        print_policy_error(e)
        return 1
    p = loaded.policy
    print(f"{ns.file}: valid (digest {loaded.digest})")
    for t in p.tiers:
        for b in t.backends:
            assert b.price is not None
            if isinstance(b, SGLangBackend):
                found = f" + DNS {b.discover.dns}:{b.discover.port}" if b.discover else ""
                where = f"{len(b.replicas)} replica(s){found}"
            else:
                where = str(b.api_base or "provider default")
            print(f"  tier {t.name:<10} {b.kind:<8} {b.model:<40} {where:<28} "
                  f"${b.price.input_per_mtok:g}/${b.price.output_per_mtok:g} per Mtok "
                  f"({loaded.price_sources.get(f'{t.name}/{b.model}')})")
    bounds = ", ".join(f"{r.tier} < {r.below}" if r.below is not None else f"{r.tier} otherwise"
                       for r in p.routing.auto)
    print(f"  auto: {bounds}")
    for w in [*loaded.warnings, *_print_capabilities(p)]:
        print(f"  warning: {w}")
    return 0


def _print_capabilities(p: Policy) -> list[str]:
    """Each tier's capabilities as declared and as litellm's map knows its models (SGLang replicas
    report theirs when running); returns the disagreements."""
    import asyncio

    from .backends.model_info import litellm_model_caps
    from .policy.capabilities import combine, context_conflicts, declared_conflicts

    found = asyncio.run(litellm_model_caps(b.model for t in p.tiers for b in t.backends if b.kind == "litellm"))
    warnings: list[str] = []
    for t in p.tiers:
        reported = combine(None, [found[b.model] for b in t.backends if b.kind == "litellm"])
        c = combine(t.capabilities, [reported])
        shown = " ".join(f"{k}={'?' if v is None else v}" for k, v in c.describe().items()
                         if k not in ("context_tokens", "source"))
        sglang = " (+ what its SGLang replicas report at run time)" if any(b.kind == "sglang" for b in t.backends) \
            else ""
        print(f"  capabilities {t.name:<10} {shown} from {c.source}{sglang}")
        warnings += declared_conflicts(t.name, t.capabilities, reported) + context_conflicts(
            t.name, t.context_tokens, reported)
    return warnings


def print_policy_error(e: PolicyError) -> None:
    print(f"invalid policy {e.path}:", file=sys.stderr)
    for problem in e.problems:
        print(f"  - {problem}", file=sys.stderr)


def bind_address(host: str, *, keyless: bool) -> tuple[str, str | None]:
    """Where to listen, and what to warn about: a proxy without client keys serves loopback only."""
    from .auth import is_loopback

    if not keyless:
        return host, None
    if not is_loopback(host):
        return "127.0.0.1", (f"no client API keys are configured: binding 127.0.0.1 only, not {host} (set "
                             "TIERROUTE_API_KEYS or auth.client_keys to serve other addresses)")
    return host, "no client API keys are configured: anyone who can reach this host's loopback may use the proxy"
