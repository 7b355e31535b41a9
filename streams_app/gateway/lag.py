"""Counting a stream's entries on either side of an ID without reading them out, and what that
gives: a group's lag where Redis cannot tell, and the ENTRIESREAD a new group should start with.

Redis 7.0's XINFO GROUPS says nil for `lag` (and `entries-read`) when a group was created or
moved at an ID inside the stream without ENTRIESREAD (the tutorial's `XGROUP CREATE chennai
mygroup $` after `XADD chennai 1 …`, then new entries), and after deletions past the group's
last delivered ID. We then count the entries after the last delivered ID ourselves: a script
reads the stream from both ends, a chunk at a time, and returns only counts, so Redis's and our
memory stay bounded. When the count completes it is exact; when it runs out of budget the lag
is estimated, with the part already counted as a lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import redis
import redis.asyncio as aioredis
import redis.asyncio.cluster as aiocluster

from streams_app.gateway.types import GroupSummary, StreamId, StreamSummary

COUNT_BUDGET = 50_000  # entries one count may look at (Redis-side), per group
COUNT_CHUNK = 1000  # entries one XRANGE of the count reads

# Count the entries at or before ARGV[1] (reading forwards from the start) and after it
# (backwards from the end), a chunk at a time, alternating, until one side is complete, a side
# passes its stop count, or the budget is spent. Only the counts leave Redis.
_COUNT_AROUND = """
local key, pivot = KEYS[1], ARGV[1]
local budget, chunk = tonumber(ARGV[2]), tonumber(ARGV[3])
local stop_before, stop_after = tonumber(ARGV[4]), tonumber(ARGV[5])
local before, after, before_done, after_done = 0, 0, 0, 0
local low, high = '-', '+'
while before + after < budget do
  local rows = redis.call('XRANGE', key, low, pivot, 'COUNT', chunk)
  before = before + #rows
  if #rows < chunk or rows[#rows][1] == pivot then before_done = 1 break end
  if stop_before >= 0 and before > stop_before then break end
  low = '(' .. rows[#rows][1]
  rows = redis.call('XREVRANGE', key, high, '(' .. pivot, 'COUNT', chunk)
  after = after + #rows
  if #rows < chunk then after_done = 1 break end
  if stop_after >= 0 and after >= stop_after then break end
  high = '(' .. rows[#rows][1]
end
return {before, before_done, after, after_done}
"""

NEVER = -1  # no stop count


@dataclass(frozen=True, slots=True)
class CountAround:
    """Entries at or before an ID and after it, as far as the count got."""

    before: int
    before_complete: bool
    after: int
    after_complete: bool

    @property
    def examined(self) -> int:
        return self.before + self.after

    @classmethod
    def from_reply(cls, reply: list) -> CountAround:
        before, before_done, after, after_done = (int(value) for value in reply)
        return cls(before, bool(before_done), after, bool(after_done))


def _script_args(pivot: StreamId, budget: int, stop_before: int, stop_after: int) -> list[str | int]:
    return [str(pivot), budget, COUNT_CHUNK, stop_before, stop_after]


def count_around(
    client: redis.Redis,
    key: bytes,
    pivot: StreamId,
    *,
    budget: int | None = None,
    stop_before: int = NEVER,
    stop_after: int = NEVER,
) -> CountAround:
    """Count the entries of `key` at or before `pivot` and after it, within `budget` entries
    (COUNT_BUDGET by default). `pivot` must be below the stream's last entry (callers settle
    the ends without counting)."""
    script = client.register_script(_COUNT_AROUND)
    args = _script_args(pivot, COUNT_BUDGET if budget is None else budget, stop_before, stop_after)
    return CountAround.from_reply(script(keys=[key], args=args))


async def count_around_async(
    client: aioredis.Redis | aiocluster.RedisCluster, key: bytes, pivot: StreamId, *, budget: int | None = None
) -> CountAround:
    """`count_around` (no stop counts) for the asyncio client of the live pages. The script names
    its one key, so a cluster client runs it on the stream's node (loading it there if need be)."""
    script = client.register_script(_COUNT_AROUND)
    reply = await script(keys=[key], args=_script_args(pivot, COUNT_BUDGET if budget is None else budget, NEVER, NEVER))
    return CountAround.from_reply(reply)


# --- entries after an ID ----------------------------------------------------------------------


def entries_after_without_counting(stream: StreamSummary, position: StreamId) -> int | None:
    """How many entries of `stream` follow `position` when that needs no count (None when it does)."""
    if stream.length == 0 or stream.last_id is None or stream.first_id is None:
        return 0
    if position >= StreamId.parse(stream.last_id):
        return 0
    if position < StreamId.parse(stream.first_id):
        return stream.length
    return None


def entries_after(count: CountAround, stream: StreamSummary) -> int | None:
    """The exact number of entries after the pivot, when the count got that far (None otherwise)."""
    if count.after_complete:
        return count.after
    if count.before_complete:
        return stream.length - count.before
    return None


# --- a group's lag ----------------------------------------------------------------------------


def lag_pivot(stream: StreamSummary, group: GroupSummary) -> StreamId | None:
    """Where the lag of `group` must be counted from, or None when it is known without counting
    (Redis said it, or the group is at one end of the stream: see `lag_known`)."""
    if group.lag is not None:
        return None
    position = StreamId.parse(group.last_delivered_id)
    return position if entries_after_without_counting(stream, position) is None else None


def lag_known(stream: StreamSummary, group: GroupSummary) -> GroupSummary:
    """The group with its lag where no count is needed (Redis's, or 0 or the length at the ends)."""
    if group.lag is not None:
        return group
    after = entries_after_without_counting(stream, StreamId.parse(group.last_delivered_id))
    return group if after is None else replace(group, lag=after)


def lag_counted(stream: StreamSummary, group: GroupSummary, count: CountAround) -> GroupSummary:
    """The group with the lag `count` gives: exact when the count completed, else an estimate
    (by the position of its last delivered ID between the first and last entry) with a lower bound."""
    exact = entries_after(count, stream)
    if exact is not None:
        return replace(group, lag=exact, lag_estimated=False, lag_at_least=None)
    at_least, at_most = count.after, stream.length - count.before
    first, last = StreamId.parse(stream.first_id or "0-0"), StreamId.parse(stream.last_id or "0-0")
    position = StreamId.parse(group.last_delivered_id)
    span = max(1, last.ms - first.ms)
    guess = round(stream.length * (last.ms - position.ms) / span)
    return replace(group, lag=min(max(guess, at_least), at_most), lag_estimated=True, lag_at_least=at_least)


def groups_with_lag(
    client: redis.Redis, key: bytes, stream: StreamSummary, groups: list[GroupSummary]
) -> list[GroupSummary]:
    """Each group with its lag: Redis's where it has one, else counted (bounded)."""
    found = []
    for group in groups:
        pivot = lag_pivot(stream, group)
        if pivot is None:
            found.append(lag_known(stream, group))
        else:
            found.append(lag_counted(stream, group, count_around(client, key, pivot)))
    return found


async def groups_with_lag_async(
    client: aioredis.Redis | aiocluster.RedisCluster,
    key: bytes,
    stream: StreamSummary,
    groups: list[GroupSummary],
    *,
    budget: int | None = None,
) -> list[GroupSummary]:
    """`groups_with_lag` for the asyncio client of the live pages (the dashboard, group pages),
    which refresh every second or so and may want a smaller `budget` per count."""
    found = []
    for group in groups:
        pivot = lag_pivot(stream, group)
        if pivot is None:
            found.append(lag_known(stream, group))
        else:
            count = await count_around_async(client, key, pivot, budget=budget)
            found.append(lag_counted(stream, group, count))
    return found


# --- ENTRIESREAD for a group created or moved at an ID ----------------------------------------


def entries_read_at(client: redis.Redis, key: bytes, stream: StreamSummary, position: StreamId) -> int | None:
    """What ENTRIESREAD a group at `position` should have, so Redis knows its lag from the start
    (None when the stream lacks the counter or the count would exceed its budget)."""
    if stream.entries_added is None:
        return None
    after = entries_after_without_counting(stream, position)
    if after is None:
        after = entries_after(count_around(client, key, position), stream)
    return None if after is None else stream.entries_added - after
