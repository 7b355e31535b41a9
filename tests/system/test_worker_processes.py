"""Real `manage.py run_consumer` processes against the suite's redis-server: load sharing,
crashes (SIGKILL), warm stops (SIGTERM), poison entries, Redis restarts and pauses,
entries deleted while pending. After each, a ledger over unique entries proves that every
entry was processed or dead-lettered (lost = 0) and counts duplicates."""

from __future__ import annotations

import signal
import time

import pytest

from streams_app.gateway.keys import dead_letter_key
from tests.support.workers import WorkerProcess, ledger, pending_count, processed_count, wait_until

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=False)]

STREAM = "chennai"


@pytest.fixture
def start_worker(redis_server, redis_client):
    started: list[WorkerProcess] = []

    def start(name: str, *args: str, streams=(STREAM,), **kwargs) -> WorkerProcess:
        stream_args = [arg for stream in streams for arg in ("--stream", stream)]
        worker = WorkerProcess(name, *stream_args, "--start-id", "0", *args, redis_url=redis_server.url, **kwargs)
        started.append(worker)
        worker.wait_for_output("is consuming")
        return worker

    yield start
    for worker in started:
        worker.stop()
    for worker in started:
        print(f"--- {worker.name} ({worker.log_path}) ---\n{worker.output[-4000:]}")


def add_entries(
    client, count: int, *, stream: str = STREAM, start: int = 0, poison: set[int] = frozenset()
) -> list[str]:
    pipe = client.pipeline(transaction=False)
    for n in range(start, start + count):
        fields = {"n": str(n), "temperature": "21", "humidity": "10"}
        if n in poison:
            fields["poison"] = "1"
        pipe.xadd(stream, fields)
    return [entry_id.decode() for entry_id in pipe.execute()]


def settled(client, total: int, streams=(STREAM,)) -> bool:
    book = ledger(client, list(streams))
    return len(book.all_ids) == total and not book.lost and all(pending_count(client, s) == 0 for s in streams)


def test_alice_and_bob_share_the_load_and_process_each_entry_once(start_worker, redis_client):
    alice = start_worker("alice", "--work-seconds", "0.01", "--count", "5")
    bob = start_worker("bob", "--work-seconds", "0.01", "--count", "5")
    add_entries(redis_client, 200)

    wait_until(lambda: settled(redis_client, 200), what="all 200 entries processed and acked")
    book = ledger(redis_client, [STREAM])
    assert book.lost == set()
    assert book.duplicates == 0
    assert book.by_consumer["alice"] > 0 and book.by_consumer["bob"] > 0
    assert book.by_consumer["alice"] + book.by_consumer["bob"] == 200
    assert "processing chennai" in alice.output and "processing chennai" in bob.output


def test_alice_killed_mid_batch_recovers_her_pending_entries_on_restart(start_worker, redis_client):
    alice = start_worker("alice", "--work-seconds", "0.05", "--count", "10", "--claim-idle", "600000")
    add_entries(redis_client, 60)
    wait_until(lambda: processed_count(redis_client) >= 12, what="alice to be mid-way")
    alice.kill()
    pending_before = pending_count(redis_client, STREAM)
    assert pending_before > 0, "a SIGKILL mid-batch leaves the batch pending"

    restarted = start_worker("alice", "--work-seconds", "0.01", "--count", "10", "--claim-idle", "600000")
    wait_until(lambda: settled(redis_client, 60), what="alice to finish after her restart")
    book = ledger(redis_client, [STREAM])
    assert book.lost == set()
    # At-least-once: only entries processed but not yet acked when she died run twice.
    assert book.duplicates <= 10
    assert "recovering" in restarted.output
    print(f"duplicates after SIGKILL mid-batch: {book.duplicates}")


def test_bob_claims_entries_of_alice_killed_for_good(start_worker, redis_client):
    alice = start_worker("alice", "--work-seconds", "0.05", "--count", "10", "--claim-idle", "1000")
    add_entries(redis_client, 40)
    wait_until(lambda: processed_count(redis_client) >= 5, what="alice to take a batch")
    alice.kill()
    assert pending_count(redis_client, STREAM) > 0

    bob = start_worker("bob", "--work-seconds", "0.005", "--count", "10", "--claim-idle", "1000")
    wait_until(lambda: settled(redis_client, 40), what="bob to claim and finish alice's entries")
    book = ledger(redis_client, [STREAM])
    assert book.lost == set()
    assert book.duplicates <= 10
    assert "claimed" in bob.output
    consumers = {c["name"].decode(): c["pending"] for c in redis_client.xinfo_consumers(STREAM, "mygroup")}
    assert consumers.get("alice", 0) == 0


def test_poison_entry_is_dead_lettered_after_max_deliveries_and_the_rest_processed(start_worker, redis_client):
    ids = add_entries(redis_client, 20, poison={7})
    start_worker("alice", "--count", "5", "--claim-idle", "200", "--max-deliveries", "3")

    wait_until(
        lambda: redis_client.xlen(dead_letter_key(STREAM)) == 1 and settled(redis_client, 20),
        what="the poison entry dead-lettered",
    )
    book = ledger(redis_client, [STREAM])
    assert book.lost == set()
    assert book.duplicates == 0
    assert (STREAM, ids[7]) in book.dead
    assert (STREAM, ids[7]) not in book.processed
    [(_, letter)] = redis_client.xrange(dead_letter_key(STREAM))
    letter = {k.decode(): v.decode() for k, v in letter.items()}
    assert letter["stream"] == STREAM and letter["id"] == ids[7]
    assert letter["group"] == "mygroup" and letter["consumer"] == "alice"
    assert int(letter["deliveries"]) == 4
    assert "poison entry" in letter["error"]
    assert letter["orig:n"] == "7" and letter["orig:poison"] == "1"


def test_sigterm_mid_batch_exits_0_acks_what_was_processed_and_nothing_else(start_worker, redis_client):
    alice = start_worker("alice", "--work-seconds", "0.05", "--count", "20", "--claim-idle", "600000")
    add_entries(redis_client, 60)
    wait_until(lambda: processed_count(redis_client) >= 5, what="alice to be mid-batch")

    assert alice.terminate() == 0
    book = ledger(redis_client, [STREAM])
    pending_ids = {
        entry["message_id"].decode() for entry in redis_client.xpending_range(STREAM, "mygroup", "-", "+", 1000)
    }
    processed_ids = {entry_id for _, entry_id in book.processed}
    assert processed_ids, "alice processed something before the stop"
    assert not processed_ids & pending_ids, "nothing processed is left pending"
    delivered = {entry_id for _, entry_id in book.all_ids if _delivered(redis_client, entry_id)}
    unprocessed_delivered = delivered - processed_ids
    assert unprocessed_delivered <= pending_ids, "nothing unprocessed is acked"
    assert book.duplicates == 0


def _delivered(client, entry_id: str) -> bool:
    [group] = client.xinfo_groups(STREAM)
    last = group["last-delivered-id"].decode()
    return tuple(map(int, entry_id.split("-"))) <= tuple(map(int, last.split("-")))


def test_second_signal_stops_at_once(start_worker, redis_client):
    alice = start_worker("alice", "--work-seconds", "2", "--count", "5", "--claim-idle", "600000")
    add_entries(redis_client, 5)
    wait_until(lambda: pending_count(redis_client, STREAM) > 0, what="alice to take a batch")
    alice.process.send_signal(signal.SIGTERM)
    alice.wait_for_output("finishing the entry in hand")
    alice.process.send_signal(signal.SIGTERM)
    assert alice.process.wait(timeout=5) != 0, "the second signal does not wait for the 2 s handler"
    book = ledger(redis_client, [STREAM])
    assert not book.processed
    delivered = {entry_id for _, entry_id in book.all_ids if _delivered(redis_client, entry_id)}
    pending_ids = {
        entry["message_id"].decode() for entry in redis_client.xpending_range(STREAM, "mygroup", "-", "+", 100)
    }
    assert delivered and pending_ids == delivered, "what was delivered stays pending for a later retry"


def test_worker_survives_redis_killed_and_restarted(start_worker, redis_client, redis_server):
    alice = start_worker("alice", "--work-seconds", "0.02", "--count", "10", "--block", "300", "--claim-idle", "2000")
    add_entries(redis_client, 50)
    wait_until(lambda: processed_count(redis_client) >= 10, what="alice to be working")
    redis_server.kill()
    alice.wait_for_output("unavailable")  # she noticed Redis was gone before it came back
    assert "unavailable (Redis is unavailable" not in alice.output, "messages are not nested"
    redis_server.start()  # same port, same directory: the AOF brings the data back
    add_entries(redis_client, 20, start=50)

    wait_until(lambda: settled(redis_client, 70), timeout=60, what="alice to finish after the restart")
    book = ledger(redis_client, [STREAM])
    assert book.lost == set()
    assert alice.process.poll() is None, "the worker kept running"
    print(f"duplicates after a Redis restart: {book.duplicates}")


def test_worker_survives_redis_paused_and_resumed(start_worker, redis_client, redis_server):
    alice = start_worker("alice", "--count", "10", "--block", "200", "--claim-idle", "2000")
    add_entries(redis_client, 10)
    wait_until(lambda: settled(redis_client, 10), what="the first entries")
    redis_server.pause()
    try:
        # The point of the test, not a wait for a condition: Redis stays silent longer than
        # the worker's socket timeout (block + 5 s), so its blocked read times out.
        time.sleep(6.5)
    finally:
        redis_server.resume()
    add_entries(redis_client, 10, start=10)
    wait_until(lambda: settled(redis_client, 20), timeout=60, what="entries added after the pause")
    assert alice.process.poll() is None, "the worker outlived the pause"


def test_entries_deleted_while_pending_are_acked_and_skipped(start_worker, redis_client):
    ids = add_entries(redis_client, 30)
    alice = start_worker("alice", "--work-seconds", "0.1", "--count", "30", "--claim-idle", "600000")
    wait_until(lambda: processed_count(redis_client) >= 2, what="alice to take the batch")
    alice.kill()
    processed = {entry_id for _, entry_id in ledger(redis_client, [STREAM]).processed}
    deleted = [entry_id for entry_id in ids if entry_id not in processed][:5]
    assert redis_client.xdel(STREAM, *deleted) == 5

    restarted = start_worker("alice", "--count", "30", "--claim-idle", "600000")
    wait_until(lambda: settled(redis_client, 25), what="the rest processed")
    book = ledger(redis_client, [STREAM])
    assert book.lost == set()
    assert not {(STREAM, entry_id) for entry_id in deleted} & set(book.processed)
    assert "deleted while pending" in restarted.output
    assert restarted.process.poll() is None


def test_deleted_entries_returned_by_xautoclaim_are_skipped(start_worker, redis_client):
    ids = add_entries(redis_client, 10)
    redis_client.xgroup_create(STREAM, "mygroup", id="0")
    redis_client.xreadgroup("mygroup", "ghost", {STREAM: ">"}, count=10)
    redis_client.xdel(STREAM, ids[0], ids[1])
    wait_until(lambda: idle_at_least(redis_client, 200), what="the ghost's entries idle longer than --claim-idle")

    bob = start_worker("bob", "--claim-idle", "200")
    wait_until(lambda: settled(redis_client, 8), what="bob to claim the ghost's entries")
    book = ledger(redis_client, [STREAM])
    assert book.lost == set() and book.duplicates == 0
    assert "deleted while pending" in bob.output


def idle_at_least(client, idle_ms: int) -> bool:
    """Whether every pending entry of the group has been idle for `idle_ms` or more."""
    rows = client.xpending_range(STREAM, "mygroup", "-", "+", 1000)
    return bool(rows) and all(row["time_since_delivered"] >= idle_ms for row in rows)


def test_a_second_alice_is_refused_while_the_first_lives(start_worker, redis_server, redis_client):
    first = start_worker("alice")
    second = WorkerProcess("alice", "--stream", STREAM, redis_url=redis_server.url)
    try:
        assert second.process.wait(timeout=20) == 2
        assert "already running" in second.output
    finally:
        second.stop()
    assert first.process.poll() is None
    assert first.terminate() == 0
    third = start_worker("alice")
    assert third.process.poll() is None


def test_a_different_group_may_reuse_the_name(start_worker):
    first = start_worker("alice")
    other = start_worker("alice", "--group", "othergroup")
    assert first.process.poll() is None and other.process.poll() is None


def test_a_slow_batch_is_not_claimed_from_a_live_worker(start_worker, redis_client):
    """Entries a live worker is still working on look busy, not abandoned: its heartbeat
    resets their idle time, so others claiming idle entries leave them alone."""
    alice = start_worker("alice", "--work-seconds", "0.3", "--count", "10", "--claim-idle", "1500")
    pipe = redis_client.pipeline(transaction=True)
    for n in range(30):
        pipe.xadd(STREAM, {"n": str(n), "temperature": "21", "humidity": "10"})
    pipe.execute()
    wait_until(lambda: pending_count(redis_client, STREAM) >= 10, what="alice to take a batch of 10")
    bob = start_worker("bob", "--work-seconds", "0.3", "--count", "10", "--claim-idle", "1500")

    wait_until(lambda: settled(redis_client, 30), timeout=60, what="all 30 processed")
    book = ledger(redis_client, [STREAM])
    assert book.lost == set()
    assert book.duplicates == 0, "no entry was taken from a worker that was still on it"
    assert "claimed" not in alice.output + bob.output
