"""The worker's heartbeat: from a thread of its own, every `heartbeat_seconds`, it publishes
the worker's status (which expires, so pages can tell live workers from dead ones), renews
the name lock, and keeps the batch in hand from looking abandoned to workers that claim
idle entries; and every `history_seconds` (10 s) it adds a sample of its group on each of its
streams to the group's last hour (gateway/group_history.py): one round trip on one Redis (one
per stream on a cluster), after the beat's own work, its failures swallowed."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from streams_app.errors import DomainError, RedisUnavailable
from streams_app.gateway.group_history import SAMPLE_SECONDS, GroupHistoryStore
from streams_app.gateway.worker_io import WorkerIO
from streams_app.worker.config import WorkerConfig
from streams_app.worker.counters import WorkerCounters

logger = logging.getLogger("streams_app.worker")


class Heartbeat:
    """Publishes a worker's status and keeps its name until stopped; `state` is what it says the worker is doing."""

    def __init__(
        self,
        config: WorkerConfig,
        io: WorkerIO,
        *,
        counters: WorkerCounters,
        host: str,
        pid: int,
        lock_token: str,
        entries_in_hand: Callable[[], Mapping[str, Sequence[str]]],
        on_name_lost: Callable[[], None],
        history: GroupHistoryStore | None = None,
        history_seconds: float = SAMPLE_SECONDS,
    ) -> None:
        self.config = config
        self.io = io
        self.counters = counters
        self.host = host
        self.pid = pid
        self.lock_token = lock_token
        self.entries_in_hand = entries_in_hand
        self.on_name_lost = on_name_lost
        self.history = history if history is not None else GroupHistoryStore(io.client)
        self.history_seconds = history_seconds
        self._next_sample = 0.0  # monotonic: the first beat records at once
        self._history_failing = False
        self.state = "starting"
        self.rate = 0.0  # entries processed per second, over the last interval
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        """Start beating, in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating; returns once the thread is done (or after 5 s)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def status(self) -> dict[str, str]:
        """The heartbeat hash as it stands now."""
        counters = self.counters
        return {
            "name": self.config.name,
            "host": self.host,
            "pid": str(self.pid),
            "group": self.config.group,
            "streams": json.dumps(list(self.config.streams)),
            "started": f"{counters.started:.3f}",
            "last_seen": f"{time.time():.3f}",
            "processed": str(counters.processed),
            "failed": str(counters.failed),
            "dead_lettered": str(counters.dead_lettered),
            "skipped_deleted": str(counters.skipped_deleted),
            "rate": f"{self.rate:.1f}",
            "state": self.state,
        }

    def _run(self) -> None:
        interval = self.config.heartbeat_seconds
        last_count, last_time = self.counters.processed, time.monotonic()
        while not self._stopping.is_set():
            now = time.monotonic()
            if now > last_time:
                self.rate = (self.counters.processed - last_count) / (now - last_time)
            last_count, last_time = self.counters.processed, now
            try:
                self._beat(interval)
            except DomainError:
                pass  # the main loop reports Redis outages
            except Exception:
                # Whatever else goes wrong, this thread must go on: if it died, the name lock
                # would lapse and the batch in hand would look abandoned.
                logger.exception("the heartbeat failed; trying again in %.1f s", interval)
            if now >= self._next_sample:
                self._record_history(now)
            self._stopping.wait(interval)

    def _record_history(self, now: float) -> None:
        """Add this beat's sample to the group's last hour; a failure is logged once and forgotten
        (the history has a gap, the worker goes on)."""
        # A fixed cadence (not "10 s after the last one"), so samples stay one per interval;
        # after a stall, the next is a whole interval away rather than at every beat.
        self._next_sample += self.history_seconds
        if self._next_sample <= now:
            self._next_sample = now + self.history_seconds
        counters = self.counters
        try:
            self.history.record(
                group=self.config.group,
                worker=self.config.name,
                streams=self.config.streams,
                processed=counters.processed,
                failed=counters.failed,
                started_ms=int(counters.started * 1000),
            )
        except RedisUnavailable:
            pass  # the main loop reports Redis outages
        except Exception as error:
            if not self._history_failing:
                logger.warning("could not record the group's history (a gap, nothing else): %s", error)
            self._history_failing = True
        else:
            self._history_failing = False

    def _beat(self, interval: float) -> None:
        held = self.io.beat(
            group=self.config.group,
            name=self.config.name,
            status=self.status(),
            ttl_ms=int(interval * 3000) + 1000,
            lock_token=self.lock_token,
            lock_ttl_ms=self.config.lock_ttl_ms,
        )
        if not held:
            logger.error("another process took the name %s in group %s; stopping", self.config.name, self.config.group)
            self.on_name_lost()
        in_hand = self.entries_in_hand()
        if in_hand:
            # A slow batch must not look abandoned to workers claiming idle entries.
            self.io.touch(self.config.group, self.config.name, in_hand)
