"""The worker's log of processed entries: one line per entry, as the tutorial prints them,
until the rate gets high; then one summary line a second."""

from __future__ import annotations

import logging
import time

from streams_app.worker.message import Message

logger = logging.getLogger("streams_app.worker")


class EntryLog:
    """Logs each processed entry until more than `quiet_above` arrive in a second; then one summary line per second."""

    def __init__(self, quiet_above: int) -> None:
        self.quiet_above = quiet_above
        self.window_start = time.monotonic()
        self.in_window = 0
        self.suppressed = 0

    def entry(self, message: Message) -> None:
        """Log one processed entry, or count it for the next summary line."""
        self.in_window += 1
        if self.in_window <= self.quiet_above:
            fields = " ".join(f"{name}={value}" for name, value in message.fields.items())
            logger.info("processing %s %s %s", message.stream, message.id, fields)
            if time.monotonic() - self.window_start >= 1.0:
                self.tick()
        else:
            self.suppressed += 1  # the loop's tick() writes the summary line once a second

    def room(self) -> int:
        """How many more entries are logged one by one in this window (then they are only counted)."""
        return max(0, self.quiet_above - self.in_window)

    def count_quiet(self, entries: int) -> None:
        """Count entries processed without a line each (no room was left in this window)."""
        self.in_window += entries
        self.suppressed += entries

    def tick(self) -> None:
        """Write the summary line if a second has passed since the last one."""
        now = time.monotonic()
        if now - self.window_start < 1.0:
            return
        self.flush(now)

    def flush(self, now: float | None = None) -> None:
        """Write the summary line of the entries not shown one by one, and start a new window."""
        now = now or time.monotonic()
        if self.suppressed:
            seconds = max(now - self.window_start, 1e-9)
            logger.info(
                "processed %d entries in the last %.1f s (%.0f/s; %d not shown one by one)",
                self.in_window,
                seconds,
                self.in_window / seconds,
                self.suppressed,
            )
        self.window_start, self.in_window, self.suppressed = now, 0, 0
