"""The worker's hot read on one node (gateway.worker_reads.NodeReads: hiredis packs and decodes,
the entries built from the parsed reply), against the real redis-server: names and values that
are not UTF-8, names only their bytes tell apart, RESP2 and RESP3, a dropped connection, a group
destroyed under a running worker, and the entry log's lines."""

from __future__ import annotations

import logging

import pytest
import redis

from streams_app.gateway.clients import connect
from streams_app.gateway.keys import key_bytes, key_from_bytes
from streams_app.gateway.worker_io import BatchOutcome, WorkerIO
from streams_app.gateway.worker_reads import decoded_deliveries
from streams_app.worker import Message
from tests.support.workers import wait_until
from tests.unit.worker.in_process import GROUP, STREAM, InProcessWorkers, add_readings, pending_ids

NOT_UTF8 = key_from_bytes(b"caf\xe9")  # a stream another program named in Latin-1


def test_a_stream_named_in_bytes_that_are_not_utf8_is_read_handled_and_acked(workers, redis_client):
    raw_name = key_bytes(NOT_UTF8)
    entry_id = redis_client.xadd(raw_name, {b"temperature": b"21", b"note": b"\xff\xfe ok"}).decode()
    seen: list[Message] = []
    workers.run(seen.append, streams=(NOT_UTF8,))

    wait_until(lambda: seen and not pending_ids(redis_client, raw_name), what="the entry handled and acked")
    [message] = seen
    assert (message.stream, message.id) == (NOT_UTF8, entry_id)
    assert message.fields == {"temperature": "21", "note": "\\xff\\xfe ok"}, "as the pages show such bytes"


def test_streams_only_their_bytes_tell_apart_are_each_read_as_themselves(workers, redis_client):
    byte_ff, text_ff = key_from_bytes(b"\xff"), "\\xff"  # both look like \xff once decoded
    ids = {
        byte_ff: redis_client.xadd(key_bytes(byte_ff), {"n": "byte"}).decode(),
        text_ff: redis_client.xadd(text_ff, {"n": "text"}).decode(),
    }
    seen: list[Message] = []
    workers.run(seen.append, streams=(byte_ff, text_ff))

    wait_until(lambda: len(seen) == 2, what="both entries handled")
    assert {(m.stream, m.id, m.fields["n"]) for m in seen} == {
        (byte_ff, ids[byte_ff], "byte"),
        (text_ff, ids[text_ff], "text"),
    }
    wait_until(
        lambda: not pending_ids(redis_client, key_bytes(byte_ff)) and not pending_ids(redis_client, text_ff),
        what="both acked",
    )


@pytest.mark.single_node
@pytest.mark.parametrize("protocol", [2, 3])
def test_a_read_with_the_last_batch_acked_in_front_speaks_resp2_and_resp3(redis_server, redis_client, protocol):
    io = WorkerIO(redis.Redis.from_url(redis_server.url, protocol=protocol))
    ids = add_readings(redis_client, 3)
    io.ensure_group(STREAM, GROUP, "0")
    first = io.read(GROUP, "alice", {STREAM: ">"}, count=2, block_ms=None)
    assert [(d.stream, d.id, d.group, d.consumer, d.deliveries) for d in first] == [
        (STREAM, entry_id, GROUP, "alice", 1) for entry_id in ids[:2]
    ]
    assert first[0].fields == {"n": "0", "temperature": "21", "humidity": "10"}
    done = BatchOutcome(acks={STREAM: ids[:2]}, events_total=2)
    second = io.read(GROUP, "alice", {STREAM: ">"}, count=2, block_ms=100, finishing=done)
    assert [d.id for d in second] == ids[2:]
    assert pending_ids(redis_client) == ids[2:], "the acks went out with the read"
    assert io.read(GROUP, "alice", {STREAM: ">"}, count=2, block_ms=50) == []


@pytest.mark.single_node
def test_a_read_after_redis_dropped_the_connection_connects_again(redis_server, redis_client):
    io = WorkerIO(connect(redis_server.url))
    ids = add_readings(redis_client, 2)
    io.ensure_group(STREAM, GROUP, "0")
    assert [d.id for d in io.read(GROUP, "alice", {STREAM: ">"}, count=1, block_ms=None)] == ids[:1]
    killed = redis_client.client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1
    assert [d.id for d in io.read(GROUP, "alice", {STREAM: ">"}, count=1, block_ms=None)] == ids[1:]


def test_a_group_destroyed_under_a_running_worker_is_made_again(workers, redis_client):
    seen: list[str] = []
    workers.run(lambda message: seen.append(message.id))
    first = add_readings(redis_client, 2)
    wait_until(lambda: seen == first, what="the first entries handled")
    redis_client.xgroup_destroy(STREAM, GROUP)
    wait_until(lambda: any(g["name"].decode() == GROUP for g in redis_client.xinfo_groups(STREAM)), what="the group")
    later = add_readings(redis_client, 2)
    wait_until(lambda: later[-1] in seen and not pending_ids(redis_client), what="the later entries handled")


def test_the_entry_log_shows_entries_one_by_one_then_counts_them(workers, redis_client, caplog):
    caplog.set_level(logging.INFO, logger="streams_app.worker")
    ids = add_readings(redis_client, 12)
    running = workers.run(lambda message: None, quiet_above_per_second=5)
    wait_until(lambda: not pending_ids(redis_client) and running.worker.counters.processed == 12, what="all 12")
    running.stop()
    lines = [record.getMessage() for record in caplog.records if record.name == "streams_app.worker"]
    shown = [line for line in lines if line.startswith("processing ")]
    assert shown == [
        f"processing {STREAM} {entry_id} n={n} temperature=21 humidity=10" for n, entry_id in enumerate(ids[:5])
    ]
    [summary] = [line for line in lines if line.startswith("processed ")]
    assert summary.startswith("processed 12 entries in the last") and summary.endswith("7 not shown one by one)")


@pytest.fixture
def workers(redis_client):
    found = InProcessWorkers(redis_client)
    yield found
    found.stop_all()


@pytest.mark.parametrize(
    ("flat", "fields"),
    [
        (["temperature", "21.5", "humidity", "60"], {"temperature": "21.5", "humidity": "60"}),
        (["n", "1", "temperature", "21", "humidity", "10"], {"n": "1", "temperature": "21", "humidity": "10"}),
        (["a", "1", "a", "2"], {"a": "2"}),
        (["a", "1", "b", "2", "a", "3"], {"a": "3", "b": "2"}),
        (["x", "y"], {"x": "y"}),
        (["a", "1", "b", "2", "c", "3", "a", "4"], {"a": "4", "b": "2", "c": "3"}),
        (None, None),
    ],
)
def test_an_entrys_fields_are_a_dict_whatever_their_number_a_repeated_name_keeps_its_last_value(flat, fields):
    [delivery] = decoded_deliveries(STREAM, [["1-0", flat]], GROUP, "alice")
    assert (delivery.stream, delivery.id, delivery.fields, delivery.group, delivery.consumer) == (
        STREAM,
        "1-0",
        fields,
        GROUP,
        "alice",
    )
