"""Real Redis topologies on loopback: a Redis Cluster (three primaries, three replicas) and a Sentinel setup
(for the tests in this directory and ``bench/redis_modes.py``).

Every server is a ``redis-server`` process on free ports in a temporary directory, without
persistence; a test may fail one over or kill it. The cluster is created with ``redis-cli --cluster
create`` as an operator would.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import redis
from redis.crc import key_slot

CLUSTER_NODES = 6
BUS_OFFSET = 10000  # a cluster node's bus listens on its port + 10000


def _can_bind(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def cluster_ports(n: int) -> list[int]:
    """``n`` free ports whose bus ports (+10000) are free too."""
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + BUS_OFFSET < 65536 and port not in ports and _can_bind(port + BUS_OFFSET):
            ports.append(port)
    return ports


def wait_for(what: str, ok: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if ok():
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what}: not within {timeout_s} s")


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"{name} is not installed (make test installs Debian's redis-server, which has it)")
    return path


def make_certificates(where: Path) -> Path:
    """A CA and a server certificate for 127.0.0.1 signed by it (``ca.crt``, ``server.crt``, ``server.key``)."""
    where.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    (where / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for cmd in (["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=test-ca"],
                ["req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
                ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", "server.crt", "-days", "2", "-extfile", "san.ext"]):
        subprocess.run([_binary("openssl"), *cmd], cwd=where, check=True, capture_output=True, timeout=30)
    return where


class Servers:
    """redis-server processes by port; killed at the end. With ``tls`` (a directory of
    :func:`make_certificates`) they speak TLS only, to clients, replicas and the cluster bus."""

    def __init__(self, workdir: Path, *, tls: Path | None = None) -> None:
        self.workdir = workdir
        self.tls = tls
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, port: int, *args: str) -> None:
        d = self.workdir / str(port)
        d.mkdir(parents=True, exist_ok=True)
        listen = ["--port", str(port)] if self.tls is None else [
            "--port", "0", "--tls-port", str(port), "--tls-cert-file", str(self.tls / "server.crt"),
            "--tls-key-file", str(self.tls / "server.key"), "--tls-ca-cert-file", str(self.tls / "ca.crt"),
            "--tls-auth-clients", "no", "--tls-replication", "yes", "--tls-cluster", "yes"]
        self.procs[port] = subprocess.Popen(
            [_binary("redis-server"), *args, *listen, "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--repl-diskless-sync-delay", "0", "--dir", str(d), "--logfile", str(d / "log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def client(self, port: int) -> redis.Redis:
        tls: dict[str, Any] = {} if self.tls is None else {"ssl": True, "ssl_ca_certs": str(self.tls / "ca.crt")}
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, socket_connect_timeout=1, **tls)

    def tls_query(self) -> str:
        return "" if self.tls is None else f"?ssl_ca_certs={self.tls / 'ca.crt'}"

    def kill(self, port: int) -> None:
        proc = self.procs.pop(port)
        proc.kill()
        proc.wait()

    def stop(self) -> None:
        for port in list(self.procs):
            self.kill(port)

    def start_all(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start_all()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalCluster(Servers):
    """Three primaries and three replicas, ``redis-cli --cluster create … --cluster-replicas 1``."""

    def __init__(self, workdir: Path, *, tls: Path | None = None) -> None:
        super().__init__(workdir, tls=tls)
        self.ports = cluster_ports(CLUSTER_NODES)

    @property
    def url(self) -> str:
        scheme = "rediss+cluster" if self.tls else "redis+cluster"
        return f"{scheme}://" + ",".join(f"127.0.0.1:{p}" for p in self.ports[:2]) + self.tls_query()

    def start_all(self) -> None:
        for port in self.ports:
            self.start(port, "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                       "--cluster-node-timeout", "2000")
        for port in self.ports:
            wait_for(f"redis-server :{port}", self.client(port).ping, 10)
        tls = [] if self.tls is None else ["--tls", "--cacert", str(self.tls / "ca.crt")]
        subprocess.run([_binary("redis-cli"), *tls, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                        "--cluster-replicas", "1", "--cluster-yes"], check=True, capture_output=True, timeout=60)
        wait_for("cluster_state:ok on every node", self.consistent, 30)
        wait_for("every replica in sync", lambda: all(
            self.client(p).info("replication").get("master_link_status", "up") == "up" for p in self.procs), 30)

    def consistent(self) -> bool:
        """Every live node says the cluster is ok and agrees on which node serves each slot."""
        views = set()
        for port in self.procs:
            c = self.client(port)
            if c.cluster("INFO").get("cluster_state") != "ok":  # type: ignore[union-attr]
                return False
            views.add(tuple(sorted((s[0], s[2][1]) for s in c.execute_command("CLUSTER", "SLOTS"))))
        return len(views) == 1

    def primary_for(self, key: str) -> int:
        slot = key_slot(key.encode())
        for start, end, primary, *_ in self.client(next(iter(self.procs))).execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(primary[1])
        raise LookupError(slot)

    def replica_of(self, primary: int) -> int:
        node_id = self.client(primary).execute_command("CLUSTER", "MYID").decode()
        for port in self.procs:
            if port != primary and self._master_id(port) == node_id:
                return port
        raise LookupError(primary)

    def _master_id(self, port: int) -> str:
        for line in self.client(port).execute_command("CLUSTER", "NODES").decode().splitlines():
            fields = line.split()
            if "myself" in fields[2]:
                return fields[3]
        return "-"


class LocalSentinel(Servers):
    """A primary, its replica and one Sentinel watching them as ``mymaster``."""

    SERVICE = "mymaster"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.primary, self.replica, self.sentinel = cluster_ports(3)

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel}/{self.SERVICE}"

    def start_all(self) -> None:
        self.start(self.primary)
        self.start(self.replica, "--replicaof", "127.0.0.1", str(self.primary))
        wait_for("the replica in sync", lambda: self.client(self.replica).info("replication")
                 ["master_link_status"] == "up", 20)
        conf = self.workdir / "sentinel.conf"
        conf.write_text(f"sentinel monitor {self.SERVICE} 127.0.0.1 {self.primary} 1\n"
                        f"sentinel down-after-milliseconds {self.SERVICE} 1000\n"
                        f"sentinel failover-timeout {self.SERVICE} 10000\n")
        self.procs[self.sentinel] = subprocess.Popen(
            [_binary("redis-server"), str(conf), "--sentinel", "--port", str(self.sentinel), "--bind", "127.0.0.1",
             "--dir", str(self.workdir), "--logfile", str(self.workdir / "sentinel.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("the Sentinel sees the replica", lambda: len(self.client(self.sentinel).execute_command(
            "SENTINEL", "REPLICAS", self.SERVICE)) == 1, 20)

    def current_primary(self) -> int:
        _, port = self.client(self.sentinel).execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.SERVICE)
        return int(port)
