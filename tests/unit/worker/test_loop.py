"""The worker's loop, in this process against the real redis-server: processing and acking,
failures left pending with their error, dead letters, a failing flush, entries deleted while
pending, a warm stop, and the handler times reported to the live pages."""

from __future__ import annotations

import json

from streams_app.gateway.keys import (
    dead_letter_key,
    errors_key,
    heartbeat_key,
    name_lock_key,
    processed_events_key,
)
from streams_app.worker import Message, sampling
from tests.support.workers import wait_until
from tests.unit.worker.in_process import GROUP, STREAM, add_readings, pending_ids, refuse_poison

DEAD = dead_letter_key(STREAM)


def recorded_error(client, entry_id: str) -> str | None:
    raw = client.hget(errors_key(STREAM, GROUP), entry_id)
    return None if raw is None else raw.decode()


def heartbeat_status(client, name: str = "alice") -> dict[str, str]:
    return {key.decode(): value.decode() for key, value in client.hgetall(heartbeat_key(GROUP, name)).items()}


def processing_reports(client) -> list[dict]:
    """What the worker published for the live pages, one report per batch, oldest first."""
    reports = []
    for _, raw in client.xrange(processed_events_key(GROUP)):
        report = {key.decode(): value.decode() for key, value in raw.items()}
        report["entries"] = json.loads(report["entries"])
        reports.append(report)
    return reports


def test_entries_are_handled_in_order_and_acked(workers, redis_client):
    ids = add_readings(redis_client, 10)
    seen: list[Message] = []
    running = workers.run(seen.append)

    wait_until(lambda: len(seen) == 10 and not pending_ids(redis_client), what="10 entries handled and acked")
    assert [message.id for message in seen] == ids
    first = seen[0]
    assert (first.stream, first.group, first.consumer, first.deliveries) == (STREAM, GROUP, "alice", 1)
    assert first.fields == {"n": "0", "temperature": "21", "humidity": "10"}
    wait_until(lambda: running.worker.counters.processed == 10, what="the count of processed entries")
    assert running.stop() == 0


def test_a_raising_handler_leaves_the_entry_pending_with_its_error(workers, redis_client):
    ids = add_readings(redis_client, 5, poison={2})
    running = workers.run(refuse_poison)

    wait_until(
        lambda: recorded_error(redis_client, ids[2]) and pending_ids(redis_client) == [ids[2]],
        what="the refused entry pending with its error, the others acked",
    )
    assert f"ValueError: poison entry {ids[2]}" in recorded_error(redis_client, ids[2])
    assert running.worker.counters.failed == 1
    assert redis_client.xlen(DEAD) == 0


def test_an_entry_delivered_more_than_max_deliveries_is_dead_lettered_then_acked(workers, redis_client):
    ids = add_readings(redis_client, 3, poison={1})
    running = workers.run(refuse_poison, max_deliveries=2, claim_idle_ms=50)

    wait_until(
        lambda: redis_client.xlen(DEAD) == 1 and not pending_ids(redis_client),
        what="the poison entry dead-lettered and acked",
    )
    [(_, raw)] = redis_client.xrange(DEAD)
    letter = {key.decode(): value.decode() for key, value in raw.items()}
    error = letter.pop("error")
    assert letter == {
        "stream": STREAM,
        "id": ids[1],
        "group": GROUP,
        "consumer": "alice",
        "deliveries": "3",
        "orig:n": "1",
        "orig:temperature": "21",
        "orig:humidity": "10",
        "orig:poison": "1",
    }
    assert f"ValueError: poison entry {ids[1]}" in error
    assert recorded_error(redis_client, ids[1]) is None, "the error goes with the dead letter"
    wait_until(lambda: running.worker.counters.dead_lettered == 1, what="the dead letter counted")


def test_a_failing_flush_leaves_the_batch_pending(workers, redis_client):
    class BufferingHandler:
        def __init__(self) -> None:
            self.handled: list[str] = []

        def __call__(self, message: Message) -> None:
            self.handled.append(message.id)

        def flush(self) -> None:
            raise RuntimeError("the statistics could not be written")

    ids = add_readings(redis_client, 4)
    handler = BufferingHandler()
    running = workers.run(handler)

    wait_until(lambda: all(recorded_error(redis_client, entry_id) for entry_id in ids), what="the flush error recorded")
    assert handler.handled == ids
    assert pending_ids(redis_client) == ids
    assert "RuntimeError: the statistics could not be written" in recorded_error(redis_client, ids[0])
    assert running.worker.counters.processed == 0 and running.worker.counters.failed == 4


def test_request_stop_finishes_the_entry_in_hand_and_the_heartbeat_says_stopped(workers, redis_client):
    ids = add_readings(redis_client, 10)
    handled: list[str] = []

    def handler(message: Message) -> None:
        handled.append(message.id)
        if len(handled) == 3:
            worker.request_stop()

    worker = workers.build(handler)
    running = workers.start(worker)

    assert running.wait() == 0, "a warm stop exits 0"
    assert handled == ids[:3], "the entry in hand is finished, nothing after it"
    assert pending_ids(redis_client) == ids[3:], "what was handled is acked, the rest stays pending"
    status = heartbeat_status(redis_client)
    assert status["state"] == "stopped"
    assert status["processed"] == "3"
    assert redis_client.exists(name_lock_key(GROUP, "alice")) == 0, "the name is free at once"


def test_entries_deleted_while_pending_are_acked_skipped_and_counted_in_the_heartbeat(workers, redis_client):
    ids = add_readings(redis_client, 5)
    redis_client.xgroup_create(STREAM, GROUP, id="0")
    redis_client.xreadgroup(GROUP, "alice", {STREAM: ">"}, count=5)  # an earlier life of alice took them
    redis_client.xdel(STREAM, ids[0], ids[3])
    seen: list[str] = []
    workers.run(lambda message: seen.append(message.id))

    wait_until(
        lambda: not pending_ids(redis_client) and heartbeat_status(redis_client).get("skipped_deleted") == "2",
        what="the deleted entries skipped",
    )
    assert seen == [ids[1], ids[2], ids[4]]


def test_a_failed_entry_of_an_unsampled_batch_reports_its_real_handler_time(workers, redis_client, monkeypatch):
    # Only the first batch is sampled: the second (with the failure) is not.
    monkeypatch.setattr(sampling, "EVENT_INTERVAL_SECONDS", 3600.0)
    ids = add_readings(redis_client, 4, poison={3})
    workers.run(refuse_poison, count=2, work_seconds=0.02)

    wait_until(lambda: len(processing_reports(redis_client)) == 2, what="both batches reported")
    sampled, unsampled = processing_reports(redis_client)
    assert [entry["id"] for entry in sampled["entries"]] == ids[:2]
    assert (unsampled["processed"], unsampled["failed"]) == ("1", "1")
    [failure] = unsampled["entries"]
    assert failure["id"] == ids[3] and failure["ok"] is False
    # The handler time includes the 20 ms of simulated work, and nothing like perf_counter()'s origin.
    assert 20 <= failure["ms"] < 2000


def test_a_successful_entry_of_a_sampled_batch_reports_its_handler_time(workers, redis_client):
    ids = add_readings(redis_client, 1)
    workers.run(refuse_poison, work_seconds=0.02)

    wait_until(lambda: processing_reports(redis_client), what="the batch reported")
    [report] = processing_reports(redis_client)
    [entry] = report["entries"]
    assert entry["id"] == ids[0] and entry["ok"] is True
    assert 20 <= entry["ms"] < 2000
