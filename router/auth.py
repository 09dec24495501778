"""Bearer keys → principals (which tiers a caller may use, how fast), and the admin key.

Keys come from the policy (``auth.client_keys``: an env var name or a sha256 of the key) and
from ``TIERROUTE_API_KEYS`` (comma-separated, every tier). Only SHA-256 digests are kept; a
presented key is hashed and compared with every known digest by ``hmac.compare_digest`` (no
early exit), so timing reveals nothing about which key nearly matched. Keys never reach logs
or error messages. With no client keys configured the proxy is "local": every caller is the
anonymous principal, and the server binds 127.0.0.1 only (see :mod:`router.serve_cli`). A policy reload
that would widen access (:func:`widened`) is refused, so that rule cannot be undone while serving.

A principal carries its key's limits (requests and tokens per minute, a spend budget); they are
enforced by :mod:`router.limits`, shared among proxies through Redis when there is one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import Unauthorized
from .policy.model import Budget, Policy

ENV_CLIENT_KEYS = "TIERROUTE_API_KEYS"
ENV_ADMIN_KEY = "TIERROUTE_ADMIN_KEY"


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    tiers: frozenset[str] | None  # None = every tier
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    budget: Budget | None = None

    @property
    def limited(self) -> bool:
        return self.requests_per_minute is not None or self.tokens_per_minute is not None or self.budget is not None


ANONYMOUS = Principal("anonymous", None)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def bearer(headers: Mapping[str, str]) -> str | None:
    """The key from ``Authorization: Bearer …`` or Anthropic's ``x-api-key``."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = headers.get("x-api-key")
    return key.strip() if key else None


class KeyRing:
    def __init__(self, policy: Policy, env: Mapping[str, str]) -> None:
        entries: list[tuple[bytes, Principal]] = []
        for k in policy.auth.client_keys:
            tiers = frozenset(k.tiers) if k.tiers is not None else None
            p = Principal(k.name, tiers, k.requests_per_minute, k.tokens_per_minute, k.budget)
            if k.key_sha256:
                entries.append((bytes.fromhex(k.key_sha256), p))
            elif k.key_env and env.get(k.key_env):
                entries.append((_digest(env[k.key_env]), p))
        for i, key in enumerate(x.strip() for x in env.get(ENV_CLIENT_KEYS, "").split(",")):
            if key:
                entries.append((_digest(key), Principal(f"env-key-{i}", None)))
        self._entries = entries
        self.has_client_keys = bool(entries) or bool(policy.auth.client_keys)
        admin = env.get(policy.auth.admin_key_env) or env.get(ENV_ADMIN_KEY)
        self._admin = _digest(admin) if admin else None
        self.metrics_admin_only = policy.auth.metrics_admin_only

    def principals(self) -> list[Principal]:
        """Every known principal, once each (for ``/admin/stats`` limits)."""
        return list({p.name: p for _, p in self._entries}.values())

    @property
    def admin_configured(self) -> bool:
        return self._admin is not None

    def client(self, presented: str | None) -> Principal:
        if not self.has_client_keys:
            return ANONYMOUS
        if not presented:
            raise Unauthorized("Missing API key: send `Authorization: Bearer <key>`.")
        d = _digest(presented)
        found: Principal | None = None
        for digest, principal in self._entries:
            if hmac.compare_digest(d, digest) and found is None:
                found = principal
        if found is None:
            raise Unauthorized("Incorrect API key provided.")
        return found

    def admin(self, presented: str | None) -> None:
        """Admin endpoints: the admin key; without one, only a local (keyless) proxy is open."""
        if self._admin is None:
            if self.has_client_keys:
                raise Unauthorized(f"Admin endpoints are disabled: set {ENV_ADMIN_KEY} to enable them.")
            return
        if not presented or not hmac.compare_digest(_digest(presented), self._admin):
            raise Unauthorized("Admin endpoints need the admin key (Authorization: Bearer <admin key>).")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def widened(old: KeyRing, new: KeyRing, *, exposed: bool) -> str | None:
    """Why swapping ``old`` for ``new`` would open the proxy wider, or None when it would not.

    A reload is refused (like an invalid file) when it would leave no client key on a proxy bound
    beyond loopback (the "no key, loopback only" rule is applied at start only), drop the admin key,
    or open ``/metrics`` that required it. Keys that change, appear or gain tiers are fine."""
    if exposed and old.has_client_keys and not new.has_client_keys:
        return ("the new policy leaves no client API key while the proxy listens beyond loopback: every caller "
                "would be anonymous (restart with keys in TIERROUTE_API_KEYS, or bind 127.0.0.1, to allow it)")
    if old.admin_configured and not new.admin_configured:
        return ("the new policy leaves no admin key (its auth.admin_key_env is not set in the environment): "
                "the admin endpoints would change hands")
    if old.metrics_admin_only and not new.metrics_admin_only:
        return "the new policy opens /metrics (auth.metrics_admin_only was true): restart to open it"
    return None
