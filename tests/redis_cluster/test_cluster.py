"""The proxy on a real Redis Cluster (three primaries, three replicas, ``redis+cluster://``).

Cache-affinity decisions and rate limits are shared by two proxies through the cluster, and a
primary failed over under load (``CLUSTER FAILOVER`` on its replica, then the old primary killed)
fails no client request. The failover is the module's last test: it changes the cluster.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from classifiers.fake import ConstantClassifier
from classifiers.registry import Registry
from fleet.sim import worker
from router.app import create_app
from router.auth import Principal
from router.balance.redis_affinity import RedisAffinity, key_prefix
from router.clock import FakeClock, SystemClock
from router.conversations import MemoryConversations, RedisConversations
from router.learning.labels import Label, open_store
from router.learning.model_share import RedisModelSource, publish
from router.learning.shadow import DailySpend
from router.procs import free_port
from router.redis_cluster import ClusterCalls
from router.redis_connect import async_client, redis_client, sync_client
from router.redis_limits import RedisLimits
from router.settings import Settings
from tests.balance.test_affinity_stores import assert_stores_agree
from tests.balance.test_redis_pipe import CANDS, PARAMS
from tests.classifiers.test_registry import copy_default
from tests.integration.conftest import ADMIN_KEY, FAST
from tests.redis_cluster.load import SYSTEMS, admin_stats, under_load
from tests.redis_cluster.servers import LocalCluster
from tests.support import ServerThread, policy_dict, write_policy

LOAD_KEY, CAPPED_KEY = "sk-load", "sk-capped"
ENV = {"LOAD_KEY": LOAD_KEY, "CAPPED_KEY": CAPPED_KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY}


@dataclass
class Fleet:
    proxies: list[str]
    replicas: list[str]


def start_fleet(stack: ExitStack, policy_dir: Path, redis_url: str, *, replicas: int = 3) -> Fleet:
    """Simulated SGLang replicas of one tier and two proxies on ``redis_url``: cache-aware choice, a key
    with a generous limit (so that every request is admitted through Redis) and one capped at 6 a minute."""
    urls = [stack.enter_context(ServerThread(worker.create_app(worker.WorkerConfig(model="sim", **FAST)))).url
            for _ in range(replicas)]
    pol = policy_dict(small=urls)
    pol["balance"] = {"policy": "cache_aware", "block_chars": 128}
    pol["auth"] = {"client_keys": [{"name": "load", "key_env": "LOAD_KEY", "requests_per_minute": 1_000_000},
                                   {"name": "capped", "key_env": "CAPPED_KEY", "requests_per_minute": 6}]}
    path = write_policy(policy_dir / "policy.yaml", pol)
    proxies = [stack.enter_context(ServerThread(create_app(
        Settings(policy_path=str(path), redis_url=redis_url), classifier=ConstantClassifier(0.1), env=ENV))).url
        for _ in range(2)]
    return Fleet(proxies, urls)


@pytest.fixture(scope="module")
def fleet(local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with ExitStack() as stack:
        yield start_fleet(stack, tmp_path_factory.mktemp("fleet"), local_cluster.url)


def ask(base: str, key: str, system: str, question: str) -> httpx.Response:
    return httpx.post(base + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                      json={"model": "auto", "max_tokens": 4, "messages": [
                          {"role": "system", "content": system}, {"role": "user", "content": question}]})


async def test_a_cluster_that_cannot_be_reached_costs_decisions_not_requests() -> None:
    client = redis_client(f"redis+cluster://127.0.0.1:{free_port()}", timeout_s=0.2)
    affinity = RedisAffinity(client, SystemClock())
    conversations = RedisConversations(client, MemoryConversations(SystemClock()))
    limits = RedisLimits(client, FakeClock())
    try:
        assert await affinity.choose("small", ["b1"], CANDS, "L1", PARAMS) is not None  # decided here
        assert await conversations.get("c1") is None
        assert await limits.admit(Principal("k", None, requests_per_minute=5)) is not None
        seen = affinity.describe()["redis"]
        assert seen["fallbacks_by_store"] == {"affinity": 1, "conversations": 1, "limits": 1}, seen
    finally:
        await affinity.aclose()


def moved_replies(cluster: LocalCluster) -> int:
    return sum(cluster.client(p).info("errorstats").get("errorstat_MOVED", {}).get("count", 0) for p in cluster.procs)


async def test_a_new_clients_first_calls_go_to_their_slots_node(local_cluster: LocalCluster) -> None:
    """redis-py routes a command sent before its first topology read to a random node (MOVED, and every
    fifth MOVED closed all its connections): the calls read the topology first."""
    before = moved_replies(local_cluster)
    client = redis_client(local_cluster.url, timeout_s=1.0)
    try:
        await asyncio.gather(*(client.calls.get(f"first-{i}") for i in range(32)))
    finally:
        client.calls.close()
        await client.aclose()
    assert moved_replies(local_cluster) == before


async def test_redis_pys_cluster_exceptions_are_redis_errors(local_cluster: LocalCluster) -> None:
    """redis-py's RedisClusterException (a slot without a node mid-failover, no node answering, a call it
    cannot route) is not a RedisError; the cluster client the stores and the learning loop use makes it one."""
    client = redis_client(local_cluster.url, timeout_s=1.0)
    try:
        await client.initialize()
        with pytest.raises(RedisConnectionError, match="RedisClusterException"):
            await client.execute_command("OBJECT", "HELP")  # no key to route by
        with pytest.raises(RedisConnectionError, match="CrossSlot"):
            async with client.pipeline(transaction=True) as pipe:
                pipe.set("a", 1).set("b", 2)
                await pipe.execute()
    finally:
        await client.aclose()


async def test_calls_caught_by_the_client_closing_its_connections_fail_as_redis_errors(
        local_cluster: LocalCluster) -> None:
    """redis-py closes all of a cluster client's connections on CLUSTERDOWN or a failed topology read, in-use
    ones included: the calls on them fail as Redis errors (the stores fall back), not as AttributeError. (The
    calls that redis-py sends itself: all of them with TLS, the others when a node's pipe cannot answer.)"""
    client = redis_client(local_cluster.url, timeout_s=1.0)
    calls = ClusterCalls(client, None)
    errors: list[BaseException] = []

    async def one(i: int) -> None:
        try:
            await calls.set(f"closing-{i}", "v", px=10_000)
        except RedisError as e:
            errors.append(e)

    for turns in range(300):  # until some calls were caught (how many is up to the machine's timing)
        tasks = [asyncio.create_task(one(i)) for i in range(32)]
        for _ in range(turns % 6):  # the calls at every stage of connecting and sending
            await asyncio.sleep(0)
        await client.aclose()
        await asyncio.gather(*tasks)  # an AttributeError or RuntimeError would fail the test here
        if len(errors) >= 3 and turns >= 30:
            break
    assert errors and all(isinstance(e, RedisConnectionError | RedisTimeoutError) for e in errors), errors[:3]


async def test_the_stores_decide_on_the_cluster_as_in_memory(local_cluster: LocalCluster) -> None:
    client = redis_client(local_cluster.url, timeout_s=1.0)
    store = RedisAffinity(client, SystemClock())
    try:
        await assert_stores_agree(store, f"test-{uuid.uuid4().hex[:8]}")
    finally:
        await store.aclose()


async def test_the_learning_stores_work_on_the_cluster(local_cluster: LocalCluster, tmp_path: Path) -> None:
    """Labels (a stream and its counts: two slots, no MULTI across them), the shadow spend (a MULTI on one
    key) and the promoted model's pointer, through the clients the learning loop builds from the URL."""
    prefix = f"test-learn-{uuid.uuid4().hex[:8]}:"
    store = open_store(redis_url=local_cluster.url, prefix=prefix)
    try:
        for target in (0.2, 0.9):
            await store.add(Label.new("feedback", target))
        assert [label.target for label in await store.read()] == [0.2, 0.9]
        assert (await store.counts())["feedback"] == 2 and await store.size() == 2
    finally:
        await store.aclose()
    client = async_client(local_cluster.url, socket_timeout=2, socket_connect_timeout=2)
    spend = DailySpend(client, prefix, today=lambda: "2026-11-30")
    await spend.add(0.25)
    await spend.add(0.5)
    assert await DailySpend(client, prefix, today=lambda: "2026-11-30").today() == 0.75  # what another proxy reads
    await client.aclose()
    learner = Registry(tmp_path / "learner")
    version = learner.add(copy_default(tmp_path / "model"))
    publish(sync_client(local_cluster.url, socket_timeout=5, socket_connect_timeout=2), learner, version, prefix)
    proxy_side = Registry(tmp_path / "proxy")
    source = RedisModelSource(lambda: sync_client(local_cluster.url, socket_timeout=5, socket_connect_timeout=2),
                              proxy_side, prefix)
    assert source.current() == version and proxy_side.path(version).is_dir()


def test_two_proxies_send_a_prefix_to_one_replica_through_the_cluster(fleet: Fleet,
                                                                      local_cluster: LocalCluster) -> None:
    chosen: dict[int, set[str]] = {g: set() for g in range(len(SYSTEMS))}
    for i in range(12):  # round-robin over the proxies, as a load balancer in front would
        r = ask(fleet.proxies[i % 2], LOAD_KEY, SYSTEMS[i % 3], f"question {i}")
        assert r.status_code == 200, r.text
        chosen[i % 3].add(r.headers["x-tierroute-replica"])
    assert all(len(replicas) == 1 for replicas in chosen.values()), chosen  # the other proxy followed
    assert len(set.union(*chosen.values())) > 1  # new prefixes were spread
    for base in fleet.proxies:
        store = admin_stats(base)["affinity"]["store"]
        assert store["store"] == "redis" and store["redis"]["errors"] == 0 and store["local_decisions"] == 0, store
    primary = local_cluster.client(local_cluster.primary_for(key_prefix("small")))
    assert primary.keys(key_prefix("small") + "lru:*")  # the tier's state is on the primary of its slot


def test_two_proxies_share_a_rate_limit_on_the_cluster(fleet: Fleet) -> None:
    codes = [ask(fleet.proxies[i % 2], CAPPED_KEY, "Be brief.", f"q{i}").status_code for i in range(9)]
    assert codes.count(200) == 6 and codes[6:] == [429] * 3, codes  # 6 a minute in all, not 6 per proxy
    limits = admin_stats(fleet.proxies[0])["limits"]
    assert limits["source"] == "redis" and limits["keys"]["capped"]["requests_available"] < 1, limits


def test_a_primary_failed_over_under_load_fails_no_request(fleet: Fleet, local_cluster: LocalCluster) -> None:
    primary = local_cluster.primary_for(key_prefix("small"))  # holds the tier's affinity keys
    replica = local_cluster.replica_of(primary)

    async def failover() -> None:
        await asyncio.to_thread(local_cluster.client(replica).execute_command, "CLUSTER", "FAILOVER")
        while (await asyncio.to_thread(local_cluster.client(replica).info, "replication"))["role"] != "master":
            await asyncio.sleep(0.01)
        local_cluster.kill(primary)

    res = asyncio.run(under_load(fleet.proxies, LOAD_KEY, failover, after_s=2.5))
    res.check("cluster failover (CLUSTER FAILOVER, old primary killed)")
    assert all(s["affinity"]["store"]["state"] == "closed" for s in res.stats)
    promoted = local_cluster.client(replica).info("commandstats")
    assert promoted["cmdstat_evalsha"]["calls"] > 0  # the new primary is the one deciding


@pytest.mark.parametrize("raised, expected", [
    (AttributeError("'NoneType' object has no attribute 'writelines'"), RedisConnectionError),
    (RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is closed"),
     RedisConnectionError),
    (RuntimeError("something else went wrong"), RuntimeError),
])
async def test_a_write_on_a_connection_closed_under_it_is_a_connection_error(raised: Exception,
                                                                              expected: type) -> None:
    """What redis-py's cluster client raises there (asyncio: AttributeError; uvloop: RuntimeError) is a Redis
    connection error for the stores; any other RuntimeError is left as it is."""
    class Closed:
        _initialize = False

        async def execute_command(self, *args: object) -> None:
            raise raised

    with pytest.raises(expected):
        await ClusterCalls(Closed(), None).call("SET", "k", "v")  # type: ignore[arg-type]
