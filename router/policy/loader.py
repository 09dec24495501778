"""Load, validate and watch ``policies.yaml``.

``load_policy(path)`` parses YAML, validates it with the pydantic schema and fills in every
backend's price (policy → tier → litellm cost map). Any problem raises :class:`PolicyError`
whose messages name the field (``tiers[1] (large).backends[0].replicas[0]: ...``).

``PolicyWatcher`` polls the file (stat every ``interval_s``; content hash decides) so that it
also sees Kubernetes ConfigMap symlink swaps, which inotify-based watchers miss. A file that
fails to load, or that its ``guard`` refuses (a reload that would widen access, see
:func:`router.auth.widened`), leaves the old policy serving; the reason is logged and kept in
``status`` for ``GET /admin/policy``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import PolicyError
from .model import LiteLLMBackend, Policy, Tier
from .pricing import resolve_price

log = logging.getLogger("tierroute.policy")


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    path: str
    digest: str
    loaded_at: float
    warnings: tuple[str, ...] = ()
    price_sources: dict[str, str] = field(default_factory=dict)  # "tier/model" -> source


def parse_policy(text: str | bytes, *, path: str = "<policy>", env: Mapping[str, str] | None = None) -> LoadedPolicy:
    """Validate policy text. ``env`` (default ``os.environ``) is used for warnings about unset keys."""
    env = os.environ if env is None else env
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise PolicyError(path, [f"not valid YAML: {e}"]) from None
    if not isinstance(raw, dict):
        raise PolicyError(path, ["the file must be a mapping with `tiers` and `routing`"])
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as e:
        raise PolicyError(path, [_describe(err, raw) for err in e.errors()]) from None
    policy, sources, problems = _with_prices(policy)
    if problems:
        raise PolicyError(path, problems)
    digest = hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()[:16]
    return LoadedPolicy(policy, path, digest, time.time(), tuple(_warnings(policy, env)), sources)


def load_policy(path: str | Path, *, env: Mapping[str, str] | None = None) -> LoadedPolicy:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise PolicyError(str(p), [f"cannot read: {e.strerror or e}"]) from None
    return parse_policy(data, path=str(p), env=env)


def _with_prices(policy: Policy) -> tuple[Policy, dict[str, str], list[str]]:
    tiers: list[Tier] = []
    sources: dict[str, str] = {}
    problems: list[str] = []
    for ti, tier in enumerate(policy.tiers):
        backends = []
        for bi, b in enumerate(tier.backends):
            price, source = resolve_price(tier, b)
            if price is None:
                hint = "litellm's cost map has no entry for it; " if isinstance(b, LiteLLMBackend) else ""
                problems.append(f"tiers[{ti}] ({tier.name}).backends[{bi}].price: no price for "
                                f"{b.model!r}: {hint}set `price` on the backend or the tier")
                backends.append(b)
                continue
            sources[f"{tier.name}/{b.model}"] = source
            backends.append(b if b.price == price else b.model_copy(update={"price": price}))
        tiers.append(tier.model_copy(update={"backends": backends}))
    return policy.model_copy(update={"tiers": tiers}), sources, problems


def _warnings(policy: Policy, env: Mapping[str, str]) -> list[str]:
    out = []
    for i, k in enumerate(policy.auth.client_keys):
        if k.key_env and not env.get(k.key_env):
            out.append(f"auth.client_keys[{i}] ({k.name}): environment variable {k.key_env} is not set; "
                       "this key is disabled")
    for tier in policy.tiers:
        for b in tier.backends:
            if isinstance(b, LiteLLMBackend) and b.api_key_env and not env.get(b.api_key_env):
                out.append(f"tiers.{tier.name}: backend {b.model!r}: environment variable {b.api_key_env} "
                           "is not set; requests to it will fail")
    for name, e in (policy.embeddings or {}).items():
        if e.api_key_env and not env.get(e.api_key_env):
            out.append(f"embeddings.{name}: environment variable {e.api_key_env} is not set; requests to it "
                       "will fail")
    return out


def _describe(err: Any, raw: dict[str, Any]) -> str:
    """A pydantic error as ``field.path: message``, with tier names where they help."""
    parts: list[str] = []
    node: Any = raw
    loc = list(err.get("loc", ()))
    for i, seg in enumerate(loc):
        if isinstance(seg, int):
            label = f"[{seg}]"
            if isinstance(node, list) and seg < len(node):
                node = node[seg]
                if isinstance(node, dict) and isinstance(node.get("name"), str) and loc[i - 1] == "tiers":
                    label += f" ({node['name']})"
            parts.append(label)
            continue
        if seg in ("sglang", "litellm") and i >= 2 and loc[i - 2] == "backends":
            continue  # pydantic's discriminated-union tag adds nothing for the reader
        parts.append(("." if parts else "") + str(seg))
        node = node.get(seg) if isinstance(node, dict) else None
    where = "".join(parts) or "(top level)"
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {msg}"


@dataclass
class PolicyStatus:
    path: str
    digest: str | None = None
    loaded_at: float | None = None
    reloads: int = 0
    last_error: str | None = None
    last_error_at: float | None = None


class PolicyWatcher:
    """Re-loads the policy file when it changes and hands each valid version to ``on_load``."""

    def __init__(self, path: str | Path, current: LoadedPolicy, on_load: Callable[[LoadedPolicy], None],
                 *, interval_s: float = 1.0, guard: Callable[[LoadedPolicy], str | None] | None = None) -> None:
        self._path = Path(path)
        self._on_load = on_load
        self._guard = guard  # why a valid policy must not be swapped in, or None
        self._interval = interval_s
        self._stat = self._stat_key()
        self.status = PolicyStatus(str(self._path), current.digest, current.loaded_at)

    def _stat_key(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.check()

    async def check(self) -> bool:
        """Reload if the file changed; True when a new policy was swapped in."""
        key = self._stat_key()
        if key == self._stat:
            return False
        self._stat = key
        try:
            loaded = await asyncio.to_thread(load_policy, self._path)
        except PolicyError as e:
            return self._reject(e)
        if loaded.digest == self.status.digest:
            self.status.last_error = None
            return False
        refused = self._guard(loaded) if self._guard is not None else None
        if refused is not None:
            return self._reject(PolicyError(str(self._path), [refused]))
        self._on_load(loaded)
        self.status.digest = loaded.digest
        self.status.loaded_at = loaded.loaded_at
        self.status.reloads += 1
        self.status.last_error = None
        self.status.last_error_at = None
        log.info("policy reloaded", extra={"path": str(self._path), "digest": loaded.digest,
                                           "warnings": list(loaded.warnings)})
        return True

    def _reject(self, e: PolicyError) -> bool:
        self.status.last_error = str(e)
        self.status.last_error_at = time.time()
        log.error("policy reload rejected; the previous policy keeps serving",
                  extra={"path": str(self._path), "problems": e.problems})
        return False
