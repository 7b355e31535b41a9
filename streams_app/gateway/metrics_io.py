"""What a scrape of /metrics reads from Redis, in a bounded number of round trips.

1. The user streams: SCAN … TYPE stream (StreamStore.scan_stream_keys), at most
   `MAX_SCAN_CALLS` calls of `SCAN_COUNT` keys; one call on a small keyspace, and on a cluster
   at least one per primary. The app's and RQ's own keys and dead-letter streams are left out.
2. One pipeline: XINFO STREAM, XINFO GROUPS and the XLEN of the dead-letter stream of each
   stream, with ZCARD and ZREVRANGE of the workers index.
3. One pipeline (only when there are groups or workers): XINFO CONSUMERS of each group and the
   heartbeat hash (HGETALL) of each worker, which need the groups and the index first.

No scripts, so a cluster client can split both pipelines per node (redis-py does: a round trip
per node that holds any of the keys). A group's lag is what Redis says, or what the stream's ends
tell (lag.lag_known); where only a count could tell, it stays None: counting is a script per
group, more than a scrape should cost (the group pages and the API count it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis
import redis.cluster

from streams_app.errors import RedisUnavailable
from streams_app.gateway.errors import redis_call, translate_redis_error
from streams_app.gateway.heartbeats import WorkerHeartbeat, index_members, worker_heartbeat
from streams_app.gateway.keys import dead_letter_key, heartbeat_key, internal_reason, key_bytes, workers_index_key
from streams_app.gateway.lag import lag_known
from streams_app.gateway.streams import StreamStore
from streams_app.gateway.types import ConsumerSummary, GroupSummary, StreamSummary

SCAN_COUNT = 1000  # keys one SCAN call asks for
MAX_SCAN_CALLS = 100  # so one scrape walks at most ~100,000 keys (per scrape, on one node or a cluster)


@dataclass(frozen=True, slots=True)
class GroupState:
    """A group of a stream, with its consumers (None: not read, past `max_consumer_reads`, or the
    group went away between the two pipelines)."""

    summary: GroupSummary  # `lag` None where only a count could tell it
    consumers: tuple[ConsumerSummary, ...] | None


@dataclass(frozen=True, slots=True)
class StreamState:
    summary: StreamSummary  # `dead_letters` None when its dead-letter key holds something else
    groups: tuple[GroupState, ...]


@dataclass(frozen=True, slots=True)
class MetricsReading:
    """Everything one scrape shows, and what the bounds left out."""

    streams: tuple[StreamState, ...]  # sorted by name
    workers: tuple[WorkerHeartbeat, ...]  # most recently seen first
    streams_complete: bool  # False: the keyspace walk stopped at its bound, or more than `max_streams`
    workers_left_out: int  # workers in the index past `max_workers`
    consumer_reads_left_out: int  # groups whose consumers were not read (past `max_consumer_reads`)


class MetricsStore:
    """Read-only: the streams, groups, consumers, dead letters and workers a scrape shows."""

    def __init__(self, client: redis.Redis | redis.cluster.RedisCluster) -> None:
        self.client = client
        self.streams = StreamStore(client)

    @redis_call
    def read(
        self, *, max_streams: int, max_workers: int, max_consumer_reads: int, dead_letter_template: str
    ) -> MetricsReading:
        """The user streams (at most `max_streams`, by name), their groups and consumers, the
        length of each one's dead-letter stream and the `max_workers` most recently seen workers."""
        names, streams_complete = self._user_streams(max_streams, dead_letter_template)
        first = self.client.pipeline(transaction=False)
        for name in names:
            first.xinfo_stream(key_bytes(name))
            first.xinfo_groups(key_bytes(name))
            first.xlen(key_bytes(dead_letter_key(name, dead_letter_template)))
        first.zcard(workers_index_key())
        first.zrevrange(workers_index_key(), 0, max_workers - 1, withscores=True)
        replies = first.execute(raise_on_error=False)
        known, index_size, index_rows = replies[:-2], _reply(replies[-2]), _reply(replies[-1])

        streams: list[tuple[StreamSummary, list[GroupSummary]]] = []
        for position, name in enumerate(names):
            info, rows, dead = (_reply(reply) for reply in known[3 * position : 3 * position + 3])
            if info is None or rows is None:  # gone (or no longer a stream) since the SCAN
                continue
            summary = StreamSummary.from_xinfo(name, info, dead_letters=None if dead is None else int(dead))
            streams.append((summary, [lag_known(summary, GroupSummary.from_xinfo(row)) for row in rows]))
        members = index_members(index_rows or [])

        wanted = [(summary.name, group.name) for summary, groups in streams for group in groups]
        asked, left_out = wanted[:max_consumer_reads], max(0, len(wanted) - max_consumer_reads)
        consumers, hashes = self._consumers_and_heartbeats(asked, members)
        return MetricsReading(
            streams=tuple(
                StreamState(
                    summary=summary,
                    groups=tuple(GroupState(group, consumers.get((summary.name, group.name))) for group in groups),
                )
                for summary, groups in streams
            ),
            workers=tuple(worker_heartbeat(*member, raw) for member, raw in zip(members, hashes, strict=True)),
            streams_complete=streams_complete,
            workers_left_out=max(0, int(index_size or 0) - len(members)),
            consumer_reads_left_out=left_out,
        )

    def _user_streams(self, max_streams: int, dead_letter_template: str) -> tuple[list[str], bool]:
        """The names of the user streams (sorted, at most `max_streams`) and whether that is all of them."""
        page = self.streams.scan_stream_keys(
            want=max_streams + 1,
            scan_count=SCAN_COUNT,
            max_calls=MAX_SCAN_CALLS,
            keep=lambda name: internal_reason(name, dead_letter_template) is None,
        )
        names = sorted(set(page.names))
        return names[:max_streams], page.next_cursor is None and len(names) <= max_streams

    def _consumers_and_heartbeats(
        self, groups: Sequence[tuple[str, str]], members: Sequence[tuple[str, str, float]]
    ) -> tuple[dict[tuple[str, str], tuple[ConsumerSummary, ...]], list[dict | None]]:
        if not groups and not members:
            return {}, []
        second = self.client.pipeline(transaction=False)
        for stream, group in groups:
            second.xinfo_consumers(key_bytes(stream), key_bytes(group))
        for group, name, _ in members:
            second.hgetall(heartbeat_key(group, name))
        replies = [_reply(reply) for reply in second.execute(raise_on_error=False)]
        consumers = {
            where: tuple(ConsumerSummary.from_xinfo(row) for row in rows)
            for where, rows in zip(groups, replies[: len(groups)], strict=True)
            if rows is not None
        }
        return consumers, replies[len(groups) :]


def _reply(reply: object) -> object:
    """A pipeline's reply, or None where Redis refused that one command (a key gone, or of another
    type); Redis being unavailable is raised, not taken for a missing key."""
    if not isinstance(reply, Exception):
        return reply
    if isinstance(translate_redis_error(reply), RedisUnavailable):
        raise reply
    return None
