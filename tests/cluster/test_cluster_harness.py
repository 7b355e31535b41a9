"""The local Redis Cluster harness keeps the promises the cluster tests build on: three primaries
serve all 16384 slots, the tutorial's two streams land on different primaries, a stream written
through RedisCluster reads back, a killed primary fails over to its replica with every entry a
replica acknowledged intact, and no process or directory is left after stop."""

from __future__ import annotations

import os
import socket

import pytest
import redis

from tests.support import redis_cluster as redis_cluster_module
from tests.support.redis_cluster import HASH_SLOTS, LocalCluster

pytestmark = pytest.mark.cluster


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_three_primaries_serve_every_slot_once(redis_cluster):
    primaries = redis_cluster.primaries

    assert len(primaries) == 3
    assert redis_cluster.replicas == []
    ranges = sorted(slot_range for node in primaries for slot_range in node.slots)
    assert [first for first, _ in ranges] == [0] + [last + 1 for _, last in ranges[:-1]]
    assert ranges[-1][1] == HASH_SLOTS - 1
    for node in redis_cluster.nodes:
        with redis_cluster.node_client(node.port) as client:
            state = client.execute_command("CLUSTER INFO")
        assert state["cluster_state"] == "ok"
        assert int(state["cluster_slots_ok"]) == HASH_SLOTS


def test_chennai_and_coimbatore_land_on_different_primaries(redis_cluster):
    chennai, coimbatore = redis_cluster.primary_for("chennai"), redis_cluster.primary_for("coimbatore")

    # CRC16 slots, fixed by the names: chennai in the third primary's range, coimbatore in the second's.
    assert redis_cluster.keyslot("chennai") == 15679
    assert redis_cluster.keyslot("coimbatore") == 7483
    assert chennai.port != coimbatore.port
    assert chennai.serves(15679) and coimbatore.serves(7483)
    assert redis_cluster.on_different_primaries("chennai", "coimbatore")
    assert not redis_cluster.on_different_primaries("chennai", "{chennai}:dead")


def test_names_on_each_primary_spread_over_all_three(redis_cluster):
    names = redis_cluster.names_on_each_primary("city")

    assert len(names) == 3
    assert [redis_cluster.primary_for(name).port for name in names] == [node.port for node in redis_cluster.primaries]


def test_a_stream_written_through_redis_cluster_reads_back_from_its_primary(redis_cluster, cluster_client):
    for city in ("chennai", "coimbatore"):
        entry_id = cluster_client.xadd(city, {"temperature": "31", "humidity": "70"})
        assert cluster_client.xrange(city) == [(entry_id, {b"temperature": b"31", b"humidity": b"70"})]

    chennai = redis_cluster.primary_for("chennai")
    with redis_cluster.node_client(chennai.port) as owner:
        assert owner.xlen("chennai") == 1
        # A plain client on one node is redirected for a key of another: why the app needs RedisCluster.
        with pytest.raises(redis.exceptions.MovedError):
            owner.xlen("coimbatore")


def test_flushall_empties_every_primary(redis_cluster, cluster_client):
    for name in redis_cluster.names_on_each_primary("flush"):
        cluster_client.xadd(name, {"n": "1"})

    redis_cluster.flushall()

    for node in redis_cluster.primaries:
        with redis_cluster.node_client(node.port) as client:
            assert client.dbsize() == 0


def test_a_killed_primary_fails_over_to_its_replica_with_every_replicated_entry(replicated_cluster):
    cluster = replicated_cluster
    assert len(cluster.primaries) == 3
    assert sorted(node.primary_id for node in cluster.replicas) == sorted(node.node_id for node in cluster.primaries)
    owner = cluster.primary_for("chennai")
    [replica] = [node for node in cluster.replicas if node.primary_id == owner.node_id]
    with cluster.node_client(owner.port) as writer:
        # One connection for the writes and WAIT: WAIT counts that connection's writes only.
        pipe = writer.pipeline(transaction=False)
        for n in range(200):
            pipe.xadd("chennai", {"n": str(n)})
        pipe.execute_command("WAIT", 1, 5000)
        *written, acknowledged_by = pipe.execute()
    assert acknowledged_by == 1
    client_before_the_kill = cluster.client()

    cluster.kill(owner.port)
    promoted = cluster.wait_for_failover(owner.port)

    assert promoted.port == replica.port
    assert promoted.is_primary and promoted.serves(cluster.keyslot("chennai"))
    assert cluster.primary_for("chennai").port == promoted.port
    with cluster.node_client(promoted.port) as new_owner:
        assert [entry_id for entry_id, _ in new_owner.xrange("chennai")] == written
    assert client_before_the_kill.xlen("chennai") == 200  # it follows the new topology
    client_before_the_kill.close()

    back = cluster.restart(owner.port)

    assert back.role == "replica"
    assert back.primary_id == promoted.node_id
    assert len(cluster.nodes) == 6


def test_stop_leaves_no_process_and_no_directory():
    cluster = LocalCluster(node_timeout_ms=1000).start()  # a short timeout makes the nodes meet sooner
    pids, directory = list(cluster.pids.values()), cluster.directory
    assert len(pids) == 3
    assert all(running(pid) for pid in pids)

    cluster.stop()
    cluster.stop()

    assert not any(running(pid) for pid in pids)
    assert not directory.exists()


def test_a_node_whose_free_port_was_taken_meanwhile_starts_on_another(monkeypatch):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    handed_out = [taken.getsockname()[1]]
    real_free_port = redis_cluster_module.free_port
    monkeypatch.setattr(redis_cluster_module, "free_port", lambda: handed_out.pop() if handed_out else real_free_port())

    with taken, LocalCluster(node_timeout_ms=1000) as cluster:
        assert len(cluster.primaries) == 3
        assert taken.getsockname()[1] not in cluster.ports


def test_a_failed_start_stops_what_it_started(monkeypatch):
    def refuse(self: LocalCluster) -> None:
        raise RuntimeError("create refused")

    monkeypatch.setattr(LocalCluster, "create", refuse)
    cluster = LocalCluster()

    with pytest.raises(RuntimeError, match="create refused"):
        cluster.start()

    assert len(cluster.pids) == 3
    assert not any(running(pid) for pid in cluster.pids.values())
    assert not cluster.directory.exists()
