"""Channels WebSocket consumers for the live pages: check the user and the address, subscribe
to a shared feed (feeds.py), send a snapshot read from Redis, then relay the feed's messages
(messages.py). Refusals, frames, the per-user cap and failures are sockets.py's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from streams_app.conf import app_settings
from streams_app.domain.ids import StreamId
from streams_app.domain.names import name_from_token
from streams_app.errors import DomainError, NotFound, RedisUnavailable
from streams_app.gateway.stores import stream_store
from streams_app.jobs.progress import JobStatus, job_group, job_status
from streams_app.live import feeds
from streams_app.live.feeds import FeedSpec, Subscription
from streams_app.live.messages import (
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_TOO_SLOW,
    RESYNC,
    Message,
    Outgoing,
    error_message,
    group_snapshot,
    no_live_feed,
    not_a_job_address,
    not_your_job,
    redis_unavailable,
    tail_snapshot,
    too_slow,
)
from streams_app.live.registry import registry
from streams_app.live.sockets import LiveSocket, Refused

# RQ's own alphabet for job IDs (rq.job.JOB_ID_PATTERN); RQ makes 36-character UUIDs, and 64 keeps
# the job's channel-layer group ("job.<id>") inside Channels' 100 characters.
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

logger = logging.getLogger("streams_app.live")


class LiveConsumer(LiveSocket):
    """Subscribe to a feed, send a snapshot, relay; resynchronise when told to."""

    # Feeds fan out inside this process; these consumers need no channel-layer inbox.
    channel_layer_alias = None

    subscription: Subscription | None = None
    relay_task: asyncio.Task | None = None

    async def connect(self) -> None:
        self.require_signed_in()
        self.parse_route()
        await self.check_target()
        self.count_socket()
        await self.accept()
        self.subscription = await registry().subscribe(
            self.feed(), send_timeout=app_settings().live_send_timeout_seconds, on_stuck=self.fell_behind
        )
        await self.send_snapshot()
        self.relay_task = self.run_in_background(self.relay)

    async def leave(self) -> None:
        if self.subscription is not None:
            self.subscription.close()
            self.subscription = None

    async def relay(self) -> None:
        """Send the tab each message of its feed: the hot path, run for every tab of every message."""
        subscription = self.subscription
        send = self.server_send
        loop = asyncio.get_running_loop()
        while subscription is self.subscription:
            message = await subscription.get()
            subscription.sending_since = loop.time()  # a send that never ends is found by the feed
            if message is RESYNC:
                await self.send_snapshot()
            else:
                outgoing = self.filter(message)
                if outgoing is message:
                    await send(message.frame)  # encoded and framed once for every tab
                elif outgoing is not None:
                    await self.send_json(outgoing)
            subscription.sending_since = None

    def fell_behind(self) -> None:
        """The feed found this tab stuck in one send for over the timeout: let go of its feed and inbox
        at once, and close it with 4408 (sent after what is queued, once the page reads again). It
        keeps its place in its user's cap until the connection ends, so pages that never read cannot
        pile up."""
        if self.subscription is None:
            return
        self.subscription.close()
        self.subscription = None
        if self.relay_task is not None:
            self.relay_task.cancel()
        seconds = app_settings().live_send_timeout_seconds
        logger.info("live socket %s stopped reading for over %g s; closing it", self.scope.get("path"), seconds)

        async def close_when_read() -> None:
            with contextlib.suppress(Exception):  # the page may be gone by then
                await self.send_json(too_slow(seconds))
                await self.close(CLOSE_TOO_SLOW)

        self.run_in_background(close_when_read)

    async def send_snapshot(self) -> None:
        try:
            await self.send_json(await self.snapshot())
        except RedisUnavailable as error:
            await self.send_json(redis_unavailable(error.message))

    async def receive_json(self, content: dict, **kwargs) -> None:
        await self.send_snapshot()  # the one action: resync

    # Subclasses say what they watch.
    def parse_route(self) -> None:
        """Read what the socket watches from its path (a DomainError refuses it)."""

    async def check_target(self) -> None:
        """Refuse (with a DomainError) a socket on something the HTTP page would refuse."""

    def feed(self) -> FeedSpec:
        raise NotImplementedError

    async def snapshot(self) -> Message:
        raise NotImplementedError

    def filter(self, message: Outgoing) -> Outgoing | Message | None:
        return message


class StreamTailConsumer(LiveConsumer):
    """New entries of one stream, oldest first: the newest ones on (re)connect, then each one once."""

    last_sent: StreamId | None = None
    in_step = False

    def parse_route(self) -> None:
        self.stream = name_from_token(self.scope["url_route"]["kwargs"]["token"])
        self.last_sent = None
        self.in_step = False

    async def check_target(self) -> None:
        # Redis away: cannot tell yet; the feed says so, and resynchronises the page when it is back.
        with contextlib.suppress(RedisUnavailable):
            await sync_to_async(stream_store().require_stream, thread_sensitive=False)(self.stream)

    def feed(self) -> FeedSpec:
        return feeds.tail_feed(self.stream)

    async def snapshot(self) -> Message:
        reader = registry().reader_for_snapshots()
        entries = await reader.latest(self.stream, app_settings().live_snapshot_rows)
        self.in_step = False  # the next feed message may overlap the snapshot
        if entries:
            self.last_sent = entries[-1].stream_id
        return tail_snapshot(entries)

    def filter(self, message: Outgoing) -> Outgoing | Message | None:
        if self.in_step:
            # In step with the feed since its first message after the snapshot: the feed's messages
            # follow one another without overlap, so the rest is sent as is, nothing compared.
            return message
        if message.type != "entries":
            return message
        if self.last_sent is None or (message.first is not None and message.first > self.last_sent):
            self.last_sent = message.last
            self.in_step = True
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


def job_id_from_route(raw: str) -> str:
    """The job ID in a socket's path; refused (4404) unless RQ could have made it."""
    if not JOB_ID.fullmatch(raw):
        raise Refused(CLOSE_NOT_FOUND, not_a_job_address(raw))
    return raw


def may_follow(user, status: JobStatus) -> bool:
    """Whether `user` may follow the job: it is theirs, or they are staff."""
    return user.is_staff or user.is_superuser or (status.user_id is not None and status.user_id == user.pk)


class JobConsumer(LiveSocket):
    """A background job's progress, for its owner or staff: pushed by the job over the channel
    layer; read from the job itself on connect and every few seconds, since the layer may drop messages."""

    RESYNC_SECONDS = 3.0
    # No inbox from Channels: it would be read (a blocking BZPOPMIN) before the socket is checked, and
    # a refused socket's consumer then outlived it by that read. The inbox opens once accepted.
    channel_layer_alias = None

    group_name: str | None = None

    async def connect(self) -> None:
        self.require_signed_in()
        self.job_id = job_id_from_route(self.scope["url_route"]["kwargs"]["job_id"])
        status = await self.read_status()  # NotFound refuses (4404); Redis away: 1013, the page retries
        if not may_follow(self.scope["user"], status):
            raise Refused(CLOSE_FORBIDDEN, not_your_job())
        self.count_socket()
        self.layer = get_channel_layer()
        self.inbox = await self.layer.new_channel()
        self.group_name = job_group(self.job_id)  # valid: JOB_ID's alphabet and length
        await self.layer.group_add(self.group_name, self.inbox)
        await self.accept()
        await self.send_json(status.as_message())
        self.run_in_background(self.relay_pushed)
        if not status.finished:
            self.run_in_background(self.follow)

    async def leave(self) -> None:
        if self.group_name is not None:
            group, self.group_name = self.group_name, None
            await self.layer.group_discard(group, self.inbox)

    async def read_status(self) -> JobStatus:
        return await database_sync_to_async(job_status)(self.job_id)

    async def relay_pushed(self) -> None:
        """Send the page each progress message the job pushes over the channel layer."""
        while True:
            event = await self.layer.receive(self.inbox)
            if event.get("type") == "job.progress":
                await self.send_json(event["status"])

    async def follow(self) -> None:
        """Re-read the job every RESYNC_SECONDS until it ends (refused with 4404 once RQ drops it)."""
        while True:
            await asyncio.sleep(self.RESYNC_SECONDS)
            try:
                status = await self.read_status()
            except NotFound as error:
                raise Refused(CLOSE_NOT_FOUND, error_message(error.message)) from None
            except DomainError as error:
                await self.send_json(redis_unavailable(error.message))
                continue
            await self.send_json(status.as_message())
            if status.finished:
                return

    async def receive_json(self, content: dict, **kwargs) -> None:
        try:
            status = await self.read_status()
        except DomainError as error:
            await self.send_json(redis_unavailable(error.message))
        else:
            await self.send_json(status.as_message())


class UnknownAddressConsumer(LiveSocket):
    """Any other path under the WebSocket routes: refused (4404) with a message, never a routing traceback."""

    channel_layer_alias = None

    async def connect(self) -> None:
        raise Refused(CLOSE_NOT_FOUND, no_live_feed(self.scope.get("path", "")))
