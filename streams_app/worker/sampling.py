"""Which processed entries are reported to the live pages. Every batch reports its counts;
the entries themselves are a sample: those of at most one batch every
EVENT_INTERVAL_SECONDS, at most EVENT_ENTRIES_PER_BATCH of them. A failed entry is
reported whenever its batch has room left, sampled or not."""

from __future__ import annotations

import time

from streams_app.gateway.worker_io import BatchOutcome
from streams_app.worker.message import Message

EVENT_ENTRIES_PER_BATCH = 20
EVENT_INTERVAL_SECONDS = 0.05
EVENT_VALUE_CHARS = 200
EVENT_FIELDS = 20

# The constants are read at each call, not bound once, so a benchmark may turn events off.


class EventSampler:
    """Decides, batch by batch, which entries go to the live pages, and adds their events to the batch."""

    def __init__(self) -> None:
        self.room = 0  # successes are reported while the batch holds fewer events than this
        self.next_sample_at = 0.0

    def start_batch(self) -> int:
        """A new batch: it is sampled if the last sampled one is EVENT_INTERVAL_SECONDS old.
        Returns the room for successes (0: only failures are reported)."""
        now = time.monotonic()
        self.room = EVENT_ENTRIES_PER_BATCH if now >= self.next_sample_at else 0
        if self.room:
            self.next_sample_at = now + EVENT_INTERVAL_SECONDS
        return self.room

    def add(self, outcome: BatchOutcome, message: Message, seconds: float, *, ok: bool) -> None:
        """Report one entry with its handler time, if the batch has room for it (a failure always may)."""
        if len(outcome.events) >= EVENT_ENTRIES_PER_BATCH:
            return
        outcome.events.append(
            {
                "stream": message.stream,
                "id": message.id,
                "fields": {
                    name[:EVENT_VALUE_CHARS]: value[:EVENT_VALUE_CHARS]
                    for name, value in list(message.fields.items())[:EVENT_FIELDS]
                },
                "ms": round(seconds * 1000, 3),
                "deliveries": message.deliveries,
                "ok": ok,
            }
        )
