"""REDIS_URL=rediss://…?ssl_ca_certs=… on a real Redis Cluster of its own that speaks TLS only
(to clients, on the cluster bus and to replicas; created with `redis-cli --tls --cacert …`): the
app's cluster clients, sync and asyncio, find every primary over TLS from the one node in the
URL; the app knows it is a cluster and says what start-up needs; readings added through the
domain on every primary read back through browsing; the live reader's XREAD BLOCK wakes on the
node of its stream; a real worker process processes and acks entries on different primaries.
A client that does not trust the CA, or speaks plain redis://, is RedisUnavailable in one line."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC

import pytest
import redis
import redis.asyncio.cluster
import redis.cluster

from streams_app.domain.browsing import entries_page, parse_range_request
from streams_app.domain.readings import reading_add
from streams_app.errors import RedisUnavailable
from streams_app.gateway.clients import (
    QUEUE_NEEDS_ONE_NODE,
    app_client,
    cluster_mode,
    connect_cluster,
    connect_cluster_async,
    live_client,
    server_is_cluster,
    startup_problem,
    worker_client,
)
from streams_app.gateway.errors import translate_redis_error
from streams_app.gateway.live_io import LiveReader
from streams_app.gateway.stores import stream_store
from tests.support.redis_cluster import HOST, LocalCluster
from tests.support.tls import make_tls_files
from tests.support.worker_handlers import PROCESSED_KEY
from tests.support.workers import WorkerProcess, processed_count, wait_until


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    """A 3-primary cluster of its own, TLS only; its `url` is rediss://127.0.0.1:P?ssl_ca_certs=…&ssl_cert_reqs=required."""
    with LocalCluster(tls=make_tls_files(tmp_path_factory.mktemp("tls")), persistent=False) as cluster:
        yield cluster


@pytest.fixture
def tls_cluster_client(tls_cluster):
    """A redis-py RedisCluster on the TLS cluster (trusting the CA), every primary empty at the start of the test."""
    tls_cluster.wait_healthy()
    tls_cluster.flushall()
    client = tls_cluster.client()
    yield client
    client.close()


@pytest.fixture
def on_tls_cluster(settings, tls_cluster, tls_cluster_client, redis_server) -> str:
    """The app's streams (REDIS_URL) on the TLS cluster, the queue on the suite's single node."""
    settings.REDIS_URL = tls_cluster.url
    settings.REDIS_CLUSTER = None
    settings.QUEUE_REDIS_URL = redis_server.url
    settings.QUEUE_REDIS_URL_GIVEN = True
    return tls_cluster.url


def untrusting(url: str) -> str:
    """`url` without ssl_ca_certs: the nodes' certificates must then chain to a CA the machine trusts."""
    return f"{url.partition('?')[0]}?ssl_cert_reqs=required"


def assert_one_clean_line(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message


def test_the_nodes_have_no_plain_port_and_connect_cluster_finds_every_primary_over_tls(tls_cluster):
    for node in tls_cluster.nodes:
        with tls_cluster.node_client(node.port) as admin:
            assert admin.config_get("port") == {"port": "0"}
            assert admin.config_get("tls-cluster") == {"tls-cluster": "yes"}

    client = connect_cluster(tls_cluster.url)
    try:
        assert client.ping()
        found = {node.port for node in client.get_nodes() if node.server_type == "primary"}
        assert found == {node.port for node in tls_cluster.primaries}
    finally:
        client.close()


def test_the_app_knows_a_tls_cluster_and_says_what_start_up_needs(on_tls_cluster, settings):
    assert server_is_cluster(on_tls_cluster) is True  # INFO cluster answered over TLS
    assert cluster_mode() is True
    assert startup_problem() is None
    assert isinstance(app_client(), redis.cluster.RedisCluster)
    worker = worker_client(block_ms=2000)
    try:
        assert isinstance(worker, redis.cluster.RedisCluster) and worker.ping()
    finally:
        worker.close()

    settings.QUEUE_REDIS_URL, settings.QUEUE_REDIS_URL_GIVEN = on_tls_cluster, False
    assert startup_problem() == QUEUE_NEEDS_ONE_NODE


def test_readings_on_every_primary_read_back_through_browsing(on_tls_cluster, tls_cluster, tls_cluster_client):
    names = tls_cluster.names_on_each_primary("city")
    added = {name: reading_add(store=stream_store(), city=name, temperature="26", humidity="10") for name in names}

    request = parse_range_request({}, tz=UTC, default_count=50, max_count=1000)
    for name in names:
        page = entries_page(store=stream_store(), name=name, request=request, tz=UTC)
        assert [(entry.id, entry.fields) for entry in page.entries] == [
            (added[name], {"temperature": "26", "humidity": "10"})
        ]
    assert len(names) == len(tls_cluster.primaries)


def test_the_live_reader_wakes_from_xread_block_on_the_node_of_its_stream(
    on_tls_cluster, tls_cluster, tls_cluster_client
):
    # A stream that the URL's own node does not serve: the client found its node over TLS.
    url_port = tls_cluster.running_ports[0]
    names = tls_cluster.names_on_each_primary("city")
    name = next(name for name in names if tls_cluster.primary_for(name).port != url_port)
    owner = tls_cluster.node_client(tls_cluster.primary_for(name).port)

    async def scenario() -> None:
        shared = live_client()
        assert isinstance(shared, redis.asyncio.cluster.RedisCluster)
        await shared.aclose()
        reader = LiveReader(connect_cluster_async(on_tls_cluster))
        try:
            assert reader.on_cluster
            position = await reader.last_id(name)
            read = asyncio.ensure_future(reader.read_after(name, position, count=10, block_ms=10_000))
            deadline = time.monotonic() + 10
            while owner.info("clients")["blocked_clients"] < 1:
                assert time.monotonic() < deadline and not read.done(), "the live reader never blocked"
                await asyncio.sleep(0.01)
            added = tls_cluster_client.xadd(name, {"temperature": "27"}).decode()
            entries = await asyncio.wait_for(read, 10)
        finally:
            await reader.close()
        assert [(entry.id, entry.fields) for entry in entries] == [(added, {"temperature": "27"})]

    try:
        asyncio.run(scenario())
    finally:
        owner.close()


@pytest.mark.processes
def test_a_worker_process_on_rediss_processes_and_acks_entries_on_every_primary(
    tls_cluster, tls_cluster_client, redis_server
):
    names = tls_cluster.names_on_each_primary("city")
    added = {name: tls_cluster_client.xadd(name, {"temperature": "21", "humidity": "10"}).decode() for name in names}
    # What the record handler processed is kept on the suite's single node.
    records = redis.Redis.from_url(redis_server.url)
    records.delete(PROCESSED_KEY)
    streams = [arg for name in names for arg in ("--stream", name)]
    worker = WorkerProcess(
        "alice", *streams, "--start-id", "0", redis_url=tls_cluster.url, records_url=redis_server.url,
        env={"QUEUE_REDIS_URL": redis_server.url},
    )  # fmt: skip
    try:
        worker.wait_for_output("is consuming")
        wait_until(lambda: processed_count(records) == len(names), what="alice to process an entry on every primary")

        def acked() -> bool:
            groups = {name: tls_cluster_client.xinfo_groups(name)[0] for name in names}
            return all(
                group["pending"] == 0 and group["last-delivered-id"].decode() == added[name]
                for name, group in groups.items()
            )

        wait_until(acked, what="alice to ack every entry")
        assert "Traceback" not in worker.output
    finally:
        worker.stop()
        records.delete(PROCESSED_KEY)
        records.close()


# --- wrong trust, wrong scheme -----------------------------------------------------------


@pytest.mark.parametrize("scheme", ["untrusted", "plain"])
def test_a_client_that_cannot_speak_tls_to_the_cluster_is_redis_unavailable_in_one_line(tls_cluster, scheme):
    port = tls_cluster.ports[0]
    url = untrusting(tls_cluster.url) if scheme == "untrusted" else f"redis://{HOST}:{port}"

    with pytest.raises(redis.exceptions.RedisClusterException) as refused:
        connect_cluster(url)
    answer = translate_redis_error(refused.value)

    assert isinstance(answer, RedisUnavailable)
    assert_one_clean_line(answer.message)
    if scheme == "untrusted":
        assert "TLS certificate is not trusted" in answer.message and "ssl_ca_certs=" in answer.message


def test_a_worker_on_a_forced_cluster_it_does_not_trust_is_told_why(settings, tls_cluster):
    settings.REDIS_URL = untrusting(tls_cluster.url)
    settings.REDIS_CLUSTER = True

    with pytest.raises(RedisUnavailable) as refused:
        worker_client(block_ms=2000)

    assert_one_clean_line(refused.value.message)
    assert "TLS certificate is not trusted" in refused.value.message and "ssl_ca_certs=" in refused.value.message


def test_a_store_on_a_forced_cluster_it_does_not_trust_is_redis_unavailable(settings, tls_cluster):
    settings.REDIS_URL = untrusting(tls_cluster.url)
    settings.REDIS_CLUSTER = True

    with pytest.raises(RedisUnavailable):
        reading_add(store=stream_store(), city="chennai", temperature="26", humidity="10")
