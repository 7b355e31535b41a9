"""GroupHistoryStore against the real Redis (the redis-server, or the cluster): samples carry the
group's figures as XINFO GROUPS says them (lag None where Redis cannot tell) and the worker's
counts, with the server's time; nothing is written for a group or stream that is not there;
the key is bounded (MAX_SAMPLES, an hour, a TTL) and lives in the stream's hash slot."""

from __future__ import annotations

import time

import pytest

from streams_app.gateway.group_history import (
    HORIZON_SECONDS,
    MAX_SAMPLES,
    GroupHistoryStore,
    HistorySample,
)
from streams_app.gateway.groups import GroupStore
from streams_app.gateway.keys import history_key, internal_reason, slot_of

STREAM, GROUP = "chennai", "mygroup"
KEY = history_key(STREAM, GROUP)
# Measured on Redis 7.0: ~47 bytes a sample, ~170 KB at the cap (the README says so); with room.
MEMORY_BOUND = 250_000


@pytest.fixture
def history(redis_client) -> GroupHistoryStore:
    return GroupHistoryStore(redis_client)


@pytest.fixture
def group(redis_client) -> None:
    """The group with 5 entries: 2 delivered to alice (pending), 3 not yet delivered (lag)."""
    GroupStore(redis_client).create_group(STREAM, GROUP, start_id="0")  # with ENTRIESREAD: Redis knows the lag
    for n in range(5):
        redis_client.xadd(STREAM, {"n": str(n)})
    redis_client.xreadgroup(GROUP, "alice", {STREAM: ">"}, count=2)


def record(history: GroupHistoryStore, worker: str = "alice", **counts: int) -> int:
    values = {"processed": 0, "failed": 0, "started_ms": 1_700_000_000_000, **counts}
    return history.record(group=GROUP, worker=worker, streams=[STREAM], **values)


def server_ms(redis_client) -> int:
    seconds, micros = (
        redis_client.time(target_nodes=redis_client.get_node_from_key(STREAM))
        if hasattr(redis_client, "get_node_from_key")
        else redis_client.time()
    )
    return seconds * 1000 + micros // 1000


def test_the_key_is_the_streams_companion_and_internal():
    assert KEY == "weatherstreams:{chennai}:history:mygroup"
    assert slot_of(KEY) == slot_of(STREAM)
    assert slot_of(history_key("{eu}.chennai", GROUP)) == slot_of("{eu}.chennai")
    assert internal_reason(KEY) is not None


def test_a_sample_round_trips_with_the_groups_figures_and_the_servers_time(history, redis_client, group):
    before = server_ms(redis_client)
    assert record(history, processed=12, failed=3) == 1
    after = server_ms(redis_client)

    read = history.read(STREAM, GROUP)
    [sample] = read.samples
    assert sample == HistorySample(
        ms=sample.ms, worker="alice", processed=12, failed=3, started_ms=1_700_000_000_000, pending=2, lag=3
    )
    assert before <= sample.ms <= after <= read.now_ms + 5  # one clock: the server's
    assert read.now_ms - before < 60_000


def test_samples_of_several_workers_come_back_oldest_first(history, group):
    for n in range(3):
        record(history, "alice", processed=n * 10)
        record(history, "bob", processed=n * 20)

    samples = history.read(STREAM, GROUP).samples
    assert [(s.worker, s.processed) for s in samples] == [
        ("alice", 0),
        ("bob", 0),
        ("alice", 10),
        ("bob", 20),
        ("alice", 20),
        ("bob", 40),
    ]
    assert [s.ms for s in samples] == sorted(s.ms for s in samples)


def test_a_name_that_is_not_utf8_round_trips(history, group):
    record(history, "caf\udce9")  # the byte 0xe9, as a surrogate escape
    assert history.read(STREAM, GROUP).samples[0].worker == "caf\udce9"


def test_lag_redis_cannot_tell_stays_none(history, redis_client):
    """The tutorial's flow (XGROUP CREATE … $ from redis-cli): Redis 7.0 says nil, and so does the sample."""
    redis_client.execute_command("XADD", STREAM, "1", "temperature", "29")
    redis_client.execute_command("XGROUP", "CREATE", STREAM, GROUP, "$")
    for _ in range(3):
        redis_client.xadd(STREAM, {"temperature": "21"})
    redis_client.xreadgroup(GROUP, "alice", {STREAM: ">"}, count=1)
    [says] = redis_client.xinfo_groups(STREAM)

    record(history)
    [sample] = history.read(STREAM, GROUP).samples
    assert sample.lag == says.get("lag")  # None on Redis 7.0: kept None, never guessed
    assert sample.pending == 1


def test_nothing_is_written_for_a_missing_group_stream_or_a_key_that_is_not_a_stream(history, redis_client, group):
    assert history.record(group="other", worker="alice", streams=[STREAM], processed=1, failed=0, started_ms=1) == 0
    assert history.record(group=GROUP, worker="alice", streams=["nowhere"], processed=1, failed=0, started_ms=1) == 0
    redis_client.set("plain", "x")
    assert history.record(group=GROUP, worker="alice", streams=["plain"], processed=1, failed=0, started_ms=1) == 0
    assert redis_client.exists(history_key("other", GROUP), history_key("nowhere", GROUP)) == 0
    assert history.read("nowhere", GROUP).samples == []


def test_each_stream_of_a_worker_gets_its_own_sample(history, redis_client, group):
    GroupStore(redis_client).create_group("coimbatore", GROUP, start_id="0")
    redis_client.xadd("coimbatore", {"n": "1"})

    added = history.record(
        group=GROUP, worker="alice", streams=[STREAM, "coimbatore"], processed=7, failed=0, started_ms=1
    )
    assert added == 2
    assert history.read(STREAM, GROUP).samples[0].lag == 3
    assert history.read("coimbatore", GROUP).samples[0].lag == 1


def test_the_key_is_capped_by_count_and_memory_however_many_workers(history, redis_client, group):
    for n in range(MAX_SAMPLES + 400):
        record(history, f"worker-{n % 40}", processed=n * 1000, failed=n)

    assert redis_client.xlen(KEY) == MAX_SAMPLES
    assert redis_client.memory_usage(KEY, samples=0) < MEMORY_BOUND
    samples = history.read(STREAM, GROUP).samples
    assert len(samples) == MAX_SAMPLES
    assert samples[-1].processed == (MAX_SAMPLES + 399) * 1000  # the newest are kept
    assert samples[0].processed == 400 * 1000


def test_samples_older_than_the_hour_are_dropped_and_never_read(history, redis_client, group):
    old = server_ms(redis_client) - HORIZON_SECONDS * 1000 - 60_000
    fields = {"worker": "old", "processed": "1", "failed": "0", "started": "1", "pending": "0", "lag": "0"}
    for n in range(500):  # samples of an hour ago, written as the script would have then
        redis_client.xadd(KEY, fields, id=f"{old + n}-0")

    record(history, processed=5)

    assert [s.worker for s in history.read(STREAM, GROUP).samples] == ["alice"]
    assert redis_client.xlen(KEY) < 100  # MINID ~: whole nodes of old samples went (one may linger)


def test_the_key_expires_an_hour_after_its_last_sample(history, redis_client, group):
    record(history)
    ttl_ms = redis_client.pttl(KEY)
    assert HORIZON_SECONDS * 1000 < ttl_ms <= (HORIZON_SECONDS + 10) * 1000


def test_forget_deletes_the_history(history, redis_client, group):
    record(history)
    history.forget(STREAM, GROUP)
    assert redis_client.exists(KEY) == 0


def test_recording_after_a_script_flush_loads_the_script_again(history, redis_client, group):
    record(history)
    redis_client.script_flush()
    assert record(history, processed=1) == 1
    assert len(history.read(STREAM, GROUP).samples) == 2


# On a cluster each script runs on its own (redis-py refuses scripts in a cluster pipeline).
@pytest.mark.single_node
def test_a_record_takes_one_round_trip_on_one_node(redis_client, group):
    """Every stream's script in one pipeline, as EVALSHA (no SCRIPT EXISTS first): counted by the server."""
    history = GroupHistoryStore(redis_client)
    record(history)  # loads the script
    before = _calls(redis_client)
    record(history)
    record(history)
    time.sleep(0.01)
    calls = {name: count - before.get(name, 0) for name, count in _calls(redis_client).items()}
    assert calls.get("evalsha", 0) == 2
    assert "script|exists" not in {name for name, count in calls.items() if count}


def _calls(redis_client) -> dict[str, int]:
    found = redis_client.info("commandstats")
    return {name.removeprefix("cmdstat_"): stats["calls"] for name, stats in found.items()}
