"""The consumer-group worker: the tutorial's alice and bob, made safe for production.

At-least-once: an entry is acked only after its handler returned. A worker first works
through its own pending entries (left by an earlier life), then reads new ones; it
claims entries that stayed idle too long with any consumer (dead ones included), moves
entries delivered too often to a dead-letter stream, survives Redis going away, and
stops warmly on the first SIGTERM/SIGINT. Nothing here knows about Django.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from streams_app.errors import DomainError, NotFound, RedisUnavailable
from streams_app.gateway.keys import name_lock_key
from streams_app.gateway.worker_io import BatchOutcome, DeadLetter, Delivery, WorkerIO

logger = logging.getLogger("streams_app.worker")

EVENT_ENTRIES_PER_BATCH = 20
EVENT_INTERVAL_SECONDS = 0.05
EVENT_VALUE_CHARS = 200


@dataclass(slots=True)
class Message:
    """What a handler receives: one entry, where it came from and how often it was delivered."""

    stream: str
    id: str
    fields: dict[str, str]
    group: str
    consumer: str
    deliveries: int


Handler = Callable[[Message], object]


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    name: str
    streams: tuple[str, ...]
    group: str = "mygroup"
    count: int = 100
    block_ms: int = 2000
    claim_idle_ms: int = 30_000
    max_deliveries: int = 5
    start_id: str = "$"
    dead_letter_template: str = "{stream}:dead"
    work_seconds: float = 0.0
    heartbeat_seconds: float = 1.0
    quiet_above_per_second: int = 20

    def dead_letter_stream(self, stream: str) -> str:
        return self.dead_letter_template.format(stream=stream)

    @property
    def claim_every_seconds(self) -> float:
        return min(max(self.claim_idle_ms / 4000, 0.2), 10.0)

    @property
    def lock_ttl_ms(self) -> int:
        return int(self.heartbeat_seconds * 5000)


class WorkerRefused(Exception):
    """Another live process already runs under this name in this group."""


class _Interrupted(BaseException):
    """Raised by the signal handler to cut a blocking read short."""


@dataclass
class WorkerCounters:
    processed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    skipped_deleted: int = 0
    started: float = field(default_factory=time.time)


class Backoff:
    """Capped exponential backoff with jitter."""

    def __init__(self, base: float = 0.1, cap: float = 5.0) -> None:
        self.base, self.cap, self.attempt = base, cap, 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.base * (2**self.attempt))
        self.attempt += 1
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.attempt = 0


class Worker:
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
        self.lock_token = json.dumps(
            {"host": self.host, "pid": self.pid, "started": self.counters.started, "token": uuid.uuid4().hex}
        )
        self.stop_requested = False
        self._blocking = False
        self._history: dict[str, str] | None = None
        self._uncommitted: BatchOutcome | None = None
        # The batch being handled, by stream: the heartbeat keeps it from looking abandoned.
        self._in_hand: dict[str, list[str]] = {}
        self._event_room = EVENT_ENTRIES_PER_BATCH
        self._next_events_at = 0.0
        self._claim_cursors = {stream: "0-0" for stream in config.streams}
        self._next_claim = 0.0
        self._backoff = Backoff()
        self._heartbeat: threading.Thread | None = None
        self._heartbeat_stop = threading.Event()
        self._state = "starting"
        self._log = _EntryLog(config.quiet_above_per_second)

    # --- life cycle -------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if self.stop_requested:
            logger.warning("%s again: stopping at once; unacked entries stay pending", name)
            raise SystemExit(1)
        logger.info("%s: finishing the entry in hand, then stopping (send it again to stop at once)", name)
        self.request_stop()
        if self._blocking:
            raise _Interrupted()

    def request_stop(self) -> None:
        self.stop_requested = True

    def run(self) -> int:
        """Work until asked to stop; returns the exit code (0 after a warm stop)."""
        self._start()
        try:
            while not self.stop_requested:
                try:
                    self._step()
                    self._backoff.reset()
                except RedisUnavailable as error:
                    self._wait_for_redis(error)
                except _Interrupted:
                    self.io.reset()  # the interrupted read's reply is still on the wire
                except NotFound as error:
                    logger.warning("%s; recreating the group", error.message)
                    self._needs_prepare = True
                except Exception:
                    # Never crash-loop: log, wait, go on.
                    delay = self._backoff.next_delay()
                    logger.exception("unexpected error; going on in %.1f s", delay)
                    _sleep_unless(lambda: self.stop_requested, delay)
        finally:
            self._finish()
        return 0

    def _start(self) -> None:
        while True:
            try:
                self._prepare_groups()
                self._acquire_name()
                break
            except RedisUnavailable as error:
                if self.stop_requested:
                    raise
                self._wait_for_redis(error, reconnecting=False)
            if self.stop_requested:
                raise SystemExit(0)
        self._history = {stream: "0" for stream in self.config.streams}
        self._state = "running"
        self._heartbeat = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        self._heartbeat.start()
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

    def _acquire_name(self) -> None:
        key = name_lock_key(self.config.group, self.config.name)
        if self.io.hold_lock(key, self.lock_token, self.config.lock_ttl_ms):
            return
        holder_raw = self.io.lock_holder(key)
        holder = _parse_holder(holder_raw)
        # A holder on this host whose process is gone (killed) cannot renew: take over at once.
        holder_is_dead = (
            holder is not None and holder.get("host") == self.host and not _process_alive(int(holder.get("pid", 0)))
        )
        if holder_is_dead and self.io.take_over_lock(key, holder_raw or "", self.lock_token, self.config.lock_ttl_ms):
            logger.info(
                "taking over the name %s from pid %s, which is no longer running", self.config.name, holder["pid"]
            )
            return
        where = f"pid {holder.get('pid')} on {holder.get('host')}" if holder else "another process"
        raise WorkerRefused(
            f"A worker named {self.config.name} is already running in group {self.config.group} ({where}). "
            "Two processes with one name would share one pending list: stop that one first, or choose another name."
        )

    def _finish(self) -> None:
        self._commit_uncommitted()
        self._state = "stopped"
        self._heartbeat_stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)
        self._log.flush()
        try:
            self.io.retire(
                group=self.config.group, name=self.config.name, lock_token=self.lock_token, status=self._status()
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
        self._state = "reconnecting"
        logger.warning("Redis unavailable (%s); retrying in %.1f s", error.message, delay)
        self.io.reset()
        _sleep_unless(lambda: self.stop_requested, delay)
        if reconnecting:
            # Redis may have restarted: recreate missing groups, re-read our own pending entries.
            self._needs_prepare = True
            self._history = {stream: "0" for stream in self.config.streams}

    # --- the loop ---------------------------------------------------------------

    _needs_prepare = False

    def _step(self) -> None:
        self._log.tick()
        if self._needs_prepare:
            self._prepare_groups()
            self._needs_prepare = False
            self._state = "running"
        if self._history is not None:
            self._commit_uncommitted()
            self._read_history()
            return
        if time.monotonic() >= self._next_claim:
            self._commit_uncommitted()
            self._claim_stale()
            self._next_claim = time.monotonic() + self.config.claim_every_seconds
            if self.stop_requested:
                return
        self._blocking = True
        try:
            if self.stop_requested:
                return
            finishing = self._uncommitted
            deliveries = self.io.read(
                self.config.group,
                self.config.name,
                {stream: ">" for stream in self.config.streams},
                count=self.config.count,
                block_ms=self._block_ms(),
                finishing=finishing,
            )
        finally:
            self._blocking = False
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
            for _ in range(10):  # bounded per pass, so new entries are not starved
                if self.stop_requested:
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

    # --- processing -------------------------------------------------------------

    def _process(self, deliveries: Sequence[Delivery], *, first_delivery: bool) -> BatchOutcome:
        """Run the handler on each entry; returns what to write back (acks, dead letters, events)."""
        config = self.config
        outcome = BatchOutcome(clear_errors=not first_delivery)
        # Live pages show a sample: entries of at most one batch every EVENT_INTERVAL_SECONDS
        # (every batch still reports its counts).
        now = time.monotonic()
        self._event_room = EVENT_ENTRIES_PER_BATCH if now >= self._next_events_at else 0
        if self._event_room:
            self._next_events_at = now + EVENT_INTERVAL_SECONDS
        counts = {} if first_delivery else self._delivery_counts(deliveries)
        over_limit = [d for d in deliveries if d.fields is not None and counts.get(d.id, 1) > config.max_deliveries]
        last_errors = self.io.last_errors(config.group, [(d.stream, d.id) for d in over_limit]) if over_limit else {}
        in_hand: dict[str, list[str]] = {}
        for delivery in deliveries:
            in_hand.setdefault(delivery.stream, []).append(delivery.id)
        self._in_hand = in_hand
        handled = 0
        for delivery in deliveries:
            if self.stop_requested and handled:
                break  # warm stop: the entry in hand is done; the rest stay pending
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
                error = last_errors.get((delivery.stream, delivery.id), "unknown (no error was recorded)")
                outcome.dead_letters.append(
                    DeadLetter(
                        stream=delivery.stream,
                        id=delivery.id,
                        fields=delivery.fields,
                        group=config.group,
                        consumer=config.name,
                        deliveries=deliveries_so_far,
                        error=error,
                        dead_stream=config.dead_letter_stream(delivery.stream),
                    )
                )
                logger.error(
                    "dead-lettering %s %s after %d deliveries (last error: %s)",
                    delivery.stream,
                    delivery.id,
                    deliveries_so_far,
                    error.strip().splitlines()[-1] if error.strip() else "?",
                )
                continue
            self._handle(delivery, deliveries_so_far, outcome)
        self._flush_handler(outcome)
        self._in_hand = {}
        return outcome

    def _delivery_counts(self, deliveries: Sequence[Delivery]) -> dict[str, int]:
        counts: dict[str, int] = {}
        by_stream: dict[str, list[str]] = {}
        for delivery in deliveries:
            by_stream.setdefault(delivery.stream, []).append(delivery.id)
        for stream, ids in by_stream.items():
            counts.update(self.io.delivery_counts(stream, self.config.group, self.config.name, ids))
        return counts

    def _handle(self, delivery: Delivery, deliveries: int, outcome: BatchOutcome) -> None:
        assert delivery.fields is not None
        message = Message(
            delivery.stream, delivery.id, delivery.fields, self.config.group, self.config.name, deliveries
        )
        # Handler time only matters for the entries live pages will show.
        timed = len(outcome.events) < self._event_room
        started = time.perf_counter() if timed else 0.0
        try:
            if self.config.work_seconds:
                time.sleep(self.config.work_seconds)
            self.handler(message)
        except Exception:
            seconds = time.perf_counter() - started
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
            self._add_event(outcome, message, seconds, ok=False)
            return
        outcome.acks.setdefault(delivery.stream, []).append(delivery.id)
        outcome.events_total += 1
        if timed:
            self._add_event(outcome, message, time.perf_counter() - started, ok=True)
        self._log.entry(message)

    def _add_event(self, outcome: BatchOutcome, message: Message, seconds: float, *, ok: bool) -> None:
        if len(outcome.events) >= EVENT_ENTRIES_PER_BATCH:
            return  # (failures are always shown, if there is room in the batch)
        outcome.events.append(
            {
                "stream": message.stream,
                "id": message.id,
                "fields": {k[:EVENT_VALUE_CHARS]: v[:EVENT_VALUE_CHARS] for k, v in list(message.fields.items())[:20]},
                "ms": round(seconds * 1000, 3),
                "deliveries": message.deliveries,
                "ok": ok,
            }
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
                if self.stop_requested and backoff.attempt >= 3:
                    acked = sum(len(ids) for ids in outcome.acks.values())
                    logger.error(
                        "stopping without acking %d processed entries (%s); they will be processed again",
                        acked,
                        error.message,
                    )
                    return
                delay = backoff.next_delay()
                logger.warning("could not ack (%s); retrying in %.1f s", error.message, delay)
                self.io.reset()
                _sleep_unless(lambda: False, delay)
        self._committed(outcome)

    # --- heartbeat ----------------------------------------------------------------

    def _status(self) -> dict[str, str]:
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
            "rate": f"{self._rate:.1f}",
            "state": self._state,
        }

    _rate = 0.0

    def _heartbeat_loop(self) -> None:
        interval = self.config.heartbeat_seconds
        last_count, last_time = self.counters.processed, time.monotonic()
        while not self._heartbeat_stop.is_set():
            now = time.monotonic()
            if now > last_time:
                self._rate = (self.counters.processed - last_count) / (now - last_time)
            last_count, last_time = self.counters.processed, now
            try:
                held = self.io.beat(
                    group=self.config.group,
                    name=self.config.name,
                    status=self._status(),
                    ttl_ms=int(interval * 3000) + 1000,
                    lock_token=self.lock_token,
                    lock_ttl_ms=self.config.lock_ttl_ms,
                )
                if not held:
                    logger.error(
                        "another process took the name %s in group %s; stopping", self.config.name, self.config.group
                    )
                    self.request_stop()
                in_hand = self._in_hand
                if in_hand:
                    # A slow batch must not look abandoned to workers claiming idle entries.
                    self.io.touch(self.config.group, self.config.name, in_hand)
            except DomainError:
                pass  # the main loop reports Redis outages
            self._heartbeat_stop.wait(interval)


class _EntryLog:
    """Logs each processed entry, as the tutorial prints them, until the rate gets high;
    then one summary line per second."""

    def __init__(self, quiet_above: int) -> None:
        self.quiet_above = quiet_above
        self.window_start = time.monotonic()
        self.in_window = 0
        self.suppressed = 0

    def entry(self, message: Message) -> None:
        self.in_window += 1
        if self.in_window <= self.quiet_above:
            fields = " ".join(f"{name}={value}" for name, value in message.fields.items())
            logger.info("processing %s %s %s", message.stream, message.id, fields)
            if time.monotonic() - self.window_start >= 1.0:
                self.tick()
        else:
            self.suppressed += 1  # the loop's tick() writes the summary line once a second

    def tick(self) -> None:
        now = time.monotonic()
        if now - self.window_start < 1.0:
            return
        self.flush(now)

    def flush(self, now: float | None = None) -> None:
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


def _sleep_unless(stop: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not stop():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(remaining, 0.1))


def _parse_holder(raw: str | None) -> dict | None:
    if not raw:
        return None
    try:
        holder = json.loads(raw)
    except ValueError:
        return None
    return holder if isinstance(holder, dict) else None


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        # A zombie (killed, not yet reaped) is not running.
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
