"""Trimming streams (XTRIM MAXLEN / MINID) and what stands in its way: entries still pending.

Whether a MAXLEN trim would remove a group's oldest pending entry is decided by counting, never
by reading the entries the trim would remove: Redis counts (see gateway/lag.py) and only the
counts come back, within a budget (lag.COUNT_BUDGET entries), so a plan costs the same on a
stream of a billion entries; what the budget cannot settle is reported as undecided (None).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import redis

from streams_app.gateway.errors import redis_call
from streams_app.gateway.keys import key_bytes
from streams_app.gateway.lag import count_around
from streams_app.gateway.types import GroupSummary, StreamId, StreamSummary, text

MAX_TRIM_COUNT = 2**63 - 1  # Redis reads MAXLEN as a signed 64-bit integer


@dataclass(frozen=True, slots=True)
class RemovalCheck:
    """Whether a trim would remove an entry: True, False, or None when the count ran out of budget."""

    removes: bool | None
    examined: int = 0  # entries Redis looked at to decide


class RetentionStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @redis_call
    def maxlen_removes(
        self, name: str, maxlen: int, positions: Mapping[str, str], *, budget: int | None = None
    ) -> dict[str, RemovalCheck]:
        """For each of `positions` (group -> an ID, e.g. its oldest pending entry), whether an exact
        MAXLEN `maxlen` trim would remove the entries up to it: whether that ID lies before the
        first entry the trim keeps. Approximate trims remove no more than exact ones."""
        if not positions:
            return {}
        key = key_bytes(name)
        try:
            stream = StreamSummary.from_xinfo(name, self.client.xinfo_stream(key))
        except redis.ResponseError as error:
            if "no such key" in str(error):
                return {group: RemovalCheck(False) for group in positions}
            raise
        removed = stream.length - maxlen  # the exact trim removes the oldest `removed` entries
        return {
            group: self._removes(key, stream, maxlen, removed, StreamId.parse(position), budget)
            for group, position in positions.items()
        }

    def _removes(
        self, key: bytes, stream: StreamSummary, maxlen: int, removed: int, position: StreamId, budget: int | None
    ) -> RemovalCheck:
        if removed <= 0 or stream.first_id is None or stream.last_id is None:
            return RemovalCheck(False)
        if maxlen == 0 or position < StreamId.parse(stream.first_id):
            return RemovalCheck(True)
        if position >= StreamId.parse(stream.last_id):
            return RemovalCheck(False)
        # Removed iff at most `removed` entries lie at or before `position`, that is iff at least
        # `maxlen` lie after it: count from both ends until one of the two is settled.
        count = count_around(self.client, key, position, budget=budget, stop_before=removed, stop_after=maxlen)
        if count.before_complete:
            return RemovalCheck(count.before <= removed, count.examined)
        if count.after_complete:
            return RemovalCheck(stream.length - count.after <= removed, count.examined)
        if count.before > removed:
            return RemovalCheck(False, count.examined)
        if count.after >= maxlen:
            return RemovalCheck(True, count.examined)
        return RemovalCheck(None, count.examined)

    @redis_call
    def oldest_pending(self, name: str) -> dict[str, str]:
        """Per group, the oldest entry still pending (groups with nothing pending are left out).
        Group names are exact (undecodable bytes as surrogate escapes), so any group can be asked."""
        groups = [GroupSummary.from_xinfo(row) for row in self.client.xinfo_groups(key_bytes(name))]
        names = [group.name for group in groups if group.pending]
        if not names:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for group in names:
            pipe.xpending(key_bytes(name), key_bytes(group))
        found = {}
        for group, summary in zip(names, pipe.execute(), strict=True):
            if int(summary["pending"]) and summary["min"]:
                found[group] = text(summary["min"])
        return found

    @redis_call
    def trim(self, name: str, *, maxlen: int | None = None, minid: str | None = None, approximate: bool = True) -> int:
        """XTRIM; returns how many entries went. Approximate trims whole nodes only: cheaper, may keep a few more."""
        return int(self.client.xtrim(key_bytes(name), maxlen=maxlen, minid=minid, approximate=approximate))
