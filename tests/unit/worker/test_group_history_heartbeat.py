"""The heartbeat records the group's last hour: an in-process worker on the real Redis adds a
sample of its group on each of its streams, at most once per sample interval, with its own
counters; a history it cannot write (a key holding something else) costs a gap, never the worker."""

from __future__ import annotations

import itertools
import logging
import time

from streams_app.gateway.group_history import GroupHistoryStore
from streams_app.gateway.groups import GroupStore
from streams_app.gateway.keys import history_key
from tests.support.workers import wait_until
from tests.unit.worker.in_process import GROUP, STREAM, add_readings, pending_ids, refuse_poison

EVERY = 0.3  # seconds between samples in these tests (10 in production); beats come every 0.1 s


def samples(redis_client, stream: str = STREAM):
    return GroupHistoryStore(redis_client).read(stream, GROUP).samples


def start(workers, handler, **overrides):
    worker = workers.build(handler, **overrides)
    worker.heartbeat.history_seconds = EVERY
    return workers.start(worker)


def test_a_running_worker_records_its_counters_and_the_groups_figures(workers, redis_client):
    add_readings(redis_client, 10, poison={3})
    running = start(workers, refuse_poison)
    wait_until(lambda: running.worker.counters.processed == 9, what="9 entries processed")

    newest = wait_until(
        lambda: (found := samples(redis_client)) and found[-1].processed == 9 and found[-1],
        what="a sample with the worker's counters",
    )
    assert newest.worker == "alice"
    assert newest.failed >= 1 and newest.failed == running.worker.counters.failed
    assert newest.started_ms == int(running.worker.counters.started * 1000)
    assert newest.pending == len(pending_ids(redis_client)) == 1  # the poison entry, left for a retry
    assert newest.lag == 0
    assert running.stop() == 0


def test_samples_come_at_most_once_per_interval_not_once_per_beat(workers, redis_client):
    running = start(workers, lambda message: None)
    wait_until(lambda: len(samples(redis_client)) >= 4, what="four samples")
    running.stop()

    times = [sample.ms for sample in samples(redis_client)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # A fixed cadence of EVERY, ticked by beats 0.1 s apart: never two in one beat's reach.
    assert min(gaps) >= EVERY * 1000 - 150, gaps


def test_a_worker_on_two_streams_records_on_each(workers, redis_client):
    add_readings(redis_client, 3, stream="coimbatore")
    running = start(workers, lambda message: None, streams=(STREAM, "coimbatore"))
    wait_until(lambda: running.worker.counters.processed == 3, what="3 entries processed")

    for stream in (STREAM, "coimbatore"):
        wait_until(
            lambda s=stream: any(x.processed == 3 for x in samples(redis_client, s)), what=f"a sample on {stream}"
        )
    running.stop()


def test_a_history_it_cannot_write_never_stops_the_worker(workers, redis_client, caplog):
    GroupStore(redis_client).create_group(STREAM, GROUP, start_id="0")
    redis_client.set(history_key(STREAM, GROUP), "not a stream")
    with caplog.at_level(logging.WARNING, logger="streams_app.worker"):
        running = start(workers, lambda message: None)
        add_readings(redis_client, 5)
        wait_until(lambda: running.worker.counters.processed == 5 and not pending_ids(redis_client), what="5 acked")
        wait_until(lambda: caplog.text.count("could not record the group's history") >= 1, what="the warning")
        time.sleep(EVERY * 3)  # a few more samples tried
    assert running.stop() == 0
    assert caplog.text.count("could not record the group's history") == 1  # said once, not every time
