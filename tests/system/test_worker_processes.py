"""Real `manage.py run_consumer` processes against the suite's Redis: load sharing, crashes
(SIGKILL), warm stops (SIGTERM), poison entries, Redis restarts and pauses, entries deleted
while pending. After each, a ledger over unique entries proves that every entry was processed
or dead-lettered (lost = 0) and counts duplicates.

In a cluster run (`--redis-cluster`) the streams are on the cluster, and the tests of crashes,
claims, poison and warm stops consume two streams that sit on different primaries there
(chennai on the third, coimbatore on the second); what the record handler processed is kept on
the suite's redis-server (`records`). On one node the same tests read the same two streams."""

from __future__ import annotations

import signal
import time

import pytest
import redis

from streams_app.gateway.keys import dead_letter_key
from tests.support.workers import WorkerProcess, ledger, pending_count, processed_count, wait_until

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=False)]

STREAM = "chennai"
# On different primaries of the test cluster (tests/cluster/test_cluster_harness.py).
STREAMS = ("chennai", "coimbatore")


@pytest.fixture
def records(redis_server, redis_client):
    """The suite's redis-server, where the record handler writes what it processed (emptied
    before each test by `redis_client`)."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def start_worker(redis_server, streams_url, redis_client):
    started: list[WorkerProcess] = []

    def start(name: str, *args: str, streams=(STREAM,), **kwargs) -> WorkerProcess:
        stream_args = [arg for stream in streams for arg in ("--stream", stream)]
        worker = WorkerProcess(
            name,
            *stream_args,
            "--start-id",
            "0",
            *args,
            redis_url=streams_url,
            records_url=redis_server.url,
            **kwargs,
        )
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


def add_to_each(client, count: int, *, streams=STREAMS, poison: set[int] = frozenset()) -> dict[str, list[str]]:
    """`count` entries on each of `streams` (those numbered in `poison` marked so on each)."""
    return {stream: add_entries(client, count, stream=stream, poison=poison) for stream in streams}


def pending_in(client, streams=STREAMS) -> int:
    return sum(pending_count(client, stream) for stream in streams)


def settled(client, records, total: int, streams=(STREAM,)) -> bool:
    book = ledger(client, list(streams), records=records)
    return len(book.all_ids) == total and not book.lost and pending_in(client, streams) == 0


def test_alice_and_bob_share_the_load_and_process_each_entry_once(start_worker, redis_client, records):
    alice = start_worker("alice", "--work-seconds", "0.01", "--count", "5", streams=STREAMS)
    bob = start_worker("bob", "--work-seconds", "0.01", "--count", "5", streams=STREAMS)
    add_to_each(redis_client, 100)

    wait_until(lambda: settled(redis_client, records, 200, STREAMS), what="all 200 entries processed and acked")
    book = ledger(redis_client, list(STREAMS), records=records)
    assert book.lost == set()
    assert book.duplicates == 0
    assert book.by_consumer["alice"] > 0 and book.by_consumer["bob"] > 0
    assert book.by_consumer["alice"] + book.by_consumer["bob"] == 200
    assert {stream for stream, _ in book.processed} == set(STREAMS)
    assert "processing chennai" in alice.output + bob.output
    assert "processing coimbatore" in alice.output + bob.output


def test_alice_killed_mid_batch_recovers_her_pending_entries_on_restart(start_worker, redis_client, records):
    alice = start_worker("alice", "--work-seconds", "0.05", "--count", "10", "--claim-idle", "600000", streams=STREAMS)
    add_to_each(redis_client, 30)
    wait_until(lambda: processed_count(records) >= 12, what="alice to be mid-way")
    alice.kill()
    pending_before = pending_in(redis_client)
    assert pending_before > 0, "a SIGKILL mid-batch leaves the batch pending"

    restarted = start_worker(
        "alice", "--work-seconds", "0.01", "--count", "10", "--claim-idle", "600000", streams=STREAMS
    )
    wait_until(lambda: settled(redis_client, records, 60, STREAMS), what="alice to finish after her restart")
    book = ledger(redis_client, list(STREAMS), records=records)
    assert book.lost == set()
    # At-least-once: only entries processed but not yet acked when she died run twice (a
    # batch holds up to --count entries of each stream).
    assert book.duplicates <= 10 * len(STREAMS)
    assert "recovering" in restarted.output
    print(f"duplicates after SIGKILL mid-batch: {book.duplicates}")


def test_bob_claims_entries_of_alice_killed_for_good(start_worker, redis_client, records):
    alice = start_worker("alice", "--work-seconds", "0.05", "--count", "10", "--claim-idle", "1000", streams=STREAMS)
    add_to_each(redis_client, 20)
    wait_until(lambda: processed_count(records) >= 5, what="alice to take a batch")
    alice.kill()
    assert pending_in(redis_client) > 0

    bob = start_worker("bob", "--work-seconds", "0.005", "--count", "10", "--claim-idle", "1000", streams=STREAMS)
    wait_until(lambda: settled(redis_client, records, 40, STREAMS), what="bob to claim and finish alice's entries")
    book = ledger(redis_client, list(STREAMS), records=records)
    assert book.lost == set()
    assert book.duplicates <= 10 * len(STREAMS)
    assert "claimed" in bob.output
    for stream in STREAMS:
        consumers = {c["name"].decode(): c["pending"] for c in redis_client.xinfo_consumers(stream, "mygroup")}
        assert consumers.get("alice", 0) == 0


def test_poison_entry_is_dead_lettered_after_max_deliveries_and_the_rest_processed(start_worker, redis_client, records):
    ids = add_to_each(redis_client, 10, poison={7})
    start_worker("alice", "--count", "5", "--claim-idle", "200", "--max-deliveries", "3", streams=STREAMS)

    wait_until(
        lambda: (
            all(redis_client.xlen(dead_letter_key(stream)) == 1 for stream in STREAMS)
            and settled(redis_client, records, 20, STREAMS)
        ),
        what="the poison entries dead-lettered",
    )
    book = ledger(redis_client, list(STREAMS), records=records)
    assert book.lost == set()
    assert book.duplicates == 0
    for stream in STREAMS:
        assert (stream, ids[stream][7]) in book.dead
        assert (stream, ids[stream][7]) not in book.processed
        [(_, letter)] = redis_client.xrange(dead_letter_key(stream))
        letter = {k.decode(): v.decode() for k, v in letter.items()}
        assert letter["stream"] == stream and letter["id"] == ids[stream][7]
        assert letter["group"] == "mygroup" and letter["consumer"] == "alice"
        assert int(letter["deliveries"]) == 4
        assert "poison entry" in letter["error"]
        assert letter["orig:n"] == "7" and letter["orig:poison"] == "1"


def test_sigterm_mid_batch_exits_0_acks_what_was_processed_and_nothing_else(start_worker, redis_client, records):
    alice = start_worker("alice", "--work-seconds", "0.05", "--count", "20", "--claim-idle", "600000", streams=STREAMS)
    add_to_each(redis_client, 30)
    wait_until(lambda: processed_count(records) >= 5, what="alice to be mid-batch")

    assert alice.terminate() == 0
    book = ledger(redis_client, list(STREAMS), records=records)
    processed = set(book.processed)
    assert processed, "alice processed something before the stop"
    pending = {(stream, entry_id) for stream in STREAMS for entry_id in pending_ids(redis_client, stream)}
    assert not processed & pending, "nothing processed is left pending"
    delivered = {(stream, entry_id) for stream, entry_id in book.all_ids if _delivered(redis_client, stream, entry_id)}
    assert delivered - processed <= pending, "nothing unprocessed is acked"
    assert book.duplicates == 0


def pending_ids(client, stream: str = STREAM) -> set[str]:
    return {entry["message_id"].decode() for entry in client.xpending_range(stream, "mygroup", "-", "+", 1000)}


def _delivered(client, stream: str, entry_id: str) -> bool:
    [group] = client.xinfo_groups(stream)
    last = group["last-delivered-id"].decode()
    return tuple(map(int, entry_id.split("-"))) <= tuple(map(int, last.split("-")))


def test_second_signal_stops_at_once(start_worker, redis_client, records):
    alice = start_worker("alice", "--work-seconds", "2", "--count", "5", "--claim-idle", "600000")
    add_entries(redis_client, 5)
    wait_until(lambda: pending_count(redis_client, STREAM) > 0, what="alice to take a batch")
    alice.process.send_signal(signal.SIGTERM)
    alice.wait_for_output("finishing the entry in hand")
    alice.process.send_signal(signal.SIGTERM)
    assert alice.process.wait(timeout=5) != 0, "the second signal does not wait for the 2 s handler"
    book = ledger(redis_client, [STREAM], records=records)
    assert not book.processed
    delivered = {entry_id for _, entry_id in book.all_ids if _delivered(redis_client, STREAM, entry_id)}
    assert delivered and pending_ids(redis_client) == delivered, "what was delivered stays pending for a later retry"


# Killing or pausing "the" Redis: in a cluster run that would be the queue's Redis, not the
# streams' (a cluster node going away is tests/cluster/test_failover.py).
@pytest.mark.single_node
def test_worker_survives_redis_killed_and_restarted(start_worker, redis_client, redis_server, records):
    alice = start_worker("alice", "--work-seconds", "0.02", "--count", "10", "--block", "300", "--claim-idle", "2000")
    add_entries(redis_client, 50)
    wait_until(lambda: processed_count(records) >= 10, what="alice to be working")
    redis_server.kill()
    alice.wait_for_output("unavailable")  # she noticed Redis was gone before it came back
    assert "unavailable (Redis is unavailable" not in alice.output, "messages are not nested"
    redis_server.start()  # same port, same directory: the AOF brings the data back
    add_entries(redis_client, 20, start=50)

    wait_until(lambda: settled(redis_client, records, 70), timeout=60, what="alice to finish after the restart")
    book = ledger(redis_client, [STREAM], records=records)
    assert book.lost == set()
    assert alice.process.poll() is None, "the worker kept running"
    print(f"duplicates after a Redis restart: {book.duplicates}")


@pytest.mark.single_node  # see above
def test_worker_survives_redis_paused_and_resumed(start_worker, redis_client, redis_server, records):
    alice = start_worker("alice", "--count", "10", "--block", "200", "--claim-idle", "2000")
    add_entries(redis_client, 10)
    wait_until(lambda: settled(redis_client, records, 10), what="the first entries")
    redis_server.pause()
    try:
        # The point of the test, not a wait for a condition: Redis stays silent longer than
        # the worker's socket timeout (block + 5 s), so its blocked read times out.
        time.sleep(6.5)
    finally:
        redis_server.resume()
    add_entries(redis_client, 10, start=10)
    wait_until(lambda: settled(redis_client, records, 20), timeout=60, what="entries added after the pause")
    assert alice.process.poll() is None, "the worker outlived the pause"


def test_entries_deleted_while_pending_are_acked_and_skipped(start_worker, redis_client, records):
    ids = add_entries(redis_client, 30)
    alice = start_worker("alice", "--work-seconds", "0.1", "--count", "30", "--claim-idle", "600000")
    wait_until(lambda: processed_count(records) >= 2, what="alice to take the batch")
    alice.kill()
    processed = {entry_id for _, entry_id in ledger(redis_client, [STREAM], records=records).processed}
    deleted = [entry_id for entry_id in ids if entry_id not in processed][:5]
    assert redis_client.xdel(STREAM, *deleted) == 5

    restarted = start_worker("alice", "--count", "30", "--claim-idle", "600000")
    wait_until(lambda: settled(redis_client, records, 25), what="the rest processed")
    book = ledger(redis_client, [STREAM], records=records)
    assert book.lost == set()
    assert not {(STREAM, entry_id) for entry_id in deleted} & set(book.processed)
    assert "deleted while pending" in restarted.output
    assert restarted.process.poll() is None


def test_deleted_entries_returned_by_xautoclaim_are_skipped(start_worker, redis_client, records):
    ids = add_entries(redis_client, 10)
    redis_client.xgroup_create(STREAM, "mygroup", id="0")
    redis_client.xreadgroup("mygroup", "ghost", {STREAM: ">"}, count=10)
    redis_client.xdel(STREAM, ids[0], ids[1])
    wait_until(lambda: idle_at_least(redis_client, 200), what="the ghost's entries idle longer than --claim-idle")

    bob = start_worker("bob", "--claim-idle", "200")
    wait_until(lambda: settled(redis_client, records, 8), what="bob to claim the ghost's entries")
    book = ledger(redis_client, [STREAM], records=records)
    assert book.lost == set() and book.duplicates == 0
    assert "deleted while pending" in bob.output


def idle_at_least(client, idle_ms: int) -> bool:
    """Whether every pending entry of the group has been idle for `idle_ms` or more."""
    rows = client.xpending_range(STREAM, "mygroup", "-", "+", 1000)
    return bool(rows) and all(row["time_since_delivered"] >= idle_ms for row in rows)


def test_a_second_alice_is_refused_while_the_first_lives(start_worker, streams_url, redis_client):
    first = start_worker("alice")
    second = WorkerProcess("alice", "--stream", STREAM, redis_url=streams_url)
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


def test_a_slow_batch_is_not_claimed_from_a_live_worker(start_worker, redis_client, records):
    """Entries a live worker is still working on look busy, not abandoned: its heartbeat
    resets their idle time, so others claiming idle entries leave them alone."""
    alice = start_worker("alice", "--work-seconds", "0.3", "--count", "10", "--claim-idle", "1500")
    # One transaction (one slot on a cluster): alice's blocked read wakes up to all 30, not the first.
    pipe = redis_client.pipeline(transaction=True)
    for n in range(30):
        pipe.xadd(STREAM, {"n": str(n), "temperature": "21", "humidity": "10"})
    pipe.execute()
    wait_until(lambda: pending_count(redis_client, STREAM) >= 10, what="alice to take a batch of 10")
    bob = start_worker("bob", "--work-seconds", "0.3", "--count", "10", "--claim-idle", "1500")

    wait_until(lambda: settled(redis_client, records, 30), timeout=60, what="all 30 processed")
    book = ledger(redis_client, [STREAM], records=records)
    assert book.lost == set()
    assert book.duplicates == 0, "no entry was taken from a worker that was still on it"
    assert "claimed" not in alice.output + bob.output


def test_a_worker_started_before_its_redis_waits_for_it_then_works(redis_server, records, tmp_path):
    """Started before Redis answers, a worker cannot tell one node from a cluster: it says it is
    waiting and starts once Redis is there (it never guesses a client it would keep for life)."""
    from tests.support.redis_server import RedisServer, free_port

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    alice = WorkerProcess("alice", "--stream", STREAM, "--start-id", "0", redis_url=url, records_url=redis_server.url)
    late = RedisServer(port=port, directory=tmp_path)
    try:
        alice.wait_for_output("Waiting for Redis before starting")
        late.start()
        alice.wait_for_output("is consuming", timeout=30)
        client = redis.Redis.from_url(url)
        add_entries(client, 5)
        wait_until(lambda: processed_count(records) == 5, what="alice to process what was added")
        assert "Traceback" not in alice.output
        client.close()
    finally:
        alice.stop()
        late.stop()
