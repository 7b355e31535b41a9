"""How the live pages are fed: one feed per topic per server process (registry.py keeps them).

A feed is one background task that reads Redis (a tail with XREAD BLOCK, or a snapshot
poll) and fans its messages (built in messages.py) out to every subscribed WebSocket in
this process: a thousand tabs on one stream cost one blocking read, not a thousand. A
subscriber that falls behind is told to resynchronise from Redis instead of being fed a
silently incomplete picture.

Back-pressure: a tab's inbox holds at most SUBSCRIBER_QUEUE messages. The server's `send` waits
while a tab's socket is full (uvicorn: weatherstreams/serve.py), so a tab that stops reading
stops taking from its inbox; when the inbox overflows it is emptied at once (the messages are
released) and nothing more is kept for that tab, which gets a fresh snapshot when it reads again.
One whose send has not completed within WEATHERSTREAMS_LIVE_SEND_TIMEOUT_SECONDS is let go of
(sockets.py closes it with 4408), found when its overflowed inbox is offered the next message:
the tabs that keep up never pay for the check.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from streams_app.conf import app_settings
from streams_app.errors import RedisUnavailable
from streams_app.gateway.live_io import LiveReader
from streams_app.live.messages import (
    RESYNC,
    Message,
    Outgoing,
    StreamRates,
    dashboard_message,
    group_counts,
    processed_message,
    redis_unavailable,
    tail_entries,
)

logger = logging.getLogger("streams_app.live")

# --- tuning -------------------------------------------------------------------------------
# Fan-out at most this often per feed: at thousands of entries a second, one message
# carries many entries instead of one message per entry per tab. 10 ms adds less than a
# screen frame (16.7 ms at 60 Hz) to what a tab shows. With many tabs the window grows with
# what a fan-out costs: at least FANOUT_WINDOW_FACTOR times the time the last fan-outs took
# (smoothed), so fanning out takes at most half of the process's time and the rest is left
# for reading, HTTP and other feeds; a busier process sends fewer, larger messages instead of
# falling behind. The fan-out's time is measured for free: publishing wakes every tab's relay,
# and the feed's own next turn of the event loop comes after all of them (FIFO).
COALESCE_SECONDS = 0.010
FANOUT_WINDOW_FACTOR = 2.0
COALESCE_SECONDS_MAX = 0.200
FANOUT_SMOOTHING = 0.2  # weight of the newest fan-out time in the running estimate
# Entries one XREAD may return: a busy stream is caught up in a few reads, not thousands.
TAIL_BATCH = 500
# Processing reports one read of a group's events may return (a report covers a batch).
PROCESSED_BATCH = 200
# A blocking read returns empty after this and is simply repeated; well under the live
# client's socket timeout (gateway.clients.LIVE_TIMEOUT_SECONDS), so a quiet stream is
# never taken for a dead connection.
BLOCK_MS = 5000
# Messages a tab may fall behind by (two seconds of a busy stream at one message per 10 ms
# window), and their size, before it is told to resynchronise: a stuck tab costs bounded memory.
SUBSCRIBER_QUEUE = 200
SUBSCRIBER_QUEUE_BYTES = 1 << 20
# A reload closes a socket and opens another at once: the feed (and its position) is kept
# for this long after its last tab leaves (registry.py stops it), instead of a new reader.
IDLE_FEED_GRACE_SECONDS = 5.0
# Group counts are read with XINFO (two commands in one round trip): twice a second keeps
# the pending column lively at little cost.
POLL_SECONDS = 0.5
# One dashboard refresh a second, so its 60 rate figures (messages.RATE_HISTORY) span a
# minute; at most 50 streams, so one refresh stays one bounded SCAN and one pipeline.
DASHBOARD_REFRESH_SECONDS = 1.0
DASHBOARD_STREAMS = 50
# After a failed read, retry soon, then back off (doubling) to at most this.
RETRY_FIRST_SECONDS = 0.1
RETRY_MAX_SECONDS = 5.0

FeedKey = tuple[str, ...]
FeedFactory = Callable[[FeedKey, LiveReader], "Feed"]


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """Which feed a consumer wants: its key in the registry, and how to start it if it is not running."""

    key: FeedKey
    make: FeedFactory


class Inbox(deque):
    """A tab's queue of messages: a deque (asyncio.Queue's bookkeeping costs a tenth of a busy
    server's time at hundreds of tabs, for a queue with one reader and one writer)."""

    def empty(self) -> bool:
        return not self

    def qsize(self) -> int:
        return len(self)


class Subscription:
    """One WebSocket's inbox on a feed; bounded, so a stuck tab cannot eat the server's memory.

    Its reader (the socket's relay, one task) takes messages with `get`; it says when a send
    starts and ends (`sending_since`), and `on_stuck` is called (once) when a send has not ended
    within `send_timeout` seconds."""

    def __init__(self, feed: Feed, *, send_timeout: float | None = None, on_stuck: Callable[[], None] | None = None):
        self.feed = feed
        self.queue: Inbox = Inbox()
        self.waiter: asyncio.Future | None = None  # the reader's, while the inbox is empty
        self.queued_bytes = 0  # the text of what is in the queue
        self.overflowed = False
        self.sending_since: float | None = None  # loop time a send began, None between sends
        self.send_timeout = send_timeout
        self.on_stuck = on_stuck

    def offer(self, message: Outgoing) -> None:
        """Queue `message`; on overflow empty the inbox (its memory goes at once) and keep nothing more
        until the reader has been told to resynchronise; a reader stuck in one send is let go of."""
        if self.overflowed:
            self._check_stuck()
            return
        if self.queued_bytes > SUBSCRIBER_QUEUE_BYTES or len(self.queue) >= SUBSCRIBER_QUEUE:
            self.overflowed = True
            self._empty()
            return
        self.queue.append(message)
        self.queued_bytes += len(message.text)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _empty(self) -> None:
        self.queue.clear()
        self.queued_bytes = 0

    def _check_stuck(self) -> None:
        since, timeout = self.sending_since, self.send_timeout
        if since is None or timeout is None or self.on_stuck is None:
            return
        if asyncio.get_running_loop().time() - since > timeout:
            on_stuck, self.on_stuck = self.on_stuck, None
            on_stuck()

    async def get(self) -> Outgoing:
        """The next message; RESYNC (and an emptied inbox) after an overflow."""
        while not self.queue:
            if self.overflowed:
                break
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        if self.overflowed:
            self.overflowed = False
            self._empty()
            return RESYNC
        message = self.queue.popleft()
        self.queued_bytes -= len(message.text)
        return message

    def close(self) -> None:
        """Leave the feed (which stops once idle for IDLE_FEED_GRACE_SECONDS)."""
        self.feed.unsubscribe(self)


class Feed:
    """A background reader whose messages go to every subscription."""

    def __init__(self, key: FeedKey, reader: LiveReader) -> None:
        self.key = key
        self.reader = reader
        self.subscriptions: set[Subscription] = set()
        self.task: asyncio.Task | None = None
        self.ready = asyncio.Event()
        self._stop_at: float | None = None

    def start(self) -> None:
        """Start reading, in a task of the running loop, until cancelled."""
        self.task = asyncio.get_running_loop().create_task(self._guarded_run(), name=f"feed {self.key}")

    def subscribe(
        self, *, send_timeout: float | None = None, on_stuck: Callable[[], None] | None = None
    ) -> Subscription:
        """A new inbox on this feed (and the feed is no longer idle); see Subscription for the rest."""
        subscription = Subscription(self, send_timeout=send_timeout, on_stuck=on_stuck)
        self.subscriptions.add(subscription)
        self._stop_at = None
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscriptions.discard(subscription)
        if not self.subscriptions:
            self._stop_at = time.monotonic() + IDLE_FEED_GRACE_SECONDS

    @property
    def idle_expired(self) -> bool:
        """Whether the feed has had no subscriber for its whole grace period."""
        return self._stop_at is not None and time.monotonic() >= self._stop_at

    def publish(self, message: Message | Outgoing) -> None:
        """Offer `message` (encoded once) to every subscription."""
        if not self.subscriptions:
            return
        outgoing = message if isinstance(message, Outgoing) else Outgoing.of(message)
        for subscription in list(self.subscriptions):  # a stuck one may unsubscribe meanwhile
            subscription.offer(outgoing)

    async def _guarded_run(self) -> None:
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                await self.run()
                return
            except asyncio.CancelledError:
                raise
            except RedisUnavailable as error:
                self.publish(redis_unavailable(error.message))
                logger.warning("live feed %s: %s; retrying in %.1f s", self.key, error.message, delay)
            except Exception:
                logger.exception("live feed %s failed; restarting in %.1f s", self.key, delay)
            self.ready.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
            await self.on_reconnect()

    async def on_reconnect(self) -> None:
        """After an outage, tell subscribers to reload what they show from Redis."""
        self.publish(RESYNC)

    async def run(self) -> None:
        """Read and publish until cancelled; raising restarts it after a pause (subclasses)."""
        raise NotImplementedError


class StreamTailFeed(Feed):
    """New entries of one stream, read with XREAD BLOCK from the last ID seen (a read of its own,
    so on a cluster each tail blocks on the node that holds its stream)."""

    def __init__(self, key: FeedKey, reader: LiveReader, stream: str) -> None:
        super().__init__(key, reader)
        self.stream = stream
        self.position: str | None = None
        self.fanout_seconds = 0.0  # smoothed time one fan-out took (see COALESCE_SECONDS)

    @property
    def window(self) -> float:
        """How long after one fan-out the next may start: COALESCE_SECONDS, more when fan-outs are costly."""
        return min(COALESCE_SECONDS_MAX, max(COALESCE_SECONDS, FANOUT_WINDOW_FACTOR * self.fanout_seconds))

    async def run(self) -> None:
        if self.position is None:
            self.position = await self.reader.last_id(self.stream)
        self.ready.set()
        last_flush = 0.0
        while True:
            entries = await self.reader.read_after(self.stream, self.position, count=TAIL_BATCH, block_ms=BLOCK_MS)
            if not entries:
                continue
            wait = self.window - (time.monotonic() - last_flush)
            if wait > 0:
                # Flushed a moment ago: gather what else arrives in the rest of the window.
                await asyncio.sleep(wait)
                entries += await self.reader.read_after(self.stream, entries[-1].id, count=TAIL_BATCH, block_ms=None)
            self.position = entries[-1].id
            last_flush = time.monotonic()
            self.publish(tail_entries(entries))
            await asyncio.sleep(0)  # every relay woken by the publish runs before this returns
            took = time.monotonic() - last_flush
            self.fanout_seconds += FANOUT_SMOOTHING * (took - self.fanout_seconds)


async def read_group_counts(reader: LiveReader, stream: str, group: str) -> Message:
    """The group's counts as the group page shows them, read now (see messages.group_counts)."""
    snapshot = await reader.group_snapshot(stream, group)
    workers = await reader.workers(group=group)
    return group_counts(snapshot, workers, now=time.time())


class GroupFeed(Feed):
    """One consumer group of one stream: its counts (polled, sent when they change) and
    the entries its workers report as processed (tailed)."""

    def __init__(self, key: FeedKey, reader: LiveReader, stream: str, group: str) -> None:
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
                reports = await self.reader.processed_after(
                    self.group, self.position, count=PROCESSED_BATCH, block_ms=BLOCK_MS
                )
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
            counts = await read_group_counts(self.reader, self.stream, self.group)
            if counts != self.last_counts:
                self.last_counts = counts
                self.publish(counts)
            await asyncio.sleep(POLL_SECONDS)


class DashboardFeed(Feed):
    """Streams with length and recent rate, groups with pending and lag, live workers."""

    def __init__(self, key: FeedKey, reader: LiveReader) -> None:
        super().__init__(key, reader)
        self.rates = StreamRates()
        self.latest: Message | None = None

    async def run(self) -> None:
        while True:
            self.latest = await self._read()
            self.ready.set()
            self.publish(self.latest)
            await asyncio.sleep(DASHBOARD_REFRESH_SECONDS)

    async def _read(self) -> Message:
        names = await self.reader.stream_names(
            limit=DASHBOARD_STREAMS, dead_letter_template=app_settings().dead_letter_stream
        )
        counts = await self.reader.stream_counts(names)
        workers = await self.reader.workers()
        now = time.monotonic()
        rates = {
            counted.stream.name: self.rates.observe(counted.stream.name, counted.stream.length, now=now)
            for counted in counts
        }
        return dashboard_message(counts, workers, rates=rates, now=time.time())


def tail_feed(stream: str) -> FeedSpec:
    """The feed of new entries of `stream`."""
    return FeedSpec(("tail", stream), lambda key, reader: StreamTailFeed(key, reader, stream))


def group_feed(stream: str, group: str) -> FeedSpec:
    """The feed of `group` on `stream`: counts and processed entries."""
    return FeedSpec(("group", stream, group), lambda key, reader: GroupFeed(key, reader, stream, group))


def dashboard_feed() -> FeedSpec:
    """The one dashboard feed."""
    return FeedSpec(("dashboard",), lambda key, reader: DashboardFeed(key, reader))
