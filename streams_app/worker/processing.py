"""One batch: run the handler on each entry, dead-letter entries delivered too often, skip
entries deleted while pending, flush the handler, and say what the batch leaves behind
(acks, dead letters, failures, live events). Writing that back is the loop's job."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Sequence

from streams_app.gateway.worker_io import BatchOutcome, DeadLetter, Delivery, WorkerIO
from streams_app.worker.config import WorkerConfig
from streams_app.worker.counters import WorkerCounters
from streams_app.worker.entry_log import EntryLog
from streams_app.worker.message import Handler, Message
from streams_app.worker.sampling import EventSampler
from streams_app.worker.stopping import StopRequest

logger = logging.getLogger("streams_app.worker")

NO_ERROR_RECORDED = "unknown (no error was recorded)"


class BatchProcessor:
    """Runs a worker's handler over its batches."""

    def __init__(
        self,
        config: WorkerConfig,
        handler: Handler,
        io: WorkerIO,
        *,
        counters: WorkerCounters,
        stop: StopRequest,
        entry_log: EntryLog,
    ) -> None:
        self.config = config
        self.handler = handler
        self.io = io
        self.counters = counters
        self.stop = stop
        self.entry_log = entry_log
        self.sampler = EventSampler()
        self._batch: Sequence[Delivery] = ()  # the batch being handled

    @property
    def in_hand(self) -> dict[str, list[str]]:
        """The batch being handled, its IDs by stream: the heartbeat keeps it from looking
        abandoned (read from the heartbeat's thread; the batch itself is never changed)."""
        by_stream: dict[str, list[str]] = {}
        for delivery in self._batch:
            by_stream.setdefault(delivery.stream, []).append(delivery.id)
        return by_stream

    def process(self, deliveries: Sequence[Delivery], *, first_delivery: bool) -> BatchOutcome:
        """Run the handler on each entry; returns what to write back (acks, dead letters, events).

        After a warm stop is requested, the entry in hand is finished and the rest stay pending.
        """
        # This runs for every entry a worker reads: what does not change within the batch is
        # looked up once, and the bookkeeping of an entry that succeeds unseen (no live event,
        # no log line of its own) is an append and a clock reading.
        config = self.config
        outcome = BatchOutcome(clear_errors=not first_delivery)
        counts = {} if first_delivery else self._delivery_counts(deliveries)
        last_errors = self._last_errors(deliveries, counts) if counts else {}
        self._batch = deliveries
        sampled = self.sampler.start_batch()  # successes reported to the live pages (failures always are)
        log_room = self.entry_log.room()  # successes logged one by one
        stop, handler, work_seconds = self.stop, self.handler, config.work_seconds
        max_deliveries = config.max_deliveries
        acks, events = outcome.acks, outcome.events
        stream_acks: list[str] = []
        acks_of: str | None = None
        succeeded = quiet = handled = 0
        clock = time.perf_counter
        # A handler's time is measured from the end of the entry before (one clock reading per
        # entry); a failure is reported with its time even when its batch is not sampled.
        before = clock()
        for delivery in deliveries:
            if handled and stop.requested:
                break
            handled += 1
            stream, entry_id, fields = delivery.stream, delivery.id, delivery.fields
            if fields is None:
                self._skip_deleted(delivery, outcome)
                before = clock()
                continue
            if counts:  # read again (own history, claims): delivered before, how often?
                delivery.deliveries = counts.get(entry_id, 1)
                if delivery.deliveries > max_deliveries:
                    error = last_errors.get((stream, entry_id), NO_ERROR_RECORDED)
                    outcome.dead_letters.append(self._dead_letter(delivery, delivery.deliveries, error))
                    before = clock()
                    continue
            try:
                if work_seconds:
                    time.sleep(work_seconds)
                handler(delivery)  # the handler's Message
            except Exception:
                now = clock()
                self._failed(delivery, outcome, now - before)
                before = now
                continue
            now = clock()
            if stream != acks_of:
                stream_acks = acks.setdefault(stream, [])
                acks_of = stream
            stream_acks.append(entry_id)
            succeeded += 1
            if sampled and len(events) < sampled:
                self.sampler.add(outcome, delivery, now - before, ok=True)
            if log_room:
                self.entry_log.entry(delivery)
                log_room = self.entry_log.room()
            else:
                quiet += 1
            before = now
        if quiet:
            self.entry_log.count_quiet(quiet)
        outcome.events_total = succeeded
        self._flush_handler(outcome)
        self._batch = ()
        return outcome

    def _skip_deleted(self, delivery: Delivery, outcome: BatchOutcome) -> None:
        self.counters.skipped_deleted += 1
        logger.warning("entry %s of %s was deleted while pending; acking it and going on", delivery.id, delivery.stream)
        outcome.acks.setdefault(delivery.stream, []).append(delivery.id)

    def _failed(self, message: Message, outcome: BatchOutcome, seconds: float) -> None:
        """The handler raised (the exception being handled): the entry stays pending for a retry."""
        error = traceback.format_exc()
        self.counters.failed += 1
        outcome.failed_total += 1
        outcome.failures[(message.stream, message.id)] = error
        logger.error(
            "handler failed on %s %s (delivery %d); it stays pending for a retry\n%s",
            message.stream,
            message.id,
            message.deliveries,
            error.rstrip(),
        )
        self.sampler.add(outcome, message, seconds, ok=False)

    def _last_errors(self, deliveries: Sequence[Delivery], counts: dict[str, int]) -> dict[tuple[str, str], str]:
        """The last recorded error of each entry delivered too often (it goes to the dead letters)."""
        limit = self.config.max_deliveries
        over_limit = [(d.stream, d.id) for d in deliveries if d.fields is not None and counts.get(d.id, 1) > limit]
        return self.io.last_errors(self.config.group, over_limit) if over_limit else {}

    def _delivery_counts(self, deliveries: Sequence[Delivery]) -> dict[str, int]:
        counts: dict[str, int] = {}
        by_stream: dict[str, list[str]] = {}
        for delivery in deliveries:
            by_stream.setdefault(delivery.stream, []).append(delivery.id)
        for stream, ids in by_stream.items():
            counts.update(self.io.delivery_counts(stream, self.config.group, self.config.name, ids))
        return counts

    def _dead_letter(self, delivery: Delivery, deliveries: int, error: str) -> DeadLetter:
        assert delivery.fields is not None
        logger.error(
            "dead-lettering %s %s after %d deliveries (last error: %s)",
            delivery.stream,
            delivery.id,
            deliveries,
            error.strip().splitlines()[-1] if error.strip() else "?",
        )
        return DeadLetter(
            stream=delivery.stream,
            id=delivery.id,
            fields=delivery.fields,
            group=self.config.group,
            consumer=self.config.name,
            deliveries=deliveries,
            error=error,
            dead_stream=self.config.dead_letter_stream(delivery.stream),
        )

    def _flush_handler(self, outcome: BatchOutcome) -> None:
        """Handlers may buffer work (e.g. statistics) and write it once per batch, before the acks."""
        flush = getattr(self.handler, "flush", None)
        if flush is None or not outcome.acks:
            return
        try:
            flush()
        except Exception:
            error = traceback.format_exc()
            logger.error("handler flush failed; the batch stays pending for a retry\n%s", error.rstrip())
            for stream, ids in outcome.acks.items():
                for entry_id in ids:
                    outcome.failures[(stream, entry_id)] = error
            self.counters.failed += outcome.events_total
            outcome.failed_total += outcome.events_total
            outcome.events_total = 0
            outcome.acks = {}
