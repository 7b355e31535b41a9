"""HeartbeatStore against the real redis-server: the one rule for "alive" (a heartbeat hash that
does not say "stopped"), a worker whose hash expired is "gone" and last seen when the index says,
values another program wrote read as defaults, and workers come newest first, at most `limit`."""

from __future__ import annotations

import json

import pytest

from streams_app.gateway.heartbeats import GONE, STOPPED, HeartbeatStore
from streams_app.gateway.keys import heartbeat_key, workers_index_key
from streams_app.gateway.worker_io import WorkerIO
from tests.support.workers import wait_until

GROUP = "processors"
SEEN = 1_750_000_000.0


@pytest.fixture
def heartbeats(redis_client) -> HeartbeatStore:
    return HeartbeatStore(redis_client)


def status(**changes: str) -> dict[str, str]:
    """A heartbeat hash as a running worker writes it (see streams_app/worker/heartbeat.py)."""
    return {
        "name": "alice",
        "host": "box-1",
        "pid": "4242",
        "group": GROUP,
        "streams": json.dumps(["chennai", "madurai"]),
        "started": f"{SEEN - 60:.3f}",
        "last_seen": f"{SEEN:.3f}",
        "processed": "120",
        "failed": "3",
        "dead_lettered": "1",
        "rate": "2.5",
        "state": "running",
        **changes,
    }


def publish(redis_client, name: str, fields: dict[str, str] | None, *, score: float = SEEN, group: str = GROUP) -> None:
    """A worker in the index (member "group<TAB>name", scored by when it was seen) and, unless
    None, its heartbeat hash."""
    redis_client.zadd(workers_index_key(), {f"{group}\t{name}": score})
    if fields is not None:
        redis_client.hset(heartbeat_key(group, name), mapping=fields)


def test_a_worker_with_a_live_heartbeat_is_alive_with_what_it_reported(heartbeats, redis_client):
    publish(redis_client, "alice", status())

    [worker] = heartbeats.workers()

    assert (worker.group, worker.name, worker.alive, worker.state) == (GROUP, "alice", True, "running")
    assert (worker.host, worker.pid, worker.streams) == ("box-1", 4242, ["chennai", "madurai"])
    assert (worker.processed, worker.failed, worker.dead_lettered, worker.rate) == (120, 3, 1, 2.5)
    assert worker.last_seen == SEEN and worker.started == SEEN - 60
    assert worker.last_seen_time is not None and worker.last_seen_time.timestamp() == SEEN
    assert worker.started_time is not None and worker.started_time.timestamp() == SEEN - 60


def test_a_heartbeat_without_a_state_reads_as_running(heartbeats, redis_client):
    fields = status()
    del fields["state"]
    publish(redis_client, "alice", fields)

    [worker] = heartbeats.workers()
    assert (worker.alive, worker.state) == (True, "running")


def test_a_worker_whose_last_heartbeat_says_stopped_is_not_alive(heartbeats, redis_client):
    publish(redis_client, "alice", status(state=STOPPED))

    [worker] = heartbeats.workers()

    assert (worker.alive, worker.state) == (False, "stopped")
    assert worker.processed == 120  # what it did is still shown


def test_any_other_state_of_a_live_hash_is_alive(heartbeats, redis_client):
    publish(redis_client, "alice", status(state="stopping"))

    [worker] = heartbeats.workers()
    assert (worker.alive, worker.state) == (True, "stopping")


def test_a_worker_whose_heartbeat_expired_is_gone_and_last_seen_when_the_index_says(heartbeats, redis_client):
    publish(redis_client, "alice", status(last_seen="1"), score=SEEN - 5)
    redis_client.pexpire(heartbeat_key(GROUP, "alice"), 1)
    wait_until(lambda: not redis_client.exists(heartbeat_key(GROUP, "alice")), what="the heartbeat to expire")

    [worker] = heartbeats.workers()

    assert (worker.name, worker.alive, worker.state, worker.last_seen) == ("alice", False, GONE, SEEN - 5)
    assert (worker.pid, worker.streams, worker.processed) == (None, [], 0)


def test_values_another_program_wrote_read_as_defaults(heartbeats, redis_client):
    junk = status(
        pid="x",
        rate="inf",
        processed="",
        failed="many",
        dead_lettered="1.5",
        started="not a time",
        last_seen="nan",
    )
    publish(redis_client, "alice", junk, score=SEEN - 7)

    [worker] = heartbeats.workers()

    assert worker.alive is True
    assert (worker.pid, worker.rate, worker.processed, worker.failed, worker.dead_lettered) == (None, 0.0, 0, 0, 0)
    assert worker.started is None and worker.started_time is None
    assert worker.last_seen == SEEN - 7  # the index's score stands in


def test_times_out_of_range_read_as_no_time(heartbeats, redis_client):
    publish(redis_client, "alice", status(started="1e300", rate="-nan"))

    [worker] = heartbeats.workers()

    assert worker.started == 1e300 and worker.started_time is None
    assert worker.rate == 0.0


def test_values_that_are_not_utf8_do_not_break_the_page(heartbeats, redis_client):
    publish(redis_client, "alice", status())
    redis_client.hset(heartbeat_key(GROUP, "alice"), mapping={"host": b"box-\xff", "pid": b"\xfe"})

    [worker] = heartbeats.workers()
    assert (worker.host, worker.pid) == ("box-\\xff", None)


def test_workers_come_newest_first_and_at_most_limit(heartbeats, redis_client):
    publish(redis_client, "old", status(), score=SEEN - 300)
    publish(redis_client, "newest", status(), score=SEEN)
    publish(redis_client, "middle", None, score=SEEN - 100)
    publish(redis_client, "other-group", status(), score=SEEN - 200, group="exporters")

    assert [w.name for w in heartbeats.workers()] == ["newest", "middle", "other-group", "old"]
    assert [(w.group, w.name) for w in heartbeats.workers(limit=3)] == [
        (GROUP, "newest"),
        (GROUP, "middle"),
        ("exporters", "other-group"),
    ]
    assert [w.name for w in heartbeats.workers(limit=1)] == ["newest"]


def test_no_workers_known_is_an_empty_list(heartbeats):
    assert heartbeats.workers() == []


def test_a_heartbeat_as_the_worker_publishes_it_is_alive_until_the_worker_retires(heartbeats, redis_client):
    worker_io = WorkerIO(redis_client)
    assert worker_io.beat(group=GROUP, name="alice", status=status(), ttl_ms=60_000, lock_token="t", lock_ttl_ms=60_000)
    [beating] = heartbeats.workers()
    assert (beating.name, beating.alive, beating.last_seen) == ("alice", True, SEEN)

    worker_io.retire(group=GROUP, name="alice", lock_token="t", status=status(state=STOPPED))

    [retired] = heartbeats.workers()
    assert (retired.alive, retired.state) == (False, STOPPED)
