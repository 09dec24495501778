"""Promoted models shared through Redis, for proxies on hosts that share no disk with the learner.

Keys (``prefix`` defaults to ``tierroute:learn:``, the learning keys' prefix):

* ``<prefix>model:current``: the promoted version (the registry's ``CURRENT``);
* ``<prefix>model:files:<version>``: a hash of file name → bytes, the version's files and its
  ``meta.json``. Written once per version (versions are content hashes, so never rewritten).

The learner (and ``tierroute model promote|rollback`` with ``--redis-url``) calls
:func:`publish` after each promotion. A proxy started with ``--redis-url`` and ``--models-dir``
reads the pointer through :class:`RedisModelSource`; a version it does not hold yet is copied
into its local registry directory, its content hash checked against its name before it is
added, then loaded by the model watcher like any other. A Redis that cannot be reached reads as
"no change" (the model serving stays); the watcher logs it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import orjson
import redis
import redis.cluster

from classifiers.registry import META_FILE, Registry, content_version

DEFAULT_PREFIX = "tierroute:learn:"
SyncRedis = redis.Redis | redis.cluster.RedisCluster  # router.redis_connect.sync_client


def publish(client: SyncRedis, registry: Registry, version: str, prefix: str = DEFAULT_PREFIX) -> None:
    """Make ``version`` of ``registry`` the promoted model for every proxy reading ``client``."""
    files_key = f"{prefix}model:files:{version}"
    if not client.exists(files_key):
        directory = registry.path(version)
        client.hset(files_key, mapping={f.name: f.read_bytes() for f in directory.iterdir()
                                        if f.is_file() and not f.name.startswith(".")})
    client.set(f"{prefix}model:current", version)


class RedisModelSource:
    """``current()`` for the model watcher: the pointer in Redis, the files copied in on first sight."""

    def __init__(self, client: SyncRedis | Callable[[], SyncRedis], registry: Registry,
                 prefix: str = DEFAULT_PREFIX) -> None:
        """``client``, or how to make one: then made at the first read (a cluster's client connects when
        made, and a proxy must start while Redis is down)."""
        self._client, self.registry, self.prefix = client, registry, prefix

    @property
    def client(self) -> SyncRedis:
        if not isinstance(self._client, redis.Redis | redis.cluster.RedisCluster):
            self._client = self._client()
        return self._client

    def current(self) -> str | None:
        raw = self.client.get(f"{self.prefix}model:current")
        if not raw:
            return None
        version = raw.decode() if isinstance(raw, bytes) else str(raw)
        try:
            self.registry.path(version)
        except KeyError:
            self._copy_in(version)
        return version

    def _copy_in(self, version: str) -> None:
        files = self.client.hgetall(f"{self.prefix}model:files:{version}")
        if not files:
            raise ValueError(f"version {version} is promoted in Redis but its files are not there")
        with tempfile.TemporaryDirectory() as tmp:
            meta = b"{}"
            for name, value in files.items():
                fname = Path(name.decode() if isinstance(name, bytes) else name).name  # no paths from Redis
                data = value if isinstance(value, bytes) else str(value).encode()
                if fname == META_FILE:
                    meta = data
                else:
                    (Path(tmp) / fname).write_bytes(data)
            if content_version(Path(tmp)) != version:
                raise ValueError(f"the files in Redis for {version} do not hash to {version}")
            parsed = orjson.loads(meta)
            self.registry.add(tmp, parsed if isinstance(parsed, dict) else {})
