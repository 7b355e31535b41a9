"""A private Redis Cluster for the test suite: N primaries (and R replicas of each) from the
redis-server on PATH, on free ports on 127.0.0.1, each node in its own directory under one
temporary directory, created with `redis-cli --cluster create`.

Like `RedisServer`, it never touches a Redis that was already running. Nodes can be killed
(SIGKILL) and restarted on the same port, so tests can fail a primary over to its replica
the way production does; every wait polls with a deadline and says what it was waiting for.

With `tls` (tests/support/tls.py) every node speaks TLS only, to clients, to its replicas and
on the cluster bus (`tls-cluster`, `tls-replication`); the nodes announce their TLS ports, the
cluster is created with `redis-cli --tls --cacert …`, and `url`, `client()` and the harness's
own checks verify the nodes against the test CA.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import redis
import redis.cluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support.redis_server import RedisServer, free_port

if TYPE_CHECKING:  # only TLS clusters need the certificates (and trustme)
    from tests.support.tls import TlsFiles

HASH_SLOTS = 16384
HOST = "127.0.0.1"
# A primary with no replica cannot fail over: a short node timeout would only turn a slow
# moment of a busy CI machine into CLUSTERDOWN. With replicas it bounds the failover time.
NODE_TIMEOUT_MS_WITHOUT_REPLICAS = 5000
NODE_TIMEOUT_MS_WITH_REPLICAS = 1000
START_ATTEMPTS = 3  # a free port can be taken by another process before redis-server binds it


@dataclass(frozen=True)
class LocalNode:
    """One running node of a LocalCluster, as it sees itself."""

    port: int
    node_id: str
    role: str  # "primary" or "replica"
    primary_id: str | None  # a replica's primary
    slots: tuple[tuple[int, int], ...]  # a primary's slot ranges, both ends included
    tls_query: str | None = None  # a TLS node: the rediss:// URL's query that trusts the test CA

    @property
    def url(self) -> str:
        if self.tls_query is not None:
            return f"rediss://{HOST}:{self.port}?{self.tls_query}"
        return f"redis://{HOST}:{self.port}"

    @property
    def is_primary(self) -> bool:
        return self.role == "primary"

    def serves(self, slot: int) -> bool:
        return any(first <= slot <= last for first, last in self.slots)


class ClusterNodeServer(RedisServer):
    """A redis-server started in cluster mode, its cluster bus on a port of its own."""

    def __init__(
        self, *, port: int, directory: Path, node_timeout_ms: int, persistent: bool, tls: TlsFiles | None = None
    ) -> None:
        super().__init__(port=port, directory=directory, persistent=persistent, tls=tls)
        # Set explicitly: the default bus port (port + 10000) is past 65535 for half the free ports.
        self.bus_port = free_port()
        while self.bus_port == self.port:
            self.bus_port = free_port()
        self.node_timeout_ms = node_timeout_ms

    def command(self) -> list[str]:
        return [
            *super().command(),
            "--cluster-enabled", "yes",
            "--cluster-port", str(self.bus_port),
            "--cluster-config-file", f"nodes-{self.port}.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            # A replica whose link has been down longer than some multiple of the timeout would
            # refuse to take over; in tests every replica may.
            "--cluster-replica-validity-factor", "0",
            # On SIGTERM (RedisServer.stop) a Redis 7 primary would wait up to 10 s for lagging replicas.
            "--shutdown-timeout", "0",
            # A primary waits 5 s by default before a diskless full sync, for more replicas to join it.
            "--repl-diskless-sync-delay", "0",
            *self.tls_cluster_arguments(),
        ]  # fmt: skip

    def tls_cluster_arguments(self) -> list[str]:
        """With TLS: TLS on the bus and to replicas too (the node then announces its TLS port)."""
        return [] if self.tls is None else ["--tls-cluster", "yes", "--tls-replication", "yes"]

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        log = self.directory / "redis.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def lost_its_port(self) -> bool:
        return "in use" in self.log_text()

    def wait_ready(self, timeout: float = 10.0) -> None:
        # Whoever took the port may answer RedisServer's ping, or hang it through redis-py's
        # retries; that this process gave up shows sooner in its own log and exit.
        deadline = time.monotonic() + timeout
        while "Ready to accept connections" not in self.log_text():
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.process.returncode}; see {self.directory}/redis.log"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} was not ready within {timeout} s")
            time.sleep(0.02)
        super().wait_ready(timeout=timeout)


class LocalCluster:
    """A real Redis Cluster on loopback: `start()`, use, `stop()` (or use it as a context manager)."""

    def __init__(
        self,
        *,
        primaries: int = 3,
        replicas: int = 0,
        node_timeout_ms: int | None = None,
        persistent: bool = True,
        tls: TlsFiles | None = None,
    ) -> None:
        if primaries < 3:
            raise ValueError("redis-cli --cluster create needs at least 3 primaries")
        self.primary_count = primaries
        self.replicas_per_primary = replicas
        self.node_timeout_ms = node_timeout_ms or (
            NODE_TIMEOUT_MS_WITH_REPLICAS if replicas else NODE_TIMEOUT_MS_WITHOUT_REPLICAS
        )
        self.persistent = persistent
        self.tls = tls
        self.directory = Path(tempfile.mkdtemp(prefix="weatherstreams-cluster-"))
        self._servers: dict[int, ClusterNodeServer] = {}
        self._node_ids: dict[int, str] = {}
        self._replicas_at_kill: dict[int, list[int]] = {}
        self._admins: dict[int, redis.Redis] = {}
        self._spawned: list[ClusterNodeServer] = []  # every process started, for stop()

    # --- life cycle ---------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> LocalCluster:
        """Start every node, create the cluster and return once it is healthy (`wait_healthy`)."""
        try:
            self._start_nodes(self.primary_count * (1 + self.replicas_per_primary))
            self.create()
            self.wait_healthy(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Kill every node still running and remove the temporary directory; safe to call twice."""
        for admin in self._admins.values():
            admin.close()
        self._admins.clear()
        # SIGKILL, not SIGTERM: the data goes with the directory, and Redis 7.0 drops a SIGTERM
        # that comes while a replica writes its first AOF after a full sync ("can't exit").
        for server in self._spawned:
            server.kill()
        shutil.rmtree(self.directory, ignore_errors=True)

    def create(self) -> None:
        """Join the started nodes into one cluster with `redis-cli --cluster create`."""
        binary = shutil.which("redis-cli")
        if binary is None:
            raise RuntimeError("redis-cli is not on PATH (Debian/Ubuntu: apt-get install redis-tools).")
        addresses = [f"{HOST}:{port}" for port in self._servers]
        command = [binary, *self.cli_tls_arguments(), "--cluster", "create", *addresses]
        command += ["--cluster-replicas", str(self.replicas_per_primary), "--cluster-yes"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        output = result.stdout + result.stderr
        (self.directory / "cluster-create.log").write_text(output)
        if result.returncode != 0 or f"All {HASH_SLOTS} slots covered" not in output:
            raise RuntimeError(f"redis-cli --cluster create failed ({result.returncode}):\n{output[-2000:]}")
        self._node_ids = {port: self._admin(port).execute_command("CLUSTER MYID") for port in self._servers}

    def cli_tls_arguments(self) -> list[str]:
        """redis-cli's TLS options for these nodes (none without TLS)."""
        return [] if self.tls is None else self.tls.cli_arguments()

    def _start_nodes(self, count: int) -> None:
        starting = [self._spawn_node() for _ in range(count)]
        for server in starting:
            for attempt in range(1, START_ATTEMPTS + 1):
                try:
                    server.wait_ready()
                    break
                except RuntimeError:
                    if attempt == START_ATTEMPTS or not server.lost_its_port():
                        raise
                    server = self._spawn_node()
            self._servers[server.port] = server

    def _spawn_node(self) -> ClusterNodeServer:
        port = free_port()
        directory = self.directory / str(port)
        directory.mkdir(exist_ok=True)
        server = ClusterNodeServer(
            port=port,
            directory=directory,
            node_timeout_ms=self.node_timeout_ms,
            persistent=self.persistent,
            tls=self.tls,
        )
        self._spawned.append(server)
        server.process = server.spawn(server.command())
        return server

    # --- what the cluster looks like ----------------------------------------------------

    @property
    def ports(self) -> list[int]:
        """The nodes' client ports, in the order they were started (running or not)."""
        return list(self._servers)

    @property
    def running_ports(self) -> list[int]:
        return [port for port, server in self._servers.items() if server.running]

    @property
    def pids(self) -> dict[int, int]:
        """The process id of every node started, by port (killed nodes included)."""
        return {port: server.process.pid for port, server in self._servers.items() if server.process is not None}

    @property
    def url(self) -> str:
        """redis://127.0.0.1:P of the first running node: any node will do for a cluster client.
        With TLS, rediss://127.0.0.1:P?ssl_ca_certs=…&ssl_cert_reqs=required."""
        running = self.running_ports
        if not running:
            raise RuntimeError("no node of the cluster is running")
        if self.tls is not None:
            return f"rediss://{HOST}:{running[0]}?{self.tls.url_query()}"
        return f"redis://{HOST}:{running[0]}"

    def tls_options(self) -> dict[str, object]:
        """What a redis-py client of these nodes needs besides host and port: nothing, or the TLS options."""
        return {} if self.tls is None else self.tls.client_options()

    @property
    def nodes(self) -> list[LocalNode]:
        """Every running node, each as it sees itself now (roles change on failover)."""
        return [self.node(port) for port in self.running_ports]

    @property
    def primaries(self) -> list[LocalNode]:
        return [node for node in self.nodes if node.is_primary]

    @property
    def replicas(self) -> list[LocalNode]:
        return [node for node in self.nodes if not node.is_primary]

    def node(self, port: int) -> LocalNode:
        """The node on `port`, from its own line of CLUSTER NODES."""
        for entry in self._admin(port).execute_command("CLUSTER NODES").values():
            if "myself" in entry["flags"].split(","):
                node = node_from_entry(entry, port)
                return node if self.tls is None else replace(node, tls_query=self.tls.url_query())
        raise RuntimeError(f"node {port} did not list itself in CLUSTER NODES")

    def keyslot(self, key: str) -> int:
        return int(self._admin(self.running_ports[0]).execute_command("CLUSTER KEYSLOT", key))

    def slot_map(self, port: int | None = None) -> list[tuple[int, int, int]]:
        """(first slot, last slot, primary port) for every range, from CLUSTER SLOTS of one node."""
        asked = port if port is not None else self.running_ports[0]
        ranges = self._admin(asked).execute_command("CLUSTER SLOTS")
        return sorted((int(first), int(last), int(primary[1])) for first, last, primary, *_ in ranges)

    def primary_for(self, key: str) -> LocalNode:
        """The primary that serves `key`'s hash slot (a `{tag}` in the key decides the slot)."""
        slot = self.keyslot(key)
        for first, last, port in self.slot_map():
            if first <= slot <= last:
                return self.node(port)
        raise RuntimeError(f"no primary serves slot {slot} of {key!r}")

    def on_different_primaries(self, *keys: str) -> bool:
        """True if no two of `keys` are served by the same primary."""
        owners = [self.primary_for(key).port for key in keys]
        return len(set(owners)) == len(owners)

    def names_on_each_primary(self, prefix: str = "stream") -> list[str]:
        """One key name per primary (`prefix-0`, `prefix-1`, ...), in the order of `primaries`."""
        wanted = {node.port: "" for node in self.primaries if node.slots}
        number = 0
        while not all(wanted.values()):
            name = f"{prefix}-{number}"
            owner = self.primary_for(name).port
            if not wanted[owner]:
                wanted[owner] = name
            number += 1
        return list(wanted.values())

    # --- clients ------------------------------------------------------------------------

    def client(self, **options: object) -> redis.cluster.RedisCluster:
        """A new redis-py RedisCluster that knows every running node (the caller closes it)."""
        startup = [redis.cluster.ClusterNode(HOST, port) for port in self.running_ports]
        return redis.cluster.RedisCluster(startup_nodes=startup, **{**self.tls_options(), **options})

    def node_client(self, port: int, **options: object) -> redis.Redis:
        """A new plain redis-py client on one node, which answers MOVED for others' keys (caller closes it)."""
        return redis.Redis(host=HOST, port=port, **{**self.tls_options(), **options})

    def flushall(self) -> None:
        """Empty every primary (their replicas follow)."""
        for node in self.primaries:
            self._admin(node.port).flushall()

    def _admin(self, port: int) -> redis.Redis:
        if port not in self._admins:
            # No retries: every wait here polls again anyway, and a dead node should fail at once.
            self._admins[port] = redis.Redis(
                host=HOST,
                port=port,
                decode_responses=True,
                socket_connect_timeout=0.5,
                socket_timeout=5,
                retry=Retry(NoBackoff(), 0),
                **self.tls_options(),
            )
        return self._admins[port]

    # --- breaking it --------------------------------------------------------------------

    def kill(self, port: int) -> None:
        """SIGKILL one node, as a crash would; its replicas (if it was a primary) are noted for `wait_for_failover`."""
        self._replicas_at_kill[port] = [node.port for node in self.replicas if node.primary_id == self._node_ids[port]]
        self._servers[port].kill()

    def restart(self, port: int, timeout: float = 30.0) -> LocalNode:
        """Start a killed node again on its port and directory; a failed-over primary rejoins as a replica."""
        server = self._servers[port]
        if server.running:
            raise ValueError(f"node {port} is running")
        server.start()
        self.wait_healthy(timeout=timeout)
        return self.node(port)

    def wait_for_failover(self, old_primary_port: int, timeout: float = 30.0) -> LocalNode:
        """Wait until a replica of the killed primary serves its slots and the cluster is healthy; return it."""
        if self._servers[old_primary_port].running:
            raise ValueError(f"node {old_primary_port} is running: kill it first")
        candidates = self._replicas_at_kill.get(old_primary_port)
        if not candidates:
            raise ValueError(f"node {old_primary_port} was not a primary with a replica when it was killed")

        def promoted() -> str | None:
            if unhealthy := self._health_problem():
                return unhealthy
            if not any(self.node(port).is_primary for port in candidates if self._servers[port].running):
                return f"none of the replicas {candidates} has been promoted"
            return None

        self._wait(promoted, timeout=timeout, what=f"failover of primary {old_primary_port}")
        return next(node for node in self.primaries if node.port in candidates)

    # --- waiting ------------------------------------------------------------------------

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Wait until every running node says cluster_state:ok, all agree on who serves each of the
        16384 slots (a running primary), and every running replica is linked to its primary and in sync."""
        self._wait(self._health_problem, timeout=timeout, what="a healthy cluster")

    def _health_problem(self) -> str | None:
        """None if the cluster is healthy, else the first thing wrong with it."""
        running = self.running_ports
        if not running:
            return "no node is running"
        try:
            maps = {port: self.slot_map(port) for port in running}
            for port in running:
                state = self._admin(port).execute_command("CLUSTER INFO")
                if state.get("cluster_state") != "ok":
                    return f"node {port}: cluster_state is {state.get('cluster_state')}"
                if int(state.get("cluster_slots_ok", 0)) != HASH_SLOTS:
                    return f"node {port}: {state.get('cluster_slots_ok')} of {HASH_SLOTS} slots ok"
                if int(state.get("cluster_known_nodes", 0)) != len(self._node_ids):
                    return f"node {port}: knows {state.get('cluster_known_nodes')} of {len(self._node_ids)} nodes"
                if maps[port] != maps[running[0]]:
                    return f"nodes {running[0]} and {port} disagree on the slot map"
            covered = sum(last - first + 1 for first, last, _ in maps[running[0]])
            if covered != HASH_SLOTS:
                return f"{covered} of {HASH_SLOTS} slots are served"
            serving = {owner for _, _, owner in maps[running[0]]}
            if not serving <= set(running):
                return f"slots are still mapped to stopped nodes {sorted(serving - set(running))}"
            for port in running:
                for address, entry in self._admin(port).execute_command("CLUSTER NODES").items():
                    seen = int(address.rsplit(":", 1)[1])
                    if seen in running and {"fail", "fail?"} & set(entry["flags"].split(",")):
                        return f"node {port} still flags node {seen} as failing"
            for node in self.nodes:
                if node.is_primary and node.port not in serving:
                    return f"node {node.port} is a primary without slots"
                if not node.is_primary:
                    replication = self._admin(node.port).info("replication")
                    if replication.get("master_link_status") != "up" or replication.get("master_sync_in_progress"):
                        return f"replica {node.port} is not in sync with its primary"
                    persistence = self._admin(node.port).info("persistence")
                    if persistence.get("aof_rewrite_in_progress") or persistence.get("aof_rewrite_scheduled"):
                        return f"replica {node.port} is still writing the AOF of its full sync"
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as error:
            return f"a node did not answer: {error}"
        return None

    def _wait(self, problem: Callable[[], str | None], *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while (found := problem()) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {what} within {timeout} s: {found} (node logs under {self.directory})")
            time.sleep(0.05)


def node_from_entry(entry: dict, port: int) -> LocalNode:
    """A LocalNode from one node's entry in redis-py's parsed CLUSTER NODES."""
    flags = entry["flags"].split(",")
    return LocalNode(
        port=port,
        node_id=entry["node_id"],
        role="primary" if "master" in flags else "replica",
        primary_id=None if entry["master_id"] == "-" else entry["master_id"],
        # Slots being migrated or imported are listed apart ("migrations"): not served yet.
        slots=tuple((int(bounds[0]), int(bounds[-1])) for bounds in entry["slots"]),
    )
