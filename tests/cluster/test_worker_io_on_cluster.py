"""WorkerIO and StatsStore on a real Redis Cluster, with the worker's streams on every primary:
reads over several nodes without CROSSSLOT (each XREADGROUP straight to its node), none starved,
a blocked read woken by an entry on any node; acks, dead letters, errors and live events written
per slot with the next read; claims, delivery counts, touches, the heartbeat and the name lock;
the statistics merge; and a whole in-process worker draining streams on three nodes."""

from __future__ import annotations

import json
import threading
import time

import pytest

from streams_app.errors import NotFound
from streams_app.gateway.clients import connect_cluster
from streams_app.gateway.keys import (
    dead_letter_key,
    errors_key,
    heartbeat_key,
    name_lock_key,
    processed_events_key,
    workers_index_key,
)
from streams_app.gateway.stats import MinuteAggregate, StatsStore
from streams_app.gateway.worker_io import BatchOutcome, DeadLetter, WorkerIO
from streams_app.gateway.worker_reads import SLOT_BLOCK_MS
from tests.support.workers import wait_until
from tests.unit.worker.in_process import InProcessWorkers

GROUP = "mygroup"


@pytest.fixture
def streams(redis_cluster, cluster_client) -> list[str]:
    """One stream on each primary, each with the group at 0."""
    names = redis_cluster.names_on_each_primary("city")
    assert redis_cluster.on_different_primaries(*names)
    for name in names:
        cluster_client.xgroup_create(name, GROUP, id="0", mkstream=True)
    return names


@pytest.fixture
def io(redis_cluster, cluster_client):
    """A WorkerIO on the app's own cluster client, as a worker builds it."""
    client = connect_cluster(redis_cluster.url, socket_timeout=15)
    yield WorkerIO(client)
    client.close()


def add(client, stream: str, count: int, *, start: int = 0) -> list[str]:
    return [client.xadd(stream, {"n": str(n), "temperature": "21"}).decode() for n in range(start, start + count)]


def pending(client, stream: str, consumer: str | None = None) -> list[str]:
    rows = client.xpending_range(stream, GROUP, "-", "+", 1000, consumername=consumer)
    return [row["message_id"].decode() for row in rows]


def command_calls(redis_cluster, command: str) -> int:
    """How often `command` ran on the primaries since their statistics were reset."""
    total = 0
    for node in redis_cluster.primaries:
        with redis_cluster.node_client(node.port) as client:
            total += int(client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))
    return total


def reset_command_stats(redis_cluster) -> None:
    for node in redis_cluster.primaries:
        with redis_cluster.node_client(node.port) as client:
            client.config_resetstat()


# --- reads ------------------------------------------------------------------------------------


def test_one_read_takes_new_entries_of_streams_on_every_node(io, cluster_client, streams, redis_cluster):
    added = {stream: add(cluster_client, stream, 3) for stream in streams}
    reset_command_stats(redis_cluster)

    found = io.read(GROUP, "alice", dict.fromkeys(streams, ">"), count=10, block_ms=1000)

    assert {(d.stream, d.id) for d in found} == {(s, entry_id) for s, ids in added.items() for entry_id in ids}
    assert found[0].fields == {"n": "0", "temperature": "21"}
    # Each XREADGROUP went straight to its node: redis-py asked no node where its keys are.
    assert command_calls(redis_cluster, "command|getkeys") == 0
    assert command_calls(redis_cluster, "xreadgroup") == len(streams)
    assert all(pending(cluster_client, stream, "alice") == added[stream] for stream in streams)


def test_no_stream_is_starved_each_read_takes_a_batch_of_every_busy_stream(io, cluster_client, streams):
    added = {stream: add(cluster_client, stream, 9) for stream in streams}
    seen: dict[str, list[str]] = {stream: [] for stream in streams}

    for _ in range(3):
        found = io.read(GROUP, "alice", dict.fromkeys(streams, ">"), count=3, block_ms=1000)
        assert sorted({d.stream for d in found}) == sorted(streams), "every stream has its share of each read"
        for delivery in found:
            seen[delivery.stream].append(delivery.id)

    assert seen == added
    assert io.read(GROUP, "alice", dict.fromkeys(streams, ">"), count=3, block_ms=SLOT_BLOCK_MS * 3) == []


@pytest.mark.parametrize("which", [0, 1, 2], ids=["first primary", "second primary", "third primary"])
def test_a_blocked_read_wakes_up_to_an_entry_on_any_node(io, cluster_client, streams, which):
    """The read waits 20 s at most; it returns the entry (not an empty batch at the end), so it
    saw the entry while waiting, whichever node it came to."""
    found: list = []
    reader = threading.Thread(
        target=lambda: found.extend(io.read(GROUP, "alice", dict.fromkeys(streams, ">"), count=10, block_ms=20_000))
    )
    reader.start()
    time.sleep(SLOT_BLOCK_MS * 4 / 1000)  # the point of the test: the read is waiting before the entry comes
    [entry_id] = add(cluster_client, streams[which], 1)
    reader.join(timeout=30)

    assert not reader.is_alive()
    assert [(d.stream, d.id) for d in found] == [(streams[which], entry_id)]


def test_own_history_is_read_per_stream_from_each_position(io, cluster_client, streams):
    added = {stream: add(cluster_client, stream, 4) for stream in streams}
    io.read(GROUP, "alice", dict.fromkeys(streams, ">"), count=10, block_ms=None)

    positions = {streams[0]: "0", streams[1]: added[streams[1]][1], streams[2]: added[streams[2]][3]}
    history = io.read(GROUP, "alice", positions, count=10, block_ms=None)

    assert [(d.stream, d.id) for d in history] == [
        *((streams[0], entry_id) for entry_id in added[streams[0]]),
        *((streams[1], entry_id) for entry_id in added[streams[1]][2:]),
    ]


def test_a_group_gone_from_one_node_is_not_found(io, cluster_client, streams):
    cluster_client.xgroup_destroy(streams[1], GROUP)
    with pytest.raises(NotFound, match=GROUP):
        io.read(GROUP, "alice", dict.fromkeys(streams, ">"), count=10, block_ms=100)


# --- writing a batch back ------------------------------------------------------------------------


def letter(stream: str, entry_id: str) -> DeadLetter:
    return DeadLetter(
        stream=stream,
        id=entry_id,
        fields={"n": "1", "temperature": "hot"},
        group=GROUP,
        consumer="alice",
        deliveries=6,
        error="ValueError: not a number",
        dead_stream=dead_letter_key(stream),
    )


def test_the_outcome_is_written_per_slot_ahead_of_the_next_read(io, cluster_client, streams):
    added = {stream: add(cluster_client, stream, 3) for stream in streams}
    io.read(GROUP, "alice", dict.fromkeys(streams, ">"), count=10, block_ms=None)
    first, second, third = streams
    cluster_client.hset(errors_key(second, GROUP), added[second][0], "ValueError: earlier")
    outcome = BatchOutcome(
        acks={first: added[first], third: added[third][:2]},
        dead_letters=[letter(second, added[second][0])],
        failures={(third, added[third][2]): "ValueError: now"},
        events=[{"stream": first, "id": added[first][0]}],
        events_total=5,
        failed_total=1,
    )
    later = add(cluster_client, first, 1)

    found = io.read(GROUP, "alice", dict.fromkeys(streams, ">"), count=10, block_ms=1000, finishing=outcome)

    assert [(d.stream, d.id) for d in found] == [(first, later[0])]
    assert pending(cluster_client, first) == later
    assert pending(cluster_client, second) == added[second][1:]
    assert pending(cluster_client, third) == [added[third][2]]
    [(_, raw)] = cluster_client.xrange(dead_letter_key(second))
    dead = {key.decode(): value.decode() for key, value in raw.items()}
    assert dead == {
        "stream": second,
        "id": added[second][0],
        "group": GROUP,
        "consumer": "alice",
        "deliveries": "6",
        "error": "ValueError: not a number",
        "orig:n": "1",
        "orig:temperature": "hot",
    }
    assert cluster_client.hget(errors_key(second, GROUP), added[second][0]) is None
    assert cluster_client.hget(errors_key(third, GROUP), added[third][2]) == b"ValueError: now"
    assert cluster_client.ttl(errors_key(third, GROUP)) > 0
    [(_, report)] = cluster_client.xrange(processed_events_key(GROUP))
    assert (report[b"processed"], report[b"failed"]) == (b"5", b"1")
    assert json.loads(report[b"entries"]) == [{"stream": first, "id": added[first][0]}]


def test_finish_batch_dead_letters_and_acks_on_every_node(io, cluster_client, streams):
    added = {stream: add(cluster_client, stream, 2) for stream in streams}
    io.read(GROUP, "alice", dict.fromkeys(streams, ">"), count=10, block_ms=None)
    for stream in streams:
        cluster_client.hset(errors_key(stream, GROUP), added[stream][1], "ValueError: earlier")

    io.finish_batch(
        GROUP,
        "alice",
        BatchOutcome(
            acks={stream: [added[stream][1]] for stream in streams},
            dead_letters=[letter(stream, added[stream][0]) for stream in streams],
            clear_errors=True,
        ),
    )

    for stream in streams:
        assert pending(cluster_client, stream) == []
        assert [fields[b"id"].decode() for _, fields in cluster_client.xrange(dead_letter_key(stream))] == [
            added[stream][0]
        ]
        assert cluster_client.hlen(errors_key(stream, GROUP)) == 0


def test_last_errors_and_delivery_counts_come_from_each_slot(io, cluster_client, streams):
    added = {stream: add(cluster_client, stream, 2) for stream in streams}
    io.read(GROUP, "alice", dict.fromkeys(streams, ">"), count=10, block_ms=None)
    io.read(GROUP, "alice", dict.fromkeys(streams, "0"), count=1, block_ms=None)  # the first of each again
    for stream in streams:
        cluster_client.hset(errors_key(stream, GROUP), added[stream][0], f"error in {stream}")

    errors = io.last_errors(GROUP, [(stream, added[stream][0]) for stream in streams])

    assert errors == {(stream, added[stream][0]): f"error in {stream}" for stream in streams}
    for stream in streams:
        assert io.delivery_counts(stream, GROUP, "alice", added[stream]) == {added[stream][0]: 2, added[stream][1]: 1}


# --- claims and liveness -----------------------------------------------------------------------


def test_claims_and_touches_go_stream_by_stream(io, cluster_client, streams):
    added = {stream: add(cluster_client, stream, 2) for stream in streams}
    io.read(GROUP, "ghost", dict.fromkeys(streams, ">"), count=10, block_ms=None)
    wait_until(
        lambda: all(
            row["time_since_delivered"] >= 50
            for s in streams
            for row in cluster_client.xpending_range(s, GROUP, "-", "+", 10)
        ),
        what="the ghost's entries idle 50 ms",
    )

    for stream in streams:
        result = io.autoclaim(stream, GROUP, "bob", min_idle_ms=50, cursor="0-0", count=10)
        assert [d.id for d in result.deliveries] == added[stream] and result.next_cursor == "0-0"
        assert pending(cluster_client, stream, "bob") == added[stream]

    in_hand = {stream: added[stream] for stream in streams}
    assert io.touch(GROUP, "bob", in_hand) == 2 * len(streams)
    assert io.touch(GROUP, "ghost", in_hand) == 0, "never an entry another consumer holds"
    assert io.touch(GROUP, "bob", {}) == 0


def test_the_heartbeat_and_the_name_lock_on_a_cluster(io, cluster_client):
    status = {"name": "alice", "state": "running", "last_seen": f"{time.time():.3f}"}
    lock = name_lock_key(GROUP, "alice")

    assert io.beat(group=GROUP, name="alice", status=status, ttl_ms=60_000, lock_token="t1", lock_ttl_ms=60_000)
    assert cluster_client.hget(heartbeat_key(GROUP, "alice"), "state") == b"running"
    assert cluster_client.zscore(workers_index_key(), f"{GROUP}\talice") is not None
    assert io.lock_holder(lock) == "t1"
    assert not io.hold_lock(lock, "t2", 60_000), "another token does not get the name"
    assert not io.beat(group=GROUP, name="alice", status=status, ttl_ms=60_000, lock_token="t2", lock_ttl_ms=60_000)
    assert not io.take_over_lock(lock, "not-the-holder", "t2", 60_000)
    assert io.take_over_lock(lock, "t1", "t2", 60_000)

    io.retire(group=GROUP, name="alice", lock_token="t2", status={**status, "state": "stopped"})

    assert cluster_client.exists(lock) == 0
    assert cluster_client.hget(heartbeat_key(GROUP, "alice"), "state") == b"stopped"
    assert io.hold_lock(lock, "t3", 60_000)


def test_reset_drops_every_node_s_connections_and_the_next_call_reconnects(io, cluster_client, streams):
    add(cluster_client, streams[2], 1)
    io.reset()
    assert len(io.read(GROUP, "alice", dict.fromkeys(streams, ">"), count=10, block_ms=None)) == 1


# --- statistics ----------------------------------------------------------------------------------


def test_the_statistics_of_cities_on_every_node_merge(redis_cluster, cluster_client, streams):
    client = connect_cluster(redis_cluster.url)
    stats = StatsStore(client)
    aggregates = []
    for n, city in enumerate(streams):
        for minute in (7, 8):
            aggregate = MinuteAggregate(city=city, minute=minute)
            aggregate.add({"temperature": 20.0 + n})
            aggregate.add({"temperature": 30.0 + n})
            aggregates.append(aggregate)

    stats.merge(aggregates)
    stats.merge(aggregates[:1])

    for n, city in enumerate(streams):
        minutes = stats.minutes(city, fields=["temperature"])
        assert [(m.minute, m.count) for m in minutes] == [(7, 4 if n == 0 else 2), (8, 2)]
        temperature = minutes[1].fields["temperature"]
        assert (temperature.low, temperature.high, temperature.mean) == (20.0 + n, 30.0 + n, 25.0 + n)
    client.close()


# --- a whole worker --------------------------------------------------------------------------------


def test_an_in_process_worker_drains_streams_on_three_nodes(redis_cluster, cluster_client, streams):
    workers = InProcessWorkers(
        cluster_client, connect=lambda config: connect_cluster(redis_cluster.url, socket_timeout=10)
    )
    seen: list[tuple[str, str]] = []
    try:
        running = workers.run(lambda message: seen.append((message.stream, message.id)), streams=tuple(streams))
        assert running.worker.io.on_cluster
        added = {(stream, entry_id) for stream in streams for entry_id in add(cluster_client, stream, 20)}
        wait_until(lambda: set(seen) == added, what="the first 60 entries")
        # Then entries that come one at a time, to each node in turn, while the worker waits.
        for n in range(6):
            stream = streams[n % 3]
            [entry_id] = add(cluster_client, stream, 1, start=100 + n)
            added.add((stream, entry_id))
            wait_until(lambda: (stream, entry_id) in seen, what=f"entry {n} on {stream} read")  # noqa: B023

        wait_until(lambda: all(not pending(cluster_client, s) for s in streams), what="every entry acked")
        assert sorted(seen) == sorted(added), "each entry once"
        assert running.stop() == 0
        assert cluster_client.hget(heartbeat_key(GROUP, "alice"), "state") == b"stopped"
    finally:
        workers.stop_all()
