"""The consumer-group worker: the tutorial's alice and bob, made safe for production.

At-least-once: an entry is acked only after its handler returned. A worker first works
through its own pending entries (left by an earlier life), then reads new ones; it
claims entries that stayed idle too long with any consumer (dead ones included), moves
entries delivered too often to a dead-letter stream, survives Redis going away, and
stops warmly on the first SIGTERM/SIGINT. This module is its life cycle and its read
loop; the batch itself is processing.py's. Nothing here knows about Django.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Sequence

from streams_app.errors import DomainError, NotFound, RedisUnavailable
from streams_app.gateway.worker_io import BatchOutcome, Delivery, WorkerIO
from streams_app.worker.config import WorkerConfig
from streams_app.worker.counters import WorkerCounters
from streams_app.worker.entry_log import EntryLog
from streams_app.worker.heartbeat import Heartbeat
from streams_app.worker.message import Handler
from streams_app.worker.naming import NameLock
from streams_app.worker.processing import BatchProcessor
from streams_app.worker.stopping import Backoff, ReadInterrupted, StopRequest, sleep_unless

logger = logging.getLogger("streams_app.worker")

CLAIM_PAGES_PER_PASS = 10  # bounded, so new entries are not starved by a long claim pass


class Worker:
    """One named consumer in a group, from start to warm stop."""

    def __init__(
        self,
        config: WorkerConfig,
        handler: Handler,
        io: WorkerIO,
        *,
        host: str | None = None,
        pid: int | None = None,
    ) -> None:
        self.config = config
        self.handler = handler
        self.io = io
        self.host = host or socket.gethostname()
        self.pid = pid or os.getpid()
        self.counters = WorkerCounters()
        self._stop = StopRequest()
        self.name_lock = NameLock(
            io,
            group=config.group,
            name=config.name,
            host=self.host,
            pid=self.pid,
            started=self.counters.started,
            ttl_ms=config.lock_ttl_ms,
        )
        self._log = EntryLog(config.quiet_above_per_second)
        self._processor = BatchProcessor(
            config, handler, io, counters=self.counters, stop=self._stop, entry_log=self._log
        )
        self.heartbeat = Heartbeat(
            config,
            io,
            counters=self.counters,
            host=self.host,
            pid=self.pid,
            lock_token=self.name_lock.token,
            entries_in_hand=lambda: self._processor.in_hand,
            on_name_lost=self.request_stop,
        )
        # Own pending entries still to read, by stream (None once done): read first, from ID 0.
        self._history: dict[str, str] | None = None
        # The last batch's outcome, written together with the next read.
        self._uncommitted: BatchOutcome | None = None
        self._needs_prepare = False  # the groups may be gone (Redis restarted, group destroyed)
        self._claim_cursors = {stream: "0-0" for stream in config.streams}
        self._new_entries = {stream: ">" for stream in config.streams}  # the position of every read of new entries
        self._next_claim = 0.0
        self._backoff = Backoff()

    @property
    def stop_requested(self) -> bool:
        """Whether a stop was asked for (by a signal, request_stop() or a lost name)."""
        return self._stop.requested

    def install_signal_handlers(self) -> None:
        """The first SIGTERM/SIGINT asks for a warm stop, a second one stops at once."""
        self._stop.install_signal_handlers()

    def request_stop(self) -> None:
        """Finish the entry in hand, ack what is done, read nothing new, then return from run()."""
        self._stop.request()

    # --- life cycle -------------------------------------------------------------

    def run(self) -> int:
        """Work until asked to stop; returns the exit code (0 after a warm stop)."""
        self._start()
        try:
            while not self._stop.requested:
                try:
                    self._step()
                    self._backoff.reset()
                except RedisUnavailable as error:
                    self._wait_for_redis(error)
                except ReadInterrupted:
                    self.io.reset()  # the interrupted read's reply is still on the wire
                except NotFound as error:
                    logger.warning("%s; recreating the group", error.message)
                    self._needs_prepare = True
                    self._read_own_history_again()
                except Exception:
                    # Never crash-loop: log, wait, go on.
                    delay = self._backoff.next_delay()
                    logger.exception("unexpected error; going on in %.1f s", delay)
                    sleep_unless(lambda: self._stop.requested, delay)
                    self.io.reset()
                    self._read_own_history_again()
        finally:
            self._finish()
        return 0

    def _start(self) -> None:
        while True:
            try:
                self._prepare_groups()
                self.name_lock.acquire()
                break
            except RedisUnavailable as error:
                if self._stop.requested:
                    raise
                self._wait_for_redis(error, reconnecting=False)
            if self._stop.requested:
                raise SystemExit(0)
        self._history = {stream: "0" for stream in self.config.streams}
        self.heartbeat.state = "running"
        self.heartbeat.start()
        logger.info(
            "%s is consuming %s in group %s "
            "(batch %d, block %d ms, claim after %d ms idle, dead-letter after %d deliveries)",
            self.config.name,
            ", ".join(self.config.streams),
            self.config.group,
            self.config.count,
            self.config.block_ms,
            self.config.claim_idle_ms,
            self.config.max_deliveries,
        )

    def _prepare_groups(self) -> None:
        for stream in self.config.streams:
            created = self.io.ensure_group(stream, self.config.group, self.config.start_id)
            if created:
                logger.info("created consumer group %s on %s at %s", self.config.group, stream, self.config.start_id)
            else:
                logger.info("consumer group %s already exists on %s", self.config.group, stream)

    def _finish(self) -> None:
        self._commit_uncommitted()
        self.heartbeat.state = "stopped"
        self.heartbeat.stop()
        self._log.flush()
        try:
            self.io.retire(
                group=self.config.group,
                name=self.config.name,
                lock_token=self.name_lock.token,
                status=self.heartbeat.status(),
            )
        except DomainError as error:
            logger.warning("could not record the stop in Redis: %s", error.message)
        logger.info(
            "%s stopped: %d processed, %d failed, %d dead-lettered",
            self.config.name,
            self.counters.processed,
            self.counters.failed,
            self.counters.dead_lettered,
        )

    def _wait_for_redis(self, error: RedisUnavailable, *, reconnecting: bool = True) -> None:
        delay = self._backoff.next_delay()
        self.heartbeat.state = "reconnecting"
        logger.warning("%s Retrying in %.1f s.", error.message, delay)
        sleep_unless(lambda: self._stop.requested, delay)
        self.io.reset()  # after the wait: a cluster's map of its nodes is then the freshest
        if reconnecting:
            # Redis may have restarted (or a cluster failed over): recreate missing groups.
            self._needs_prepare = True
            self._read_own_history_again()

    def _read_own_history_again(self) -> None:
        """After a failed step: entries a failed read delivered (its reply lost, or cut short by
        another slot's error on a cluster) are in our pending list; read it again from ID 0."""
        self._history = {stream: "0" for stream in self.config.streams}

    # --- the loop ---------------------------------------------------------------

    def _step(self) -> None:
        self._log.tick()
        if self._needs_prepare:
            self._prepare_groups()
            self._needs_prepare = False
            self.heartbeat.state = "running"
        if self._history is not None:
            self._commit_uncommitted()
            self._read_history()
            return
        if time.monotonic() >= self._next_claim:
            self._commit_uncommitted()
            self._claim_stale()
            self._next_claim = time.monotonic() + self.config.claim_every_seconds
            if self._stop.requested:
                return
        with self._stop.interruptible():
            if self._stop.requested:
                return
            finishing = self._uncommitted
            deliveries = self.io.read(
                self.config.group,
                self.config.name,
                self._new_entries,
                count=self.config.count,
                block_ms=self._block_ms(),
                finishing=finishing,
            )
        if finishing is not None:
            self._committed(finishing)
            self._uncommitted = None
        if deliveries:
            # Acked with the next read, in the same round trip.
            self._uncommitted = self._process(deliveries, first_delivery=True)
        self._log.tick()

    def _block_ms(self) -> int:
        """Block no longer than the next claim pass is due."""
        until_claim = max(0.0, self._next_claim - time.monotonic())
        return max(1, min(self.config.block_ms, int(until_claim * 1000) + 1))

    def _read_history(self) -> None:
        """Our own pending entries, oldest first, from ID 0: what an earlier life left unacked."""
        assert self._history is not None
        deliveries = self.io.read(
            self.config.group, self.config.name, self._history, count=self.config.count, block_ms=None
        )
        if not deliveries:
            self._history = None
            return
        if self._history and all(position == "0" for position in self._history.values()):
            logger.info(
                "recovering %s%d pending entries of %s",
                "at least " if len(deliveries) >= self.config.count else "",
                len(deliveries),
                self.config.name,
            )
        for delivery in deliveries:
            self._history[delivery.stream] = delivery.id
        self._commit(self._process(deliveries, first_delivery=False))
        # A stream whose history came back short is done; keep reading the others.
        returned = {stream: sum(1 for d in deliveries if d.stream == stream) for stream in self._history}
        self._history = {stream: pos for stream, pos in self._history.items() if returned[stream] >= self.config.count}
        if not self._history:
            self._history = None

    def _claim_stale(self) -> None:
        """XAUTOCLAIM entries idle longer than claim_idle from any consumer (dead ones included)."""
        for stream in self.config.streams:
            for _ in range(CLAIM_PAGES_PER_PASS):
                if self._stop.requested:
                    return
                result = self.io.autoclaim(
                    stream,
                    self.config.group,
                    self.config.name,
                    min_idle_ms=self.config.claim_idle_ms,
                    cursor=self._claim_cursors[stream],
                    count=self.config.count,
                )
                self._claim_cursors[stream] = result.next_cursor
                for entry_id in result.deleted_ids:
                    self.counters.skipped_deleted += 1
                    logger.warning(
                        "entry %s of %s was deleted while pending; Redis dropped it from the group", entry_id, stream
                    )
                if result.deliveries:
                    logger.info("claimed %d idle entries of %s", len(result.deliveries), stream)
                    self._commit(self._process(result.deliveries, first_delivery=False))
                if result.next_cursor == "0-0":
                    break

    def _process(self, deliveries: Sequence[Delivery], *, first_delivery: bool) -> BatchOutcome:
        """Run the handler over one batch (see BatchProcessor.process)."""
        return self._processor.process(deliveries, first_delivery=first_delivery)

    # --- writing back -------------------------------------------------------------

    def _commit_uncommitted(self) -> None:
        if self._uncommitted is not None:
            outcome, self._uncommitted = self._uncommitted, None
            self._commit(outcome)

    def _committed(self, outcome: BatchOutcome) -> None:
        self.counters.processed += outcome.events_total
        self.counters.dead_lettered += len(outcome.dead_letters)

    def _commit(self, outcome: BatchOutcome) -> None:
        """Write the batch's acks, dead letters and events; retried while Redis is away.
        Acks are idempotent, so a retry after a lost reply does no harm."""
        if not outcome:
            return
        backoff = Backoff()
        while True:
            try:
                self.io.finish_batch(self.config.group, self.config.name, outcome)
                break
            except RedisUnavailable as error:
                if self._stop.requested and backoff.attempt >= 3:
                    acked = sum(len(ids) for ids in outcome.acks.values())
                    logger.error(
                        "stopping without acking %d processed entries (%s); they will be processed again",
                        acked,
                        error.message,
                    )
                    return
                delay = backoff.next_delay()
                logger.warning("Could not ack: %s Retrying in %.1f s.", error.message, delay)
                time.sleep(delay)
                self.io.reset()
        self._committed(outcome)
