"""`unix://` REDIS_URLs (the README says they work): a real redis-server listening only on a Unix
socket, reached by the app's own clients, sync and asyncio, and by a worker's client."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
from datetime import UTC
from pathlib import Path

import pytest
import redis

from streams_app.domain.browsing import entries_page, parse_range_request
from streams_app.domain.readings import reading_add
from streams_app.gateway.clients import connect, connect_async, startup_problem, worker_client
from streams_app.gateway.live_io import LiveReader
from streams_app.gateway.stores import stream_store
from streams_app.gateway.worker_reads import NodeReads
from tests.support.redis_server import server_binary

CITY = "chennai"


@pytest.fixture(scope="module")
def socket_url():
    """unix:///…/redis.sock?db=0 of a redis-server with no TCP port at all."""
    directory = Path(tempfile.mkdtemp(prefix="weatherstreams-unix-"))
    path = directory / "redis.sock"
    process = subprocess.Popen(
        [
            server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(path),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"unix://{path}?db=0"
    deadline = time.monotonic() + 10
    while True:
        try:
            if redis.Redis.from_url(url).ping():
                break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not open its Unix socket"
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture
def on_socket(settings, socket_url):
    settings.REDIS_URL = socket_url
    settings.REDIS_CLUSTER = None
    with redis.Redis.from_url(socket_url) as client:
        client.flushall()
    return socket_url


def test_a_reading_added_over_the_unix_socket_reads_back_through_browsing(on_socket):
    assert startup_problem() is None
    entry_id = reading_add(store=stream_store(), city=CITY, temperature="26", humidity="10")

    request = parse_range_request({}, tz=UTC, default_count=50, max_count=1000)
    page = entries_page(store=stream_store(), name=CITY, request=request, tz=UTC)

    assert [(entry.id, entry.fields) for entry in page.entries] == [(entry_id, {"temperature": "26", "humidity": "10"})]


def test_a_worker_client_reads_its_group_over_the_unix_socket(on_socket):
    client = connect(on_socket)
    added = client.xadd(CITY, {"temperature": "21", "humidity": "10"}).decode()
    client.xgroup_create(CITY, "g", id="0")
    worker = worker_client(block_ms=100)
    try:
        assert worker.ping()
        if NodeReads.available(worker):  # the worker's own fast read path takes the same URL
            reads = NodeReads(worker)
            assert reads.pool.connection_class is worker.connection_pool.connection_class
        [(_, entries)] = worker.xreadgroup("g", "alice", {CITY: ">"}, count=10)
        assert [raw_id.decode() for raw_id, _ in entries] == [added]
    finally:
        worker.close()
        client.close()


def test_the_live_reader_reads_a_new_entry_over_the_unix_socket(on_socket):
    async def scenario() -> list:
        reader = LiveReader(connect_async(on_socket))
        try:
            position = await reader.last_id(CITY)
            with redis.Redis.from_url(on_socket) as client:
                client.xadd(CITY, {"temperature": "27", "humidity": "11"})
            return await asyncio.wait_for(reader.read_after(CITY, position, count=10, block_ms=1000), 10)
        finally:
            await reader.close()

    entries = asyncio.run(scenario())
    assert [entry.fields for entry in entries] == [{"temperature": "27", "humidity": "11"}]
