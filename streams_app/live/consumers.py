"""Channels WebSocket consumers for the live pages: check the user, parse the route,
subscribe to a shared feed (feeds.py), send a snapshot read from Redis, then relay the
feed's messages (messages.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from streams_app.conf import app_settings
from streams_app.domain.ids import StreamId
from streams_app.domain.names import name_from_token
from streams_app.errors import DomainError, RedisUnavailable
from streams_app.jobs.progress import job_group, job_status
from streams_app.live import feeds
from streams_app.live.feeds import FeedSpec, Subscription
from streams_app.live.messages import Message, Outgoing, group_snapshot, redis_unavailable, tail_snapshot
from streams_app.live.registry import registry

logger = logging.getLogger("streams_app.live")

# Close codes the page understands: it stops reconnecting on these.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_BAD_ADDRESS = 4404


def signed_in(scope: dict) -> bool:
    """Whether the socket's user (set by AuthMiddlewareStack) is logged in and active."""
    user = scope.get("user")
    return user is not None and user.is_authenticated and user.is_active


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Subscribe to a feed, send a snapshot, relay; resynchronise when told to."""

    # Feeds fan out inside this process; these consumers need no channel-layer inbox.
    channel_layer_alias = None

    subscription: Subscription | None = None
    pump: asyncio.Task | None = None

    async def connect(self) -> None:
        if not signed_in(self.scope):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            self.parse_route()
        except DomainError:
            await self.close(code=CLOSE_BAD_ADDRESS)
            return
        await self.accept()
        self.subscription = await registry().subscribe(self.feed())
        await self.send_snapshot()
        self.pump = asyncio.get_running_loop().create_task(self.relay())

    async def disconnect(self, code: int) -> None:
        if self.pump is not None:
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.pump
        if self.subscription is not None:
            self.subscription.close()

    async def relay(self) -> None:
        assert self.subscription is not None
        while True:
            message = await self.subscription.get()
            if message.type == "resync":
                await self.send_snapshot()
                continue
            outgoing = self.filter(message)
            if isinstance(outgoing, Outgoing):
                await self.send(text_data=outgoing.text)  # encoded once for every tab
            elif outgoing is not None:
                await self.send_json(outgoing)

    async def send_snapshot(self) -> None:
        try:
            await self.send_json(await self.snapshot())
        except RedisUnavailable as error:
            await self.send_json(redis_unavailable(error.message))

    async def receive_json(self, content: object, **kwargs) -> None:
        if isinstance(content, dict) and content.get("action") == "resync":
            await self.send_snapshot()

    # Subclasses say what they watch.
    def parse_route(self) -> None: ...

    def feed(self) -> FeedSpec:
        raise NotImplementedError

    async def snapshot(self) -> Message:
        raise NotImplementedError

    def filter(self, message: Outgoing) -> Outgoing | Message | None:
        return message


class StreamTailConsumer(LiveConsumer):
    """New entries of one stream, oldest first: the newest ones on (re)connect, then each one once."""

    def parse_route(self) -> None:
        self.stream = name_from_token(self.scope["url_route"]["kwargs"]["token"])
        self.last_sent: StreamId | None = None

    def feed(self) -> FeedSpec:
        return feeds.tail_feed(self.stream)

    async def snapshot(self) -> Message:
        reader = registry().reader_for_snapshots()
        entries = await reader.latest(self.stream, app_settings().live_snapshot_rows)
        if entries:
            self.last_sent = entries[-1].stream_id
        return tail_snapshot(entries)

    def filter(self, message: Outgoing) -> Outgoing | Message | None:
        if message.type != "entries":
            return message
        if self.last_sent is None or (message.first is not None and message.first > self.last_sent):
            self.last_sent = message.last
            return message  # all of it is new to this tab: send the shared text
        # Right after a snapshot the first message may overlap it: entry by entry.
        fresh = [entry for entry in message.data["entries"] if StreamId.parse(entry["id"]) > self.last_sent]
        if not fresh:
            return None
        self.last_sent = StreamId.parse(fresh[-1]["id"])
        return {"type": "entries", "entries": fresh}


class GroupConsumer(LiveConsumer):
    """A consumer group: processed entries as workers report them, pending counts, lag, workers."""

    def parse_route(self) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        self.stream = name_from_token(kwargs["token"])
        self.group = name_from_token(kwargs["group"])

    def feed(self) -> FeedSpec:
        return feeds.group_feed(self.stream, self.group)

    async def snapshot(self) -> Message:
        reader = registry().reader_for_snapshots()
        counts = await feeds.read_group_counts(reader, self.stream, self.group)
        recent = await reader.recent_processed(self.group, app_settings().live_processed_rows)
        return group_snapshot(counts, recent, stream=self.stream)


class DashboardConsumer(LiveConsumer):
    """The dashboard: streams, groups and workers, as the one dashboard feed last read them."""

    def feed(self) -> FeedSpec:
        return feeds.dashboard_feed()

    async def snapshot(self) -> Message:
        assert self.subscription is not None
        latest = getattr(self.subscription.feed, "latest", None)
        if latest is None:
            raise RedisUnavailable("The dashboard has no data yet: Redis has not answered.")
        return latest


class JobConsumer(AsyncJsonWebsocketConsumer):
    """A background job's progress: pushed by the job over the channel layer; read from the
    job itself on connect and every few seconds, since the layer may drop messages."""

    RESYNC_SECONDS = 3.0

    async def connect(self) -> None:
        if not signed_in(self.scope):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.job_id = self.scope["url_route"]["kwargs"]["job_id"]
        self.group_name = job_group(self.job_id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()
        self.resync_task = asyncio.get_running_loop().create_task(self._resync_loop())

    async def disconnect(self, code: int) -> None:
        task = getattr(self, "resync_task", None)
        if task is not None:
            task.cancel()
        if hasattr(self, "group_name"):
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def _resync_loop(self) -> None:
        while True:
            try:
                status = await database_sync_to_async(job_status)(self.job_id)
            except DomainError as error:
                await self.send_json(redis_unavailable(error.message))
            else:
                await self.send_json(status.as_message())
                if status.finished:
                    return
            await asyncio.sleep(self.RESYNC_SECONDS)

    async def job_progress(self, event: dict) -> None:
        await self.send_json(event["status"])
