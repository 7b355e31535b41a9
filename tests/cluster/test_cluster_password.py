"""A cluster whose nodes want a password, as managed clusters do: the app's clients take it from
REDIS_URL (redis://:secret@node:port) for every node they find, a worker process reads streams on
different primaries with it, and a wrong password is "Redis refused the credentials", not a 500."""

from __future__ import annotations

import pytest
import redis

from streams_app.errors import RedisUnavailable
from streams_app.gateway.clients import connect_cluster
from streams_app.gateway.errors import translate_redis_error
from streams_app.gateway.streams import StreamStore
from streams_app.gateway.types import RangeQuery, StreamId
from tests.support.redis_cluster import LocalCluster
from tests.support.workers import WorkerProcess, processed_count, wait_until

PASSWORD = "a-cluster-secret"


@pytest.fixture(scope="module")
def guarded_cluster():
    """A cluster of its own whose nodes (and their links to each other) need PASSWORD, and one
    name per primary (found before the password was set: the harness's own clients have none)."""
    with LocalCluster(persistent=False) as cluster:
        names = cluster.names_on_each_primary("city")
        for node in cluster.nodes:
            admin = cluster.node_client(node.port)
            admin.config_set("masterauth", PASSWORD)
            admin.config_set("requirepass", PASSWORD)
            admin.close()
        port = cluster.ports[0]
        yield f"redis://:{PASSWORD}@127.0.0.1:{port}", f"redis://:wrong@127.0.0.1:{port}", names


def test_the_password_in_redis_url_reaches_every_node(guarded_cluster):
    url, _, names = guarded_cluster
    client = connect_cluster(url)
    try:
        store = StreamStore(client)
        for name in names:
            store.add_entry(name, [("temperature", "30")])
        everything = [RangeQuery(StreamId(0), StreamId(2**64 - 1), 10)]
        assert [len(store.ranges(name, everything)[0]) for name in names] == [1] * len(names)
        assert sorted(summary.name for summary in store.summaries(names)) == sorted(names)
    finally:
        client.close()


def test_a_wrong_password_is_redis_refusing_the_credentials(guarded_cluster):
    _, wrong, _ = guarded_cluster
    with pytest.raises((redis.exceptions.AuthenticationError, redis.exceptions.RedisClusterException)) as refused:
        connect_cluster(wrong).ping()
    answer = translate_redis_error(refused.value)
    assert isinstance(answer, RedisUnavailable)


def test_a_worker_with_the_password_reads_streams_on_different_primaries(guarded_cluster, redis_server):
    url, _, names = guarded_cluster
    records = redis.Redis.from_url(redis_server.url)
    records.flushall()
    streams = [arg for name in names for arg in ("--stream", name)]
    worker = WorkerProcess(
        "alice", *streams, "--start-id", "0", redis_url=url, records_url=redis_server.url,
        env={"QUEUE_REDIS_URL": redis_server.url},
    )  # fmt: skip
    try:
        worker.wait_for_output("is consuming")
        client = connect_cluster(url)
        for name in names:
            client.xadd(name, {"temperature": "21", "humidity": "10"})
        total = sum(client.xlen(name) for name in names)
        client.close()
        wait_until(lambda: processed_count(records) == total, what="alice to process every entry of every stream")
        assert "Traceback" not in worker.output
    finally:
        worker.stop()
        records.close()
