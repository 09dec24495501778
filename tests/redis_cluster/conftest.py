"""The Redis Cluster and the Sentinel setup of this directory's tests, one of each per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis_cluster.servers import LocalCluster, LocalSentinel


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def local_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSentinel]:
    with LocalSentinel(tmp_path_factory.mktemp("sentinel")) as servers:
        yield servers
