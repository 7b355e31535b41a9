"""A live socket whose consumer fails, wherever it fails (connecting, a frame, the relay, a
snapshot, the channel layer), logs it once, lets go of its feed or channel-layer group and its
tasks, and closes with 1011 after telling the page; feeds stop once their last tab goes, and
no Redis read is left running."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
import redis.cluster
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from streams_app.errors import RedisUnavailable
from streams_app.gateway.errors import guarded
from streams_app.jobs.progress import job_group, job_start
from streams_app.live import feeds, messages, registry
from streams_app.live.consumers import JobConsumer, StreamTailConsumer
from tests.unit.live.sockets import closed_with, live_application, open_socket, refusal, run_live

pytestmark = pytest.mark.django_db(transaction=True)

STREAM = "chennai"
TAIL = f"/ws/streams/{STREAM}/tail/"
FAILED = messages.server_failed()


class Boom(RuntimeError):
    """A bug in a consumer, as a test plants it."""


def boom(*args, **kwargs):
    raise Boom("a planted failure")


async def boom_async(*args, **kwargs):
    raise Boom("a planted failure")


@pytest.fixture
def quick_reaping(monkeypatch):
    """Feeds stop 0.2 s after their last tab leaves (looked for every 0.05 s), so tests can watch it."""
    monkeypatch.setattr(feeds, "IDLE_FEED_GRACE_SECONDS", 0.2)
    monkeypatch.setattr(registry, "REAP_EVERY_SECONDS", 0.05)


def failures_logged(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


def blocked_reads(redis_client) -> int:
    """Clients blocked in a read on the streams' Redis (on a cluster, on any primary)."""
    if isinstance(redis_client, redis.cluster.RedisCluster):
        per_node = redis_client.info("clients", target_nodes=redis.cluster.RedisCluster.PRIMARIES)
        return sum(info["blocked_clients"] for info in per_node.values())
    return redis_client.info("clients")["blocked_clients"]


async def no_feed_left(redis_client, seconds: float = 3.0) -> None:
    """Wait until this process has no feed and Redis has no blocked read of ours; fail after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    found = registry.registry()
    while found.feeds or blocked_reads(redis_client):
        assert loop.time() < deadline, f"still running: {list(found.feeds)}"
        await asyncio.sleep(0.05)


def test_a_failing_snapshot_on_connect_closes_with_1011_and_leaves_no_feed(
    redis_client, monkeypatch, quick_reaping, caplog
):
    redis_client.xadd(STREAM, {"temperature": "26"})
    monkeypatch.setattr(StreamTailConsumer, "snapshot", boom_async)

    async def scenario() -> None:
        refused = await refusal(live_application(), TAIL)
        assert (refused.code, refused.messages) == (messages.CLOSE_SERVER_ERROR, [FAILED])
        [feed] = registry.registry().feeds.values()
        assert feed.subscriptions == set(), "the socket left its feed at once"
        await no_feed_left(redis_client)
        assert feed.task.done()

    run_live(scenario)
    [logged] = failures_logged(caplog)
    assert logged.message == f"live socket {TAIL} failed; closing it"
    assert isinstance(logged.exc_info[1], Boom)


def test_a_failure_before_accepting_still_tells_the_page_and_closes_with_1011(redis_client, monkeypatch, caplog):
    redis_client.xadd(STREAM, {"temperature": "26"})
    monkeypatch.setattr(StreamTailConsumer, "check_target", boom_async)

    async def scenario() -> None:
        refused = await refusal(live_application(), TAIL)
        assert (refused.code, refused.messages) == (messages.CLOSE_SERVER_ERROR, [FAILED])
        assert registry.registry().feeds == {}
        assert registry.registry().sockets_by_user == {}

    run_live(scenario)
    assert len(failures_logged(caplog)) == 1


@pytest.mark.parametrize("where", ["relay", "receive", "snapshot on resync"])
def test_a_consumer_that_fails_once_open_lets_go_of_its_feed_and_closes_with_1011(
    redis_client, monkeypatch, quick_reaping, caplog, where
):
    redis_client.xadd(STREAM, {"temperature": "26"})

    async def scenario() -> None:
        async with open_socket(live_application(), TAIL) as socket:
            assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
            [feed] = registry.registry().feeds.values()
            if where == "relay":
                monkeypatch.setattr(StreamTailConsumer, "filter", boom)
                redis_client.xadd(STREAM, {"temperature": "27"})
            elif where == "receive":
                monkeypatch.setattr(StreamTailConsumer, "receive_json", boom_async)
                await socket.send_json_to({"action": "resync"})
            else:
                monkeypatch.setattr(StreamTailConsumer, "snapshot", boom_async)
                await socket.send_json_to({"action": "resync"})
            closed = await closed_with(socket)
            assert (closed.code, closed.messages) == (messages.CLOSE_SERVER_ERROR, [FAILED])
            assert feed.subscriptions == set()
            assert registry.registry().sockets_by_user == {}
            await no_feed_left(redis_client)

    run_live(scenario)
    assert len(failures_logged(caplog)) == 1, "logged once, not every few seconds"


def test_a_feed_stops_when_its_last_tab_goes_and_not_before(redis_client, quick_reaping):
    redis_client.xadd(STREAM, {"temperature": "26"})

    async def scenario() -> None:
        application = live_application()
        async with open_socket(application, TAIL) as first:
            async with open_socket(application, TAIL):
                [feed] = registry.registry().feeds.values()
                assert len(feed.subscriptions) == 2
            await asyncio.sleep(0.5)  # longer than the grace: one tab is still there
            assert registry.registry().feeds == {feed.key: feed} and not feed.task.done()
            added = redis_client.xadd(STREAM, {"temperature": "27"}).decode()
            await first.receive_json_from(timeout=5)  # the snapshot
            assert [entry["id"] for entry in (await first.receive_json_from(timeout=5))["entries"]] == [added]
        await no_feed_left(redis_client)
        assert feed.task.done()

    run_live(scenario)


def group_members(queue_client, job_id: str) -> int:
    return queue_client.zcard(get_channel_layer()._group_key(job_group(job_id)))


@pytest.mark.parametrize("where", ["re-reading the job", "the channel layer"])
def test_a_failing_job_socket_leaves_its_group_and_stops_reading(queue_client, owner, monkeypatch, caplog, where):
    monkeypatch.setattr(JobConsumer, "RESYNC_SECONDS", 0.05)
    job_id = job_start(kind="test", func=json.dumps, kwargs={"obj": []}, title="A test job", user_id=owner.pk)
    reads: list[str] = []

    async def scenario() -> None:
        async with open_socket(live_application(owner), f"/ws/jobs/{job_id}/") as socket:
            assert (await socket.receive_json_from(timeout=5))["state"] == "queued"
            assert group_members(queue_client, job_id) == 1
            if where == "re-reading the job":

                async def failing_read(self):
                    reads.append(self.job_id)
                    raise Boom("a planted failure")

                monkeypatch.setattr(JobConsumer, "read_status", failing_read)
            else:
                # What a Redis socket timeout in channels_redis's BZPOPMIN looked like (the old 1011).
                layer = get_channel_layer()
                monkeypatch.setattr(layer, "receive", boom_async)
                # The consumer is waiting in the real receive: one pushed message brings it to the planted one.
                await layer.group_send(job_group(job_id), {"type": "job.progress", "status": {}})
            closed = await closed_with(socket)
            assert closed.code == messages.CLOSE_SERVER_ERROR and closed.messages[-1] == FAILED
            assert group_members(queue_client, job_id) == 0
            before = len(reads)
            await asyncio.sleep(0.3)
            assert len(reads) == before, "nothing goes on reading the job"

    run_live(scenario)
    assert len(failures_logged(caplog)) == 1


@pytest.mark.parametrize(
    "error",
    [
        redis.exceptions.ClusterDownError("The cluster is down"),
        redis.exceptions.MasterDownError("Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
        redis.exceptions.TryAgainError("Multiple keys request during rehashing of slot"),
        redis.exceptions.ClusterError("TTL exhausted."),  # redirects that never settled
        redis.exceptions.SlotNotCoveredError('Slot "866" not covered by the cluster.'),
        redis.exceptions.RedisClusterException("Redis Cluster cannot be connected. Please provide at least one node"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_cluster_failure_on_a_live_read_is_redis_unavailable(error):
    # A real cluster gives CLUSTERDOWN and a node gone in tests/cluster/test_live_on_cluster.py;
    # TRYAGAIN and the rest need a resharding mid-read, so their redis-py errors are raised here.
    async def failing_read():
        raise error

    with pytest.raises(RedisUnavailable) as raised:
        asyncio.run(guarded(failing_read()))
    assert raised.value.__cause__ is error


def test_a_cluster_refusal_that_is_a_bug_stays_a_bug():
    async def crossslot_read():
        raise redis.exceptions.RedisClusterException("XREAD - all keys must map to the same key slot")

    with pytest.raises(redis.exceptions.RedisClusterException):
        asyncio.run(guarded(crossslot_read()))


class ClientGone(ConnectionResetError):
    """What a server's send raises once the page has gone (uvicorn: ClientDisconnected, an OSError)."""


async def gone_async(*args, **kwargs):
    raise ClientGone("the client went away")


@pytest.mark.parametrize("where", ["accept", "relay"])
def test_a_page_that_went_away_mid_send_is_let_go_of_quietly(redis_client, monkeypatch, quick_reaping, caplog, where):
    """A tab closed while it is being sent to is an everyday end: no error logged, no traceback,
    its feed and its place in the user's cap given back."""
    redis_client.xadd(STREAM, {"temperature": "26"})
    caplog.set_level(logging.INFO, logger="streams_app.live")

    async def scenario() -> None:
        communicator = WebsocketCommunicator(live_application(), TAIL)
        if where == "accept":
            monkeypatch.setattr(StreamTailConsumer, "accept", gone_async)
            await communicator.send_input({"type": "websocket.connect"})
        else:
            accepted, _ = await communicator.connect(timeout=5)
            assert accepted
            assert json.loads((await communicator.receive_output(timeout=5))["text"])["type"] == "snapshot"
            monkeypatch.setattr(StreamTailConsumer, "server_send", property(lambda self: gone_async))
            redis_client.xadd(STREAM, {"temperature": "27"})
        await communicator.wait(timeout=5)  # the consumer ended, without raising
        assert registry.registry().sockets_by_user == {}
        await no_feed_left(redis_client)

    run_live(scenario)
    assert failures_logged(caplog) == []
    assert any("the client went away (ClientGone)" in record.getMessage() for record in caplog.records)
