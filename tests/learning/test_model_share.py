"""Models shared through Redis: published once, copied in on first sight, refused when tampered with."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from classifiers.registry import Registry
from router.learning.model_share import RedisModelSource, publish
from tests.classifiers.test_registry import copy_default
from tests.conftest import RedisServer


def test_publish_then_copy_in_on_another_host(tmp_path: Path, private_redis: RedisServer) -> None:
    client = redis.Redis.from_url(private_redis.url)
    learner = Registry(tmp_path / "learner")
    v1 = learner.add(copy_default(tmp_path / "a"), {"evaluation": {"challenger_apgr": 0.6}})
    proxy_side = Registry(tmp_path / "proxy")
    source = RedisModelSource(client, proxy_side)
    assert source.current() is None
    publish(client, learner, v1)
    assert source.current() == v1
    assert proxy_side.path(v1).is_dir() and proxy_side.info(v1).meta["evaluation"]["challenger_apgr"] == 0.6
    assert (proxy_side.path(v1) / "model.json").read_bytes() == (learner.path(v1) / "model.json").read_bytes()


def test_files_that_do_not_hash_to_their_version_are_refused(tmp_path: Path, private_redis: RedisServer) -> None:
    client = redis.Redis.from_url(private_redis.url)
    learner = Registry(tmp_path / "learner")
    v1 = learner.add(copy_default(tmp_path / "a"))
    publish(client, learner, v1)
    client.hset(f"tierroute:learn:model:files:{v1}", "model.json", b'{"format": "evil"}')
    proxy_side = Registry(tmp_path / "proxy")
    with pytest.raises(ValueError, match="do not hash"):
        RedisModelSource(client, proxy_side).current()
    assert proxy_side.versions() == []
