"""The feeds of this process: started on a page's first subscription, shared by every tab
that watches the same thing, stopped a while after the last one leaves; and how many live
sockets each user holds open in this process."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Hashable

from streams_app.conf import app_settings
from streams_app.gateway.clients import live_client
from streams_app.gateway.live_io import LiveReader
from streams_app.live.feeds import Feed, FeedKey, FeedSpec, Subscription

# A page waits at most this long for its feed's first read before it is sent its snapshot
# (a dashboard with nothing read yet then says Redis is away).
READY_TIMEOUT_SECONDS = 5.0
# How often idle feeds are looked for; a feed outlives its grace by at most this.
REAP_EVERY_SECONDS = 1.0
# How long closing waits for the feeds' tasks to end (a cancelled read ends at once).
CLOSE_WAIT_SECONDS = 1.0


class FeedRegistry:
    """The feeds of this process (of its event loop), created on first use, stopped when idle."""

    def __init__(self) -> None:
        self.feeds: dict[FeedKey, Feed] = {}
        self.reader: LiveReader | None = None
        self._reaper: asyncio.Task | None = None
        self.sockets_by_user: Counter[Hashable] = Counter()

    def take_socket(self, user: Hashable) -> bool:
        """Count one more open socket of `user`; False (and nothing counted) when they are at the cap."""
        if self.sockets_by_user[user] >= app_settings().live_sockets_per_user:
            return False
        self.sockets_by_user[user] += 1
        return True

    def give_back_socket(self, user: Hashable) -> None:
        """Count one socket of `user` fewer (one `take_socket` let in)."""
        self.sockets_by_user[user] -= 1
        if self.sockets_by_user[user] <= 0:
            del self.sockets_by_user[user]

    def _reader(self) -> LiveReader:
        if self.reader is None:
            self.reader = LiveReader(live_client())
        return self.reader

    async def subscribe(
        self, spec: FeedSpec, *, send_timeout: float | None = None, on_stuck: Callable[[], None] | None = None
    ) -> Subscription:
        """A new inbox on the feed `spec` names (started if need be), once it has read Redis or timed out
        (`send_timeout`, `on_stuck`: see feeds.Subscription)."""
        feed = self.feeds.get(spec.key)
        if feed is None or (feed.task is not None and feed.task.done()):
            feed = self.feeds[spec.key] = spec.make(spec.key, self._reader())
            feed.start()
        subscription = feed.subscribe(send_timeout=send_timeout, on_stuck=on_stuck)
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(feed.ready.wait(), timeout=READY_TIMEOUT_SECONDS)
        return subscription

    async def _reap(self) -> None:
        while self.feeds:
            await asyncio.sleep(REAP_EVERY_SECONDS)
            for key, feed in list(self.feeds.items()):
                if feed.idle_expired:
                    if feed.task:
                        feed.task.cancel()
                    del self.feeds[key]

    def reader_for_snapshots(self) -> LiveReader:
        """The registry's reader, for the snapshots consumers read themselves."""
        return self._reader()

    async def close(self) -> None:
        """Stop every feed and the reaper, and close the Redis client (a loop ending, a test finishing)."""
        tasks = [feed.task for feed in self.feeds.values() if feed.task is not None]
        if self._reaper is not None:
            tasks.append(self._reaper)
        self.feeds.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=CLOSE_WAIT_SECONDS)
            for task in pending:
                task.cancel()  # redis-py can lose a cancellation that lands while it connects: ask again
        if self.reader is not None:
            await self.reader.close()
            self.reader = None


_registries: dict[int, FeedRegistry] = {}


def registry() -> FeedRegistry:
    """The registry of the running event loop (one per server process in practice)."""
    loop = asyncio.get_running_loop()
    found = _registries.get(id(loop))
    if found is None:
        found = _registries[id(loop)] = FeedRegistry()
    return found


async def close_feeds() -> None:
    """Stop the running event loop's feeds and forget its registry."""
    found = _registries.pop(id(asyncio.get_running_loop()), None)
    if found is not None:
        await found.close()
