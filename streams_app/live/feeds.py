"""What the live pages are pushed, and how it is read: one feed per topic per server process.

A feed is one background task that reads Redis (a tail with XREAD BLOCK, or a snapshot
poll) and fans its messages out to every subscribed WebSocket in this process: a thousand
tabs on one stream cost one blocking read, not a thousand. A subscriber that falls behind
is told to resynchronise from Redis instead of being fed a silently incomplete picture.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streams_app.domain.ids import StreamId
from streams_app.domain.names import display_name, url_token
from streams_app.errors import RedisUnavailable
from streams_app.gateway.clients import live_client
from streams_app.gateway.live_io import LiveReader, processed_entries
from streams_app.gateway.types import Entry

logger = logging.getLogger("streams_app.live")

Message = dict[str, Any]
TAIL_BATCH = 500
# Fan-out at most this often per feed: at thousands of entries a second, one message
# carries many entries instead of one message per entry per tab.
COALESCE_SECONDS = 0.010
COALESCE_SECONDS_MANY_TABS = 0.025
SUBSCRIBER_QUEUE = 200
IDLE_FEED_GRACE_SECONDS = 5.0
POLL_SECONDS = 0.5


def entry_json(entry: Entry) -> Message:
    return {"id": entry.id, "fields": entry.fields}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A feed message, JSON-encoded once for every tab (with its first and last entry IDs when it
    carries entries): per-tab, per-entry work is what limits how many tabs a process can serve."""

    data: Message
    text: str
    first: StreamId | None = None
    last: StreamId | None = None

    @property
    def type(self) -> str:
        return self.data["type"]

    @classmethod
    def of(cls, data: Message, *, first: str | None = None, last: str | None = None) -> Outgoing:
        return cls(
            data,
            json.dumps(data),
            StreamId.parse(first) if first else None,
            StreamId.parse(last) if last else None,
        )


RESYNC = Outgoing.of({"type": "resync"})


class Subscription:
    """One WebSocket's inbox on a feed; bounded, so a stuck tab cannot eat the server's memory."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.queue: asyncio.Queue[Outgoing] = asyncio.Queue(maxsize=SUBSCRIBER_QUEUE)
        self.overflowed = False

    def offer(self, message: Outgoing) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True

    async def get(self) -> Outgoing:
        if self.overflowed:
            self.overflowed = False
            while not self.queue.empty():
                self.queue.get_nowait()
            return RESYNC
        return await self.queue.get()

    def close(self) -> None:
        self.feed.unsubscribe(self)


class Feed:
    """A background reader whose messages go to every subscription."""

    def __init__(self, key: tuple, reader: LiveReader) -> None:
        self.key = key
        self.reader = reader
        self.subscriptions: set[Subscription] = set()
        self.task: asyncio.Task | None = None
        self.ready = asyncio.Event()
        self._stop_at: float | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._guarded_run(), name=f"feed {self.key}")

    def subscribe(self) -> Subscription:
        subscription = Subscription(self)
        self.subscriptions.add(subscription)
        self._stop_at = None
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscriptions.discard(subscription)
        if not self.subscriptions:
            self._stop_at = time.monotonic() + IDLE_FEED_GRACE_SECONDS

    @property
    def idle_expired(self) -> bool:
        return self._stop_at is not None and time.monotonic() >= self._stop_at

    def publish(self, message: Message | Outgoing) -> None:
        if not self.subscriptions:
            return
        outgoing = message if isinstance(message, Outgoing) else Outgoing.of(message)
        for subscription in list(self.subscriptions):
            subscription.offer(outgoing)

    async def _guarded_run(self) -> None:
        delay = 0.1
        while True:
            try:
                await self.run()
                return
            except asyncio.CancelledError:
                raise
            except RedisUnavailable as error:
                self.publish({"type": "status", "redis": "unavailable", "message": error.message})
                logger.warning("live feed %s: %s; retrying in %.1f s", self.key, error.message, delay)
            except Exception:
                logger.exception("live feed %s failed; restarting in %.1f s", self.key, delay)
            self.ready.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            await self.on_reconnect()

    async def on_reconnect(self) -> None:
        """After an outage, tell subscribers to reload what they show from Redis."""
        self.publish(RESYNC)

    async def run(self) -> None:
        raise NotImplementedError


class StreamTailFeed(Feed):
    """New entries of one stream, read with XREAD BLOCK from the last ID seen."""

    def __init__(self, key: tuple, reader: LiveReader, stream: str) -> None:
        super().__init__(key, reader)
        self.stream = stream
        self.position: str | None = None

    async def run(self) -> None:
        if self.position is None:
            self.position = await self.reader.last_id(self.stream)
        self.ready.set()
        last_flush = 0.0
        while True:
            batches = await self.reader.read_after({self.stream: self.position}, count=TAIL_BATCH, block_ms=5000)
            entries = [entry for _, found in batches for entry in found]
            if not entries:
                continue
            # More tabs, wider window: fewer, larger messages keep the process ahead of the stream.
            window = COALESCE_SECONDS if len(self.subscriptions) <= 20 else COALESCE_SECONDS_MANY_TABS
            wait = window - (time.monotonic() - last_flush)
            if wait > 0:
                # Flushed a moment ago: gather what else arrives in the rest of the window.
                await asyncio.sleep(wait)
                more = await self.reader.read_after({self.stream: entries[-1].id}, count=TAIL_BATCH, block_ms=None)
                entries.extend(entry for _, found in more for entry in found)
            self.position = entries[-1].id
            last_flush = time.monotonic()
            self.publish(
                Outgoing.of(
                    {"type": "entries", "entries": [entry_json(entry) for entry in entries]},
                    first=entries[0].id,
                    last=entries[-1].id,
                )
            )


class GroupFeed(Feed):
    """One consumer group of one stream: its counts (polled, sent when they change) and
    the entries its workers report as processed (tailed)."""

    def __init__(self, key: tuple, reader: LiveReader, stream: str, group: str) -> None:
        super().__init__(key, reader)
        self.stream, self.group = stream, group
        self.position: str | None = None
        self.last_counts: Message | None = None

    async def run(self) -> None:
        if self.position is None:
            self.position = await self.reader.processed_last_id(self.group)
        self.ready.set()
        poller = asyncio.get_running_loop().create_task(self._poll())
        try:
            while True:
                reports = await self.reader.processed_after(self.group, self.position, count=200, block_ms=5000)
                if not reports:
                    continue
                self.position = reports[-1].id
                message = processed_message(reports, stream=self.stream)
                if message["entries"] or message["processed"]:
                    self.publish(message)
        finally:
            poller.cancel()

    async def _poll(self) -> None:
        while True:
            counts = await group_counts(self.reader, self.stream, self.group)
            if counts != self.last_counts:
                self.last_counts = counts
                self.publish(counts)
            await asyncio.sleep(POLL_SECONDS)


def processed_message(reports: list[Entry], *, stream: str | None) -> Message:
    """Workers' processing reports, merged into one message (entries of `stream` only)."""
    entries = []
    processed = failed = 0
    for report in reports:
        consumer = report.fields.get("consumer", "")
        for item in processed_entries(report):
            if stream is None or item.get("stream") == stream:
                entries.append({**item, "consumer": consumer, "reported": report.id})
        processed += int(report.fields.get("processed", "0") or 0)
        failed += int(report.fields.get("failed", "0") or 0)
    return {"type": "processed", "entries": entries[-100:], "processed": processed, "failed": failed}


async def group_counts(reader: LiveReader, stream: str, group: str) -> Message:
    """Pending counts per consumer, the group's lag and its workers, as the group page shows them."""
    snapshot = await reader.group_snapshot(stream, group)
    workers = await reader.workers(group=group)
    now = time.time()
    summary = snapshot.group if snapshot else None
    return {
        "type": "group",
        "exists": snapshot is not None,
        "pending": summary.pending if summary else 0,
        "lag": summary.lag if summary else None,
        "last_delivered_id": summary.last_delivered_id if summary else None,
        "consumers": [
            {"name": consumer.name, "pending": consumer.pending, "idle_ms": consumer.idle_ms}
            for consumer in sorted(snapshot.consumers if snapshot else [], key=lambda consumer: consumer.name)
        ],
        "workers": [
            {
                "name": worker.name,
                "alive": worker.alive,
                "host": worker.host,
                "pid": worker.pid or "",
                "processed": worker.processed,
                "failed": worker.failed,
                "rate": worker.rate,
                "seen_seconds_ago": round(max(0.0, now - worker.last_seen), 1),
            }
            for worker in workers
        ],
    }


class DashboardFeed(Feed):
    """Streams with length and recent rate, groups with pending and lag, live workers."""

    HISTORY = 60

    def __init__(self, key: tuple, reader: LiveReader) -> None:
        super().__init__(key, reader)
        self.previous: dict[str, tuple[float, int]] = {}
        self.rates: dict[str, list[float]] = {}
        self.latest: Message | None = None

    async def run(self) -> None:
        while True:
            self.latest = await dashboard_snapshot(self)
            self.ready.set()
            self.publish(self.latest)
            await asyncio.sleep(1.0)


async def dashboard_snapshot(feed: DashboardFeed) -> Message:
    names = await feed.reader.stream_names(limit=50)
    counts = await feed.reader.stream_counts(names)
    workers = await feed.reader.workers()
    now = time.monotonic()
    streams = []
    for counted in counts:
        stream = counted.stream
        before = feed.previous.get(stream.name)
        rate = 0.0
        if before is not None and now > before[0]:
            rate = max(0.0, (stream.length - before[1]) / (now - before[0]))
        feed.previous[stream.name] = (now, stream.length)
        history = feed.rates.setdefault(stream.name, [])
        history.append(round(rate, 1))
        del history[: -feed.HISTORY]
        streams.append(
            {
                "name": display_name(stream.name),
                "token": url_token(stream.name),
                "length": stream.length,
                "last_id": stream.last_id,
                "rate": round(rate, 1),
                "rates": list(history),
                "groups": [
                    {"name": display_name(g.name), "token": url_token(g.name), "pending": g.pending, "lag": g.lag}
                    for g in counted.groups
                ],
            }
        )
    wall = time.time()
    return {
        "type": "dashboard",
        "streams": streams,
        "workers": [
            {
                "group": worker.group,
                "name": worker.name,
                "alive": worker.alive,
                "rate": worker.rate,
                "processed": worker.processed,
                "host": worker.host,
                "seen_seconds_ago": round(max(0.0, wall - worker.last_seen), 1),
            }
            for worker in workers
            if worker.alive or wall - worker.last_seen < 3600
        ],
    }


class FeedRegistry:
    """The feeds of this process (of its event loop), created on first use, stopped when idle."""

    def __init__(self) -> None:
        self.feeds: dict[tuple, Feed] = {}
        self.reader: LiveReader | None = None
        self._reaper: asyncio.Task | None = None

    def _reader(self) -> LiveReader:
        if self.reader is None:
            self.reader = LiveReader(live_client())
        return self.reader

    async def subscribe(self, key: tuple, make: Callable[[tuple, LiveReader], Feed]) -> Subscription:
        feed = self.feeds.get(key)
        if feed is None or (feed.task is not None and feed.task.done()):
            feed = self.feeds[key] = make(key, self._reader())
            feed.start()
        subscription = feed.subscribe()
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(feed.ready.wait(), timeout=5)
        return subscription

    async def _reap(self) -> None:
        while self.feeds:
            await asyncio.sleep(1.0)
            for key, feed in list(self.feeds.items()):
                if feed.idle_expired:
                    if feed.task:
                        feed.task.cancel()
                    del self.feeds[key]

    def reader_for_snapshots(self) -> LiveReader:
        return self._reader()


_registries: dict[int, FeedRegistry] = {}


def registry() -> FeedRegistry:
    """The registry of the running event loop (one per server process in practice)."""
    loop = asyncio.get_running_loop()
    found = _registries.get(id(loop))
    if found is None:
        found = _registries[id(loop)] = FeedRegistry()
    return found


def tail_feed(stream: str) -> tuple[tuple, Callable[[tuple, LiveReader], Feed]]:
    return ("tail", stream), lambda key, reader: StreamTailFeed(key, reader, stream)


def group_feed(stream: str, group: str) -> tuple[tuple, Callable[[tuple, LiveReader], Feed]]:
    return ("group", stream, group), lambda key, reader: GroupFeed(key, reader, stream, group)


def dashboard_feed() -> tuple[tuple, Callable[[tuple, LiveReader], Feed]]:
    return ("dashboard",), lambda key, reader: DashboardFeed(key, reader)
