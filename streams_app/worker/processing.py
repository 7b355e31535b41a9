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
        # The batch being handled, by stream: the heartbeat keeps it from looking abandoned.
        self.in_hand: dict[str, list[str]] = {}

    def process(self, deliveries: Sequence[Delivery], *, first_delivery: bool) -> BatchOutcome:
        """Run the handler on each entry; returns what to write back (acks, dead letters, events).

        After a warm stop is requested, the entry in hand is finished and the rest stay pending.
        """
        config = self.config
        outcome = BatchOutcome(clear_errors=not first_delivery)
        self.sampler.start_batch()
        counts = {} if first_delivery else self._delivery_counts(deliveries)
        over_limit = [d for d in deliveries if d.fields is not None and counts.get(d.id, 1) > config.max_deliveries]
        last_errors = self.io.last_errors(config.group, [(d.stream, d.id) for d in over_limit]) if over_limit else {}
        in_hand: dict[str, list[str]] = {}
        for delivery in deliveries:
            in_hand.setdefault(delivery.stream, []).append(delivery.id)
        self.in_hand = in_hand
        handled = 0
        for delivery in deliveries:
            if self.stop.requested and handled:
                break
            handled += 1
            if delivery.fields is None:
                self.counters.skipped_deleted += 1
                logger.warning(
                    "entry %s of %s was deleted while pending; acking it and going on", delivery.id, delivery.stream
                )
                outcome.acks.setdefault(delivery.stream, []).append(delivery.id)
                continue
            deliveries_so_far = counts.get(delivery.id, 1)
            if deliveries_so_far > config.max_deliveries:
                error = last_errors.get((delivery.stream, delivery.id), NO_ERROR_RECORDED)
                outcome.dead_letters.append(self._dead_letter(delivery, deliveries_so_far, error))
                continue
            self._handle(delivery, deliveries_so_far, outcome)
        self._flush_handler(outcome)
        self.in_hand = {}
        return outcome

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

    def _handle(self, delivery: Delivery, deliveries: int, outcome: BatchOutcome) -> None:
        assert delivery.fields is not None
        message = Message(
            delivery.stream, delivery.id, delivery.fields, self.config.group, self.config.name, deliveries
        )
        # Every entry is timed: a failure is shown on the live pages even when its batch is
        # not sampled, and whether the handler fails is known only afterwards.
        started = time.perf_counter()
        try:
            if self.config.work_seconds:
                time.sleep(self.config.work_seconds)
            self.handler(message)
        except Exception:
            finished = time.perf_counter()
            error = traceback.format_exc()
            self.counters.failed += 1
            outcome.failed_total += 1
            outcome.failures[(delivery.stream, delivery.id)] = error
            logger.error(
                "handler failed on %s %s (delivery %d); it stays pending for a retry\n%s",
                delivery.stream,
                delivery.id,
                deliveries,
                error.rstrip(),
            )
            self.sampler.add(outcome, message, finished - started, ok=False)
            return
        outcome.acks.setdefault(delivery.stream, []).append(delivery.id)
        outcome.events_total += 1
        if self.sampler.reports_success(outcome):
            self.sampler.add(outcome, message, time.perf_counter() - started, ok=True)
        self.entry_log.entry(message)

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
