"""Hot reload: valid changes swap in, invalid ones are rejected and reported, symlink swaps are seen."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from router.policy.loader import LoadedPolicy, PolicyWatcher, load_policy
from tests.support import policy_dict, write_policy


def _policy(**kw) -> dict:
    return policy_dict(small=["http://127.0.0.1:1"], large=["http://127.0.0.1:2"], **kw)


def _bump(path: Path) -> None:
    st = path.stat()  # make sure the mtime moves even on coarse filesystems
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


async def test_valid_change_swaps_in(tmp_path: Path) -> None:
    path = write_policy(tmp_path / "p.yaml", _policy())
    seen: list[LoadedPolicy] = []
    w = PolicyWatcher(path, load_policy(path), seen.append, interval_s=0.01)
    assert await w.check() is False  # nothing changed
    pol = _policy()
    pol["routing"]["auto"][0]["below"] = 0.3
    write_policy(path, pol)
    _bump(path)
    assert await w.check() is True
    assert seen[-1].policy.routing.auto[0].below == 0.3
    assert w.status.reloads == 1 and w.status.last_error is None


async def test_invalid_change_keeps_old_policy_and_reports(tmp_path: Path) -> None:
    path = write_policy(tmp_path / "p.yaml", _policy())
    seen: list[LoadedPolicy] = []
    w = PolicyWatcher(path, load_policy(path), seen.append, interval_s=0.01)
    bad = _policy()
    bad["routing"]["auto"][0]["tier"] = "nope"
    write_policy(path, bad)
    _bump(path)
    assert await w.check() is False
    assert seen == []
    assert w.status.last_error is not None and "routing.auto[0].tier: unknown tier 'nope'" in w.status.last_error
    path.write_text("tiers: [")  # not even YAML
    _bump(path)
    assert await w.check() is False and "not valid YAML" in (w.status.last_error or "")
    write_policy(path, _policy(allow_tier_header=False))  # fixed: swapped in, error cleared
    _bump(path)
    assert await w.check() is True
    assert seen[-1].policy.routing.allow_tier_header is False and w.status.last_error is None


async def test_configmap_style_symlink_swap(tmp_path: Path) -> None:
    """Kubernetes updates a mounted ConfigMap by re-pointing a symlink; the watcher must see it."""
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    write_policy(tmp_path / "v1" / "p.yaml", _policy())
    pol = _policy()
    pol["tiers"][0]["context_tokens"] = 1234
    write_policy(tmp_path / "v2" / "p.yaml", pol)
    link = tmp_path / "p.yaml"
    link.symlink_to(tmp_path / "v1" / "p.yaml")
    seen: list[LoadedPolicy] = []
    w = PolicyWatcher(link, load_policy(link), seen.append, interval_s=0.01)
    tmp = tmp_path / "p.tmp"
    tmp.symlink_to(tmp_path / "v2" / "p.yaml")
    os.replace(tmp, link)
    assert await w.check() is True
    assert seen[-1].policy.tiers[0].context_tokens == 1234


async def test_same_content_is_not_a_reload(tmp_path: Path) -> None:
    path = write_policy(tmp_path / "p.yaml", _policy())
    seen: list[LoadedPolicy] = []
    w = PolicyWatcher(path, load_policy(path), seen.append, interval_s=0.01)
    path.write_text(path.read_text())
    _bump(path)
    assert await w.check() is False and seen == []
    assert yaml.safe_load(path.read_text())["version"] == 1
