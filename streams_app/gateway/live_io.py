"""The asyncio side of the gateway, for the live pages served by the ASGI process:
tails read with XREAD BLOCK, and snapshots of groups, consumers and workers."""

from __future__ import annotations

import json
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis

from streams_app.gateway.errors import guarded
from streams_app.gateway.heartbeats import WorkerHeartbeat, index_members, worker_heartbeat
from streams_app.gateway.keys import (
    heartbeat_key,
    internal_reason,
    key_bytes,
    key_from_bytes,
    processed_events_key,
    workers_index_key,
)
from streams_app.gateway.lag import groups_with_lag_async
from streams_app.gateway.types import ConsumerSummary, Entry, GroupSummary, StreamSummary, text


@dataclass(frozen=True, slots=True)
class GroupSnapshot:
    """A consumer group and its consumers, as XINFO reports them."""

    group: GroupSummary
    consumers: list[ConsumerSummary]


@dataclass(frozen=True, slots=True)
class StreamCounts:
    """A stream and its groups, as the dashboard shows them."""

    stream: StreamSummary
    groups: list[GroupSummary]


# Live pages refresh every second or so: count a group's lag a little at a time.
LIVE_LAG_BUDGET = 5_000


class LiveReader:
    """Async reads for live pages; every method raises RedisUnavailable when Redis is away."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client

    async def close(self) -> None:
        """Close the client's connections (the reader is not used afterwards)."""
        await self.client.aclose()

    async def last_id(self, stream: str) -> str:
        """The ID a tail should continue from: the stream's last ID, or 0-0 if it has none yet."""
        rows = await guarded(self.client.xrevrange(key_bytes(stream), count=1))
        return text(rows[0][0]) if rows else "0-0"

    async def latest(self, stream: str, count: int, *, after: str | None = None) -> list[Entry]:
        """The newest `count` entries (after `after`, exclusive), oldest first."""
        low = f"({after}" if after else "-"
        try:
            rows = await guarded(self.client.xrevrange(key_bytes(stream), max="+", min=low, count=count))
        except redis.ResponseError:
            return []  # not a stream: the page says so; the tail stays empty
        return [Entry.from_redis(raw_id, fields) for raw_id, fields in reversed(rows)]

    async def read_after(
        self, positions: dict[str, str], *, count: int, block_ms: int | None
    ) -> list[tuple[str, list[Entry]]]:
        """XREAD BLOCK: entries after each stream's position, as (stream, entries)."""
        reply = await guarded(
            self.client.xread(
                {key_bytes(name): position for name, position in positions.items()}, count=count, block=block_ms
            )
        )
        return [
            (key_from_bytes(raw_stream), [Entry.from_redis(raw_id, fields) for raw_id, fields in rows])
            for raw_stream, rows in reply or []
        ]

    async def group_snapshot(self, stream: str, group: str) -> GroupSnapshot | None:
        """The group and its consumers; None when the stream or the group is not there."""
        key = key_bytes(stream)
        pipe = self.client.pipeline(transaction=False)
        pipe.xinfo_stream(key)
        pipe.xinfo_groups(key)
        pipe.xinfo_consumers(key, key_bytes(group))
        try:
            info, groups, consumers = await guarded(pipe.execute())
        except redis.ResponseError:
            return None
        for row in groups:
            summary = GroupSummary.from_xinfo(row)
            if summary.name == group:
                [summary] = await groups_with_lag_async(
                    self.client, key, StreamSummary.from_xinfo(stream, info), [summary], budget=LIVE_LAG_BUDGET
                )
                return GroupSnapshot(summary, [ConsumerSummary.from_xinfo(row) for row in consumers])
        return None

    async def stream_counts(self, streams: list[str]) -> list[StreamCounts]:
        """Each stream and its groups, in one round trip (for the dashboard); vanished keys are left out."""
        pipe = self.client.pipeline(transaction=False)
        for name in streams:
            pipe.xinfo_stream(key_bytes(name))
            pipe.xinfo_groups(key_bytes(name))
        replies = await guarded(pipe.execute(raise_on_error=False))
        found = []
        for index, name in enumerate(streams):
            info, groups = replies[2 * index], replies[2 * index + 1]
            if isinstance(info, Exception):
                continue
            summary = StreamSummary.from_xinfo(name, info)
            group_rows = [] if isinstance(groups, Exception) else groups
            counted = await groups_with_lag_async(
                self.client,
                key_bytes(name),
                summary,
                [GroupSummary.from_xinfo(row) for row in group_rows],
                budget=LIVE_LAG_BUDGET,
            )
            found.append(StreamCounts(summary, counted))
        return found

    async def stream_names(self, *, limit: int = 50, dead_letter_template: str) -> list[str]:
        """User stream keys for the dashboard (the app's and RQ's own left out): a bounded SCAN,
        so a huge key space costs little."""
        names: list[str] = []
        cursor = 0
        for _ in range(10):
            cursor, keys = await guarded(self.client.scan(cursor=cursor, count=1000, _type="stream"))
            found = (key_from_bytes(key) for key in keys)
            names.extend(name for name in found if internal_reason(name, dead_letter_template) is None)
            if int(cursor) == 0 or len(names) >= limit:
                break
        return sorted(set(names))[:limit]

    async def workers(self, *, group: str | None = None, limit: int = 500) -> list[WorkerHeartbeat]:
        """The most recently seen workers (of `group`, or all), newest first, each live or gone."""
        rows = await guarded(self.client.zrevrange(workers_index_key(), 0, limit - 1, withscores=True))
        members = [member for member in index_members(rows) if group is None or member[0] == group]
        pipe = self.client.pipeline(transaction=False)
        for member_group, name, _ in members:
            pipe.hgetall(heartbeat_key(member_group, name))
        hashes = await guarded(pipe.execute()) if members else []
        return [worker_heartbeat(*member, raw) for member, raw in zip(members, hashes, strict=True)]

    async def processed_after(self, group: str, position: str, *, count: int, block_ms: int) -> list[Entry]:
        """Processing reports the group's workers published after `position`."""
        reply = await guarded(self.client.xread({processed_events_key(group): position}, count=count, block=block_ms))
        return [Entry.from_redis(raw_id, fields) for _, rows in reply or [] for raw_id, fields in rows]

    async def processed_last_id(self, group: str) -> str:
        """The ID a tail of the group's processing reports should continue from (0-0 if none yet)."""
        rows = await guarded(self.client.xrevrange(processed_events_key(group), count=1))
        return text(rows[0][0]) if rows else "0-0"

    async def recent_processed(self, group: str, count: int) -> list[Entry]:
        """The group's newest `count` processing reports, oldest first."""
        rows = await guarded(self.client.xrevrange(processed_events_key(group), count=count))
        return [Entry.from_redis(raw_id, fields) for raw_id, fields in reversed(rows)]


def processed_entries(report: Entry) -> list[dict]:
    """The entries a processing report lists (at most a few per batch; the count says how many there were)."""
    try:
        entries = json.loads(report.fields.get("entries", "[]"))
    except ValueError:
        return []
    return entries if isinstance(entries, list) else []
