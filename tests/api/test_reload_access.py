"""A reload never opens the proxy (issue 10, point 3): the "no key → loopback only" rule, the admin key
and a protected /metrics hold across reloads; a refused reload is reported like an invalid file."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from classifiers.fake import ConstantClassifier
from router.app import create_app
from router.auth import KeyRing, widened
from router.policy.loader import parse_policy
from router.settings import Settings
from tests.support import ServerThread, policy_dict, write_policy

KEY = "sk-only-key"
ADMIN = "sk-admin"
MSG = {"model": "small", "messages": [{"role": "user", "content": "hi"}]}


def _policy(*, keys: list[dict[str, Any]] | None = None, **auth: Any) -> dict[str, Any]:
    pol = policy_dict(small=["http://127.0.0.1:9"])
    default = [{"name": "only", "key_sha256": hashlib.sha256(KEY.encode()).hexdigest()}]
    pol["auth"] = {"client_keys": default if keys is None else keys, "admin_key_env": "OPS_ADMIN_KEY", **auth}
    return pol


@contextmanager
def _proxy(tmp_path: Path, pol: dict[str, Any], host: str = "0.0.0.0") -> Iterator[tuple[str, Path]]:
    """A proxy that believes it listens on ``host`` (it serves on loopback for the test)."""
    path = write_policy(tmp_path / "policy.yaml", pol)
    app = create_app(Settings(policy_path=str(path), host=host, reload_interval_s=0.05),
                     classifier=ConstantClassifier(0.1), env={"OPS_ADMIN_KEY": ADMIN})
    with ServerThread(app) as server:
        yield server.url, path


def _admin(url: str, path: str) -> httpx.Response:
    return httpx.get(url + path, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)


def _reloaded(url: str, pol: dict[str, Any], path: Path, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    before = _admin(url, "/admin/policy").json()
    write_policy(path.with_suffix(".new"), pol).replace(path)  # atomic: the watcher never reads half a file
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        doc = _admin(url, "/admin/policy").json()
        if done(doc) and (doc["digest"] != before["digest"] or doc["last_error"]):
            return doc
        time.sleep(0.05)
    raise AssertionError("the reload was not seen")


def test_removing_the_last_key_on_a_public_bind_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="tierroute.policy")
    with _proxy(tmp_path, _policy()) as (url, path):
        assert httpx.post(url + "/v1/chat/completions", json=MSG, timeout=10).status_code == 401
        doc = _reloaded(url, _policy(keys=[]), path, lambda d: d["last_error"] is not None)
        assert "no client API key" in doc["last_error"] and doc["reloads"] == 0
        assert httpx.post(url + "/v1/chat/completions", json=MSG, timeout=10).status_code == 401  # still closed
        assert httpx.get(url + "/admin/stats", timeout=10).status_code == 401
        assert httpx.get(url + "/v1/models", timeout=10).status_code == 401
    assert any("no client API key" in str(getattr(r, "problems", "")) for r in caplog.records)


def test_removing_the_admin_key_is_refused(tmp_path: Path) -> None:
    with _proxy(tmp_path, _policy()) as (url, path):
        pol = _policy()
        pol["auth"]["admin_key_env"] = "UNSET_ADMIN_KEY"
        doc = _reloaded(url, pol, path, lambda d: d["last_error"] is not None)
        assert "no admin key" in doc["last_error"]
        assert _admin(url, "/admin/stats").status_code == 200  # the old admin key still rules


def test_a_key_gaining_tiers_is_a_normal_reload(tmp_path: Path) -> None:
    narrow = [{"name": "only", "key_sha256": hashlib.sha256(KEY.encode()).hexdigest(), "tiers": ["small"]}]
    pol = {**policy_dict(small=["http://127.0.0.1:9"], large=["http://127.0.0.1:10"]),
           "auth": {"client_keys": narrow, "admin_key_env": "OPS_ADMIN_KEY"}}
    with _proxy(tmp_path, pol) as (url, path):
        pol["auth"]["client_keys"][0]["tiers"] = ["small", "large"]
        doc = _reloaded(url, pol, path, lambda d: d["reloads"] == 1)
        assert doc["last_error"] is None


def test_metrics_can_require_the_admin_key_and_a_reload_cannot_open_it(tmp_path: Path) -> None:
    with _proxy(tmp_path, _policy(metrics_admin_only=True)) as (url, path):
        assert httpx.get(url + "/metrics", timeout=10).status_code == 401
        assert httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).status_code == 401
        assert "tierroute_requests_total" in _admin(url, "/metrics").text
        doc = _reloaded(url, _policy(metrics_admin_only=False), path, lambda d: d["last_error"] is not None)
        assert "/metrics" in doc["last_error"]
        assert httpx.get(url + "/metrics", timeout=10).status_code == 401
    with _proxy(tmp_path, _policy()) as (url, _):
        assert httpx.get(url + "/metrics", timeout=10).status_code == 200  # open by default, for scrapers


def _ring(pol: dict[str, Any], env: dict[str, str] | None = None) -> KeyRing:
    return KeyRing(parse_policy(yaml.safe_dump(pol), env={}).policy, {"OPS_ADMIN_KEY": ADMIN} if env is None else env)


def test_widened_rules() -> None:
    keyed, keyless = _ring(_policy()), _ring(_policy(keys=[]))
    assert widened(keyed, keyless, exposed=True) is not None
    assert widened(keyed, keyless, exposed=False) is None  # a loopback proxy may become a local one
    assert widened(keyless, keyed, exposed=True) is None  # adding keys narrows
    env_keys = {"OPS_ADMIN_KEY": ADMIN, "TIERROUTE_API_KEYS": "sk-env"}
    assert widened(_ring(_policy(), env_keys), _ring(_policy(keys=[]), env_keys), exposed=True) is None  # env keys stay
    assert widened(keyed, _ring(_policy(), env={}), exposed=False) is not None  # the admin key goes
    assert widened(_ring(_policy(), env={}), keyed, exposed=False) is None  # an admin key appears
