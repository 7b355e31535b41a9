"""A worker drains its streams through the failover of a primary: a real `run_consumer` on a
cluster of three primaries with one replica each (node timeout 1 s), the primary that serves
chennai killed with SIGKILL while entries are still being added and processed, its replica
promoted. The worker must keep running, and every entry that is in the stream after the
failover must be processed or dead-lettered.

Entries whose XADD the old primary acknowledged but which never reached its replica are lost
by Redis itself (replication is asynchronous: Redis Cluster's documented promise, not ours);
the test counts them and says how many, and fails only on what the worker lost."""

from __future__ import annotations

import threading

import pytest
import redis

from tests.support.worker_handlers import PROCESSED_KEY
from tests.support.workers import WorkerProcess, ledger, pending_count, processed_count, wait_until

pytestmark = pytest.mark.processes

STREAMS = ("chennai", "coimbatore")  # on different primaries
POISON = 3  # the fourth entry of chennai is refused until it is dead-lettered


@pytest.fixture
def records(redis_server):
    """The suite's single redis-server, where the record handler writes what it processed: off the
    cluster, so the failover cannot lose a record of what was done."""
    client = redis.Redis.from_url(redis_server.url)
    client.delete(PROCESSED_KEY)
    yield client
    client.close()


class Producer:
    """Adds entries to chennai, ten per round trip, until stopped; keeps the ID of every entry
    whose XADD Redis acknowledged."""

    def __init__(self, client) -> None:
        self.client = client
        self.acknowledged: list[str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            pipe = self.client.pipeline(transaction=False)
            for _ in range(10):
                fields = {"n": str(n), "temperature": "21", "humidity": "10"}
                if n == POISON:
                    fields["poison"] = "1"
                pipe.xadd("chennai", fields)
                n += 1
            try:
                self.acknowledged += [entry_id.decode() for entry_id in pipe.execute()]
            except redis.RedisError:
                return  # the primary is gone: what it did not acknowledge was never promised
            self.stopping.wait(0.02)


def test_a_worker_drains_chennai_through_the_failover_of_its_primary(replicated_cluster, redis_server, records):
    cluster = replicated_cluster
    assert cluster.on_different_primaries(*STREAMS)
    client = cluster.client()
    coimbatore_ids = [client.xadd("coimbatore", {"n": str(n), "temperature": "30"}).decode() for n in range(50)]
    worker = WorkerProcess(
        "alice",
        *(arg for stream in STREAMS for arg in ("--stream", stream)),
        *("--start-id", "0", "--count", "10", "--work-seconds", "0.005", "--block", "500"),
        *("--claim-idle", "1000", "--max-deliveries", "2"),
        redis_url=cluster.url,
        records_url=redis_server.url,
        env={"QUEUE_REDIS_URL": redis_server.url},
    )
    producer = Producer(client)
    try:
        worker.wait_for_output("is consuming")
        producer.thread.start()
        wait_until(lambda: processed_count(records) >= 100, what="alice to be draining")

        owner = cluster.primary_for("chennai")
        producer.stopping.set()
        cluster.kill(owner.port)  # SIGKILL while alice drains and entries were just added
        producer.thread.join(timeout=30)
        promoted = cluster.wait_for_failover(owner.port)
        assert worker.process.poll() is None, f"the worker stopped when its primary died:\n{worker.output[-3000:]}"

        after = cluster.client()  # a client that never knew the old primary
        survived = {entry_id.decode() for entry_id, _ in after.xrange("chennai")}
        lost_by_replication = set(producer.acknowledged) - survived
        later = {stream: [after.xadd(stream, {"n": "later", "temperature": "25"}).decode()] for stream in STREAMS}

        def drained() -> bool:
            assert worker.process.poll() is None, f"the worker stopped:\n{worker.output[-3000:]}"
            book = ledger(after, list(STREAMS), records=records)
            return not book.lost and all(pending_count(after, stream) == 0 for stream in STREAMS)

        wait_until(drained, timeout=60, what="every entry that survived the failover processed or dead-lettered")
        book = ledger(after, list(STREAMS), records=records)
        dead = {entry_id for stream, entry_id in book.dead if stream == "chennai"}
        processed = {entry_id for stream, entry_id in book.processed if stream == "chennai"}
        figures = (
            f"failover of primary {owner.port} to {promoted.port}: chennai {len(producer.acknowledged)} entries "
            f"acknowledged by XADD before the kill, {len(survived)} in the stream after it; lost by Redis's "
            f"asynchronous replication: {len(lost_by_replication)} "
            f"({len(lost_by_replication & processed)} of them processed before the kill); "
            f"processed {len(processed & survived)}, dead-lettered {len(dead & survived)}, "
            f"lost by the worker {len(book.lost)}; duplicates {book.duplicates}"
        )
        print(figures)
        assert book.lost == set(), figures
        assert survived <= processed | dead, figures
        assert {("coimbatore", entry_id) for entry_id in coimbatore_ids} <= set(book.processed), figures
        assert all((stream, ids[0]) in book.processed for stream, ids in later.items()), "entries added later"
        assert len(lost_by_replication) < len(producer.acknowledged), figures
        assert worker.process.poll() is None, "the worker kept running"
        after.close()
    finally:
        producer.stopping.set()
        worker.stop()
        client.close()
        print(f"--- alice ({worker.log_path}) ---\n{worker.output[-4000:]}")
