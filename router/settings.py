"""Process settings: command-line flags with environment fallbacks (not the policy)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import orjson


@dataclass(frozen=True)
class Settings:
    policy_path: str = "policies.yaml"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    redis_url: str | None = None  # shared prefix-cache affinity and leases across proxy replicas
    classifier_dir: str | None = None  # None: the model shipped in classifiers/default
    models_dir: str | None = None  # a model registry to follow (classifiers/registry.py); overrides classifier_dir
    model_poll_s: float = 1.0  # how often the registry's pointer is read
    log_level: str = "info"
    reload_interval_s: float = 1.0
    stats_dir: str | None = None  # set by `serve --workers N` so workers can merge their stats
    freeze_heap: bool = False  # set by `serve`: gc.freeze() once started (see router.app.freeze_heap)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults ← ``TIERROUTE_*`` environment ← explicit overrides (flags that were given)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for name, cast in (("policy_path", str), ("host", str), ("port", int), ("workers", int),
                           ("redis_url", str), ("classifier_dir", str), ("models_dir", str),
                           ("model_poll_s", float), ("log_level", str),
                           ("reload_interval_s", float)):
            key = "TIERROUTE_POLICY" if name == "policy_path" else "TIERROUTE_" + name.upper()
            if env.get(key):
                values[name] = cast(env[key])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def to_json(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str) -> Settings:
        return cls(**orjson.loads(text))
