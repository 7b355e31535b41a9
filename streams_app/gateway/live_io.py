"""The asyncio side of the gateway, for the live pages served by the ASGI process:
tails read with XREAD BLOCK, and snapshots of groups, consumers and workers.

On a Redis Cluster (an asyncio `RedisCluster`) every command here names one key, or is a
non-transactional pipeline, which redis-py splits per node; a tail reads one stream, so
tails of streams on different nodes are separate blocking reads, never one CROSSSLOT XREAD;
SCAN walks every primary. The failures a cluster adds are RedisUnavailable, as a refused
connection is (`guarded`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis
import redis.asyncio.cluster as aiocluster

from streams_app.errors import RedisUnavailable
from streams_app.gateway.errors import guarded, translate_redis_error
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
# The dashboard's SCAN: at most this many rounds (on a cluster, one call per primary a round).
SCAN_ROUNDS = 10
SCAN_COUNT = 1000

LiveClient = aioredis.Redis | aiocluster.RedisCluster


def unavailable(error: BaseException) -> RedisUnavailable | None:
    """The RedisUnavailable `error` stands for on one node or a cluster, or None if Redis answered."""
    found = translate_redis_error(error)
    return found if isinstance(found, RedisUnavailable) else None


def raise_if_unavailable(replies: list) -> None:
    """Raise the first reply of a pipeline run without raising that says Redis is away (a node gone,
    CLUSTERDOWN): the others are Redis's own answers ("no such key", WRONGTYPE)."""
    for reply in replies:
        if isinstance(reply, BaseException) and (found := unavailable(reply)) is not None:
            raise found from reply


class LiveReader:
    """Async reads for live pages; every method raises RedisUnavailable when Redis is away."""

    def __init__(self, client: LiveClient) -> None:
        self.client = client
        self.on_cluster = isinstance(client, aiocluster.RedisCluster)

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

    async def read_after(self, stream: str, position: str, *, count: int, block_ms: int | None) -> list[Entry]:
        """XREAD (BLOCK `block_ms`, if given): entries of `stream` after `position`.

        One stream a read: an XREAD of streams in different slots is CROSSSLOT on a cluster, and
        each tail has its own read anyway (feeds.py), on whichever node holds its stream."""
        reply = await guarded(self.client.xread({key_bytes(stream): position}, count=count, block=block_ms))
        return [Entry.from_redis(raw_id, fields) for _, rows in reply or [] for raw_id, fields in rows]

    async def group_snapshot(self, stream: str, group: str) -> GroupSnapshot | None:
        """The group and its consumers; None when the stream or the group is not there."""
        key = key_bytes(stream)
        # One key, so one slot: a cluster sends this pipeline to the stream's node.
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
                [summary] = await guarded(
                    groups_with_lag_async(
                        self.client, key, StreamSummary.from_xinfo(stream, info), [summary], budget=LIVE_LAG_BUDGET
                    )
                )
                return GroupSnapshot(summary, [ConsumerSummary.from_xinfo(row) for row in consumers])
        return None

    async def stream_counts(self, streams: list[str]) -> list[StreamCounts]:
        """Each stream and its groups, in one round trip (one per node on a cluster: redis-py splits
        the pipeline); vanished keys are left out."""
        pipe = self.client.pipeline(transaction=False)
        for name in streams:
            pipe.xinfo_stream(key_bytes(name))
            pipe.xinfo_groups(key_bytes(name))
        replies = await guarded(pipe.execute(raise_on_error=False)) if streams else []
        raise_if_unavailable(replies)
        found = []
        for index, name in enumerate(streams):
            info, groups = replies[2 * index], replies[2 * index + 1]
            if isinstance(info, Exception):
                continue
            summary = StreamSummary.from_xinfo(name, info)
            group_rows = [] if isinstance(groups, Exception) else groups
            counted = await guarded(
                groups_with_lag_async(
                    self.client,
                    key_bytes(name),
                    summary,
                    [GroupSummary.from_xinfo(row) for row in group_rows],
                    budget=LIVE_LAG_BUDGET,
                )
            )
            found.append(StreamCounts(summary, counted))
        return found

    async def stream_names(self, *, limit: int = 50, dead_letter_template: str) -> list[str]:
        """User stream keys for the dashboard (the app's and RQ's own left out): a bounded SCAN
        (of every primary, on a cluster), so a huge key space costs little."""
        names: list[str] = []
        async for keys in self._scan_rounds():
            found = (key_from_bytes(key) for key in keys)
            names.extend(name for name in found if internal_reason(name, dead_letter_template) is None)
            if len(names) >= limit:
                break
        return sorted(set(names))[:limit]

    async def _scan_rounds(self) -> AsyncIterator[list[bytes]]:
        """The keys of each round of SCAN ... TYPE stream, at most SCAN_ROUNDS rounds; on a cluster a
        round asks every primary whose walk is not over, at once."""
        if not self.on_cluster:
            cursor = 0
            for _ in range(SCAN_ROUNDS):
                cursor, keys = await guarded(self.client.scan(cursor=cursor, count=SCAN_COUNT, _type="stream"))
                yield keys
                if int(cursor) == 0:
                    return
            return
        await guarded(self.client.initialize())  # the primaries are known once the client has the layout
        walks = {node: 0 for node in self.client.get_primaries()}
        for _ in range(SCAN_ROUNDS):
            nodes = list(walks)
            replies = await guarded(
                asyncio.gather(
                    *(
                        self.client.scan(cursor=walks[node], count=SCAN_COUNT, _type="stream", target_nodes=node)
                        for node in nodes
                    )
                )
            )
            keys = []
            for node, (node_cursors, node_keys) in zip(nodes, replies, strict=True):
                keys.extend(node_keys)
                walks[node] = int(node_cursors[node.name])
            yield keys
            walks = {node: cursor for node, cursor in walks.items() if cursor != 0}
            if not walks:
                return

    async def workers(self, *, group: str | None = None, limit: int = 500) -> list[WorkerHeartbeat]:
        """The most recently seen workers (of `group`, or all), newest first, each live or gone."""
        rows = await guarded(self.client.zrevrange(workers_index_key(), 0, limit - 1, withscores=True))
        members = [member for member in index_members(rows) if group is None or member[0] == group]
        # Heartbeats sit in any slot (keys.py): a cluster splits the pipeline per node.
        pipe = self.client.pipeline(transaction=False)
        for member_group, name, _ in members:
            pipe.hgetall(heartbeat_key(member_group, name))
        hashes = await guarded(pipe.execute()) if members else []
        return [worker_heartbeat(*member, raw) for member, raw in zip(members, hashes, strict=True)]

    async def processed_after(self, group: str, position: str, *, count: int, block_ms: int) -> list[Entry]:
        """Processing reports the group's workers published after `position`."""
        return await self.read_after(processed_events_key(group), position, count=count, block_ms=block_ms)

    async def processed_last_id(self, group: str) -> str:
        """The ID a tail of the group's processing reports should continue from (0-0 if none yet)."""
        return await self.last_id(processed_events_key(group))

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
