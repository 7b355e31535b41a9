"""The live pages' reads on a real Redis Cluster: LiveReader on the app's asyncio cluster client
(connect_cluster_async) with streams on different primaries — tails blocking on two nodes at
once, a group's snapshot, the dashboard's counts and SCAN over every primary, worker snapshots —
and, on a cluster of its own, a primary killed under a live page: "Redis unavailable", never a
reply mistaken for "not a stream", and the page back once the node is."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
import redis
import redis.cluster
from channels.layers import channel_layers

from streams_app.errors import RedisUnavailable
from streams_app.gateway.clients import connect_cluster_async
from streams_app.gateway.errors import guarded
from streams_app.gateway.keys import dead_letter_key, heartbeat_key, processed_events_key
from streams_app.gateway.live_io import LiveReader
from streams_app.gateway.worker_io import BatchOutcome, WorkerIO
from streams_app.live import feeds, registry
from tests.support.redis_cluster import LocalCluster
from tests.unit.live.sockets import live_application, open_socket, receive_until, run_live

STREAMS = ("chennai", "coimbatore")  # on different primaries
GROUP = "mygroup"
TEMPLATE = "{stream}:dead"
WAIT_SECONDS = 10.0


def with_reader(url: str, scenario: Callable[[LiveReader], Awaitable[None]]) -> None:
    """Run `scenario` with a LiveReader on a new asyncio cluster client for `url`, closed at the end."""

    async def run() -> None:
        reader = LiveReader(connect_cluster_async(url))
        try:
            await scenario(reader)
        finally:
            await reader.close()

    asyncio.run(run())


def blocked_on(cluster: LocalCluster, key: str) -> int:
    """Clients blocked in a read on the primary that serves `key`."""
    with cluster.node_client(cluster.primary_for(key).port) as node:
        return node.info("clients")["blocked_clients"]


async def eventually(check: Callable[[], bool], what: str, seconds: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        await asyncio.sleep(0.02)


def test_chennai_and_coimbatore_sit_on_different_primaries(redis_cluster):
    assert redis_cluster.on_different_primaries(*STREAMS)


def test_tails_of_streams_on_different_primaries_block_on_their_own_nodes_at_once(cluster_client, redis_cluster):
    before = {name: cluster_client.xadd(name, {"temperature": "20"}).decode() for name in STREAMS}

    async def scenario(reader: LiveReader) -> None:
        assert reader.on_cluster
        assert {name: await reader.last_id(name) for name in STREAMS} == before
        # One reader for both, as a process's registry shares it.
        tails = {name: feeds.StreamTailFeed(("tail", name), reader, name) for name in STREAMS}
        inboxes = {name: feed.subscribe() for name, feed in tails.items()}
        for feed in tails.values():
            feed.start()
        try:
            for feed in tails.values():
                await asyncio.wait_for(feed.ready.wait(), WAIT_SECONDS)
            # Both blocking reads are out at the same time, each on the node of its stream.
            await eventually(lambda: all(blocked_on(redis_cluster, name) >= 1 for name in STREAMS), "blocked reads")

            added = {name: cluster_client.xadd(name, {"temperature": "21"}).decode() for name in STREAMS}
            for name, inbox in inboxes.items():
                message = await asyncio.wait_for(inbox.get(), WAIT_SECONDS)
                assert message.type == "entries"
                assert [entry["id"] for entry in message.data["entries"]] == [added[name]]
            assert [entry.id for entry in await reader.latest("chennai", 10)] == [before["chennai"], added["chennai"]]
            assert [entry.id for entry in await reader.latest("coimbatore", 10, after=before["coimbatore"])] == [
                added["coimbatore"]
            ]
        finally:
            for feed in tails.values():
                feed.task.cancel()
            await asyncio.gather(*(feed.task for feed in tails.values()), return_exceptions=True)

    with_reader(redis_cluster.url, scenario)


def test_a_read_of_streams_in_several_slots_is_crossslot_a_bug_not_an_outage(cluster_client, redis_cluster):
    # Why a tail reads one stream: Redis refuses one XREAD of keys in different slots.
    async def scenario(reader: LiveReader) -> None:
        with pytest.raises(redis.exceptions.ClusterCrossSlotError):
            await guarded(reader.client.xread(dict.fromkeys(STREAMS, "0-0")))

    with_reader(redis_cluster.url, scenario)


def test_a_group_snapshot_counts_pending_consumers_and_lag_on_the_stream_node(cluster_client, redis_cluster):
    ids = [cluster_client.xadd("coimbatore", {"temperature": str(20 + n)}).decode() for n in range(4)]
    cluster_client.xgroup_create("coimbatore", GROUP, id="0")
    cluster_client.xreadgroup(GROUP, "alice", {"coimbatore": ">"}, count=3)
    # The tutorial's flow on chennai: Redis 7.0 says nil for the lag, so a script counts it.
    cluster_client.xadd("chennai", {"temperature": "26"}, id="1")
    cluster_client.execute_command("XGROUP", "CREATE", "chennai", GROUP, "$")
    for n in range(3):
        cluster_client.xadd("chennai", {"temperature": str(n)})
    cluster_client.set("not-a-stream", "x")

    async def scenario(reader: LiveReader) -> None:
        snapshot = await reader.group_snapshot("coimbatore", GROUP)
        assert (snapshot.group.pending, snapshot.group.lag, snapshot.group.last_delivered_id) == (3, 1, ids[2])
        assert [(consumer.name, consumer.pending) for consumer in snapshot.consumers] == [("alice", 3)]
        tutorial = await reader.group_snapshot("chennai", GROUP)
        assert (tutorial.group.lag, tutorial.group.lag_estimated) == (3, False)
        assert await reader.group_snapshot("coimbatore", "nobody") is None
        assert await reader.group_snapshot("nowhere", GROUP) is None
        assert await reader.group_snapshot("not-a-stream", GROUP) is None
        assert await reader.latest("not-a-stream", 5) == []

    with_reader(redis_cluster.url, scenario)


def test_the_dashboard_finds_user_streams_on_every_primary_and_counts_them(cluster_client, redis_cluster):
    names = redis_cluster.names_on_each_primary("city")
    for length, name in enumerate(names, start=1):
        for _ in range(length):
            cluster_client.xadd(name, {"temperature": "20"})
        cluster_client.xgroup_create(name, GROUP, id="0")
        cluster_client.xadd(dead_letter_key(name, TEMPLATE), {"stream": name, "id": "1-0"})
    cluster_client.xadd(processed_events_key(GROUP), {"consumer": "alice"})
    cluster_client.xadd("rq:whatever", {"x": "1"})

    async def scenario(reader: LiveReader) -> None:
        found = await reader.stream_names(limit=50, dead_letter_template=TEMPLATE)
        assert found == sorted(names)
        counts = await reader.stream_counts([*found, "vanished"])
        assert {counted.stream.name: counted.stream.length for counted in counts} == {
            name: length for length, name in enumerate(names, start=1)
        }
        for counted in counts:
            [group] = counted.groups
            assert (group.name, group.pending, group.lag) == (GROUP, 0, counted.stream.length)

    with_reader(redis_cluster.url, scenario)


def test_the_dashboard_lists_at_most_its_limit_of_streams_from_all_primaries(cluster_client, redis_cluster):
    many = [f"city-{number:03}" for number in range(80)]
    for name in many:
        cluster_client.xadd(name, {"temperature": "20"})

    async def scenario(reader: LiveReader) -> None:
        found = await reader.stream_names(limit=50, dead_letter_template=TEMPLATE)
        assert len(found) == 50 and set(found) <= set(many) and found == sorted(found)
        assert await reader.stream_names(limit=500, dead_letter_template=TEMPLATE) == many

    with_reader(redis_cluster.url, scenario)


def workers_on_different_primaries(cluster: LocalCluster) -> list[str]:
    """Two worker names of GROUP whose heartbeats sit on different primaries."""
    first = "worker-0"
    second = next(
        name
        for number in range(1, 1000)
        if cluster.on_different_primaries(heartbeat_key(GROUP, first), heartbeat_key(GROUP, name := f"worker-{number}"))
    )
    return [first, second]


def test_worker_snapshots_read_heartbeats_on_every_node_and_processing_reports(cluster_client, redis_cluster):
    names = workers_on_different_primaries(redis_cluster)
    io = WorkerIO(cluster_client)
    now = time.time()
    for age, name in enumerate(names):
        status = {"state": "running", "last_seen": str(now - age), "processed": str(10 + age), "streams": '["chennai"]'}
        io.beat(group=GROUP, name=name, status=status, ttl_ms=60_000, lock_token=name, lock_ttl_ms=60_000)
    io.beat(
        group="other",
        name="x",
        status={"state": "running", "last_seen": str(now - 5)},
        ttl_ms=60_000,
        lock_token="x",
        lock_ttl_ms=60_000,
    )
    entry = cluster_client.xadd("chennai", {"temperature": "20"}).decode()

    async def scenario(reader: LiveReader) -> None:
        seen = await reader.workers(group=GROUP)
        assert [(worker.name, worker.alive, worker.processed) for worker in seen] == [
            (names[0], True, 10),
            (names[1], True, 11),
        ]
        assert [worker.name for worker in await reader.workers()] == [*names, "x"]

        position = await reader.processed_last_id(GROUP)
        assert position == "0-0"
        waiting = asyncio.get_running_loop().create_task(
            reader.processed_after(GROUP, position, count=10, block_ms=5000)
        )
        await eventually(lambda: blocked_on(redis_cluster, processed_events_key(GROUP)) >= 1, "a blocked read")
        await asyncio.to_thread(
            io.finish_batch,
            GROUP,
            names[0],
            BatchOutcome(
                acks={"chennai": [entry]}, events=[{"stream": "chennai", "id": entry, "ok": True}], events_total=1
            ),
        )
        [report] = await asyncio.wait_for(waiting, WAIT_SECONDS)
        assert report.fields["consumer"] == names[0]
        assert [found.id for found in await reader.recent_processed(GROUP, 5)] == [report.id]

    with_reader(redis_cluster.url, scenario)


# --- a primary gone under a live page -----------------------------------------------------------


@pytest.fixture(scope="module")
def breakable_cluster() -> Iterator[LocalCluster]:
    """A cluster of this module's own (3 primaries, no replicas): its tests kill and restart nodes.
    A node timeout of 1 s: the others call a dead primary failed, and answer CLUSTERDOWN, soon."""
    with LocalCluster(node_timeout_ms=1000) as cluster:
        yield cluster


@pytest.fixture
def broken_and_mended(breakable_cluster: LocalCluster) -> Iterator[LocalCluster]:
    """The breakable cluster, healthy and empty; healthy again after the test, whatever it killed."""
    breakable_cluster.wait_healthy()
    breakable_cluster.flushall()
    yield breakable_cluster
    for port in breakable_cluster.ports:
        if port not in breakable_cluster.running_ports:
            breakable_cluster.restart(port)


@pytest.fixture
def fresh_live_state() -> Iterator[None]:
    """No feeds or channel layer of another test's event loop (as tests/unit/live/conftest.py does)."""
    registry._registries.clear()
    channel_layers.backends.clear()
    yield
    registry._registries.clear()
    channel_layers.backends.clear()


def cluster_state(cluster: LocalCluster, port: int) -> str:
    with cluster.node_client(port, decode_responses=True) as node:
        return node.execute_command("CLUSTER INFO")["cluster_state"]


async def raises_unavailable(read: Awaitable) -> RedisUnavailable:
    with pytest.raises(RedisUnavailable) as raised:
        await read
    return raised.value


def test_a_primary_gone_then_clusterdown_are_redis_unavailable_and_the_reader_recovers(broken_and_mended):
    cluster = broken_and_mended
    with cluster.client() as writer:
        for name in STREAMS:
            writer.xadd(name, {"temperature": "20"})
            writer.xgroup_create(name, GROUP, id="0")
    gone = cluster.primary_for("chennai").port
    survivor = cluster.primary_for("coimbatore").port

    async def scenario(reader: LiveReader) -> None:
        assert len(await reader.latest("chennai", 5)) == 1  # the client knows the layout
        cluster.kill(gone)
        # Before the others notice: the node's socket is refused.
        gone_error = await raises_unavailable(reader.latest("chennai", 5))
        assert "Redis" in gone_error.message
        await eventually(lambda: cluster_state(cluster, survivor) == "fail", "cluster_state:fail")
        # Once they have: every node answers CLUSTERDOWN, a ResponseError that must not read as "not a stream".
        for read in (
            reader.latest("coimbatore", 5),
            reader.group_snapshot("coimbatore", GROUP),
            reader.read_after("coimbatore", "0-0", count=10, block_ms=100),
            reader.stream_names(limit=50, dead_letter_template=TEMPLATE),
            reader.stream_counts(list(STREAMS)),
            reader.workers(),
        ):
            down = await raises_unavailable(read)
            assert "cluster" in down.message.lower() or "unavailable" in down.message.lower()

        await asyncio.to_thread(cluster.restart, gone)
        assert [entry.fields for entry in await reader.latest("chennai", 5)] == [{"temperature": "20"}]
        assert (await reader.group_snapshot("coimbatore", GROUP)).group.lag == 1

    with_reader(cluster.url, scenario)


@pytest.mark.django_db(transaction=True)
def test_a_live_tail_whose_primary_goes_says_redis_is_unavailable_then_resynchronises(
    broken_and_mended, settings, redis_server, fresh_live_state
):
    cluster = broken_and_mended
    settings.REDIS_URL = cluster.url  # this test's live pages read the breakable cluster
    with cluster.client() as writer:
        first = writer.xadd("chennai", {"temperature": "20"}).decode()
    gone = cluster.primary_for("chennai").port

    async def scenario() -> None:
        application = live_application()
        async with (
            open_socket(application, "/ws/streams/chennai/tail/") as socket,
            open_socket(application, "/ws/dashboard/") as dashboard,
        ):
            snapshot = await socket.receive_json_from(timeout=WAIT_SECONDS)
            assert [entry["id"] for entry in snapshot["entries"]] == [first]
            assert [
                stream["name"] for stream in (await dashboard.receive_json_from(timeout=WAIT_SECONDS))["streams"]
            ] == ["chennai"]

            await asyncio.to_thread(cluster.kill, gone)
            for page in (socket, dashboard):
                told = await receive_until(page, lambda message: message["type"] == "status", timeout=WAIT_SECONDS)
                assert told[-1]["redis"] == "unavailable" and told[-1]["message"]
                assert {message["type"] for message in told} <= {"status", "snapshot", "dashboard"}
            # A page opened while the node is gone is let in and told so, not closed with 1011.
            async with open_socket(application, "/ws/streams/chennai/tail/") as late:
                assert (await late.receive_json_from(timeout=WAIT_SECONDS))["redis"] == "unavailable"

            await asyncio.to_thread(cluster.restart, gone)
            back = await receive_until(socket, lambda message: message["type"] == "snapshot", timeout=30)
            assert [entry["id"] for entry in back[-1]["entries"]] == [first]
            assert {message["type"] for message in back} <= {"status", "snapshot"}, "no error, no 1011"
            with cluster.client() as writer:
                added = writer.xadd("chennai", {"temperature": "21"}).decode()
            later = await receive_until(
                socket,
                lambda message: message["type"] == "entries" and message["entries"][-1]["id"] == added,
                timeout=WAIT_SECONDS,
            )
            assert {message["type"] for message in later} <= {"status", "snapshot", "entries"}
            await receive_until(
                dashboard, lambda message: message["type"] == "dashboard" and message["streams"][0]["length"] == 2
            )

    run_live(scenario)
