"""Consumer groups as an operator sees them: XGROUP (CREATE and SETID with ENTRIESREAD, so Redis
knows a group's lag from the start), XINFO GROUPS/CONSUMERS (the lag counted where Redis cannot
tell, see lag.py), XPENDING, XACK, XCLAIM, and dead-letter re-drive. Group and consumer names
go to Redis as their exact bytes (key_bytes), so groups other programs named are reachable."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis
from redis.client import Pipeline

from streams_app.errors import BadInput, Conflict, NotFound
from streams_app.gateway.errors import EXHAUSTED_ID, redis_call
from streams_app.gateway.keys import display_name, errors_key, history_key, key_bytes
from streams_app.gateway.lag import entries_read_at, groups_with_lag
from streams_app.gateway.types import ConsumerSummary, Entry, GroupSummary, StreamId, StreamSummary, text

_POSITION_TRIES = 5


@dataclass(frozen=True, slots=True)
class PendingEntry:
    id: str
    consumer: str
    idle_ms: int
    deliveries: int


@dataclass(frozen=True, slots=True)
class PendingSummary:
    count: int
    lowest_id: str | None
    highest_id: str | None


# Deleting a consumer drops its pending entries in Redis; we only delete an empty one,
# checked and done in one step so nothing can become pending in between.
_DELETE_IDLE_CONSUMER = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #pending > 0 then return -1 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
"""

# Re-drive: add each dead letter back to its stream (new ID) and remove it from the
# dead-letter stream, all or nothing.
_REDRIVE = """
-- First check every selected entry, then move them: all or nothing.
local plans = {}
for index = 2, #ARGV do
  local dead_id = ARGV[index]
  local found = redis.call('XRANGE', KEYS[1], dead_id, dead_id)
  if #found == 1 then
    local fields = found[1][2]
    local original = {}
    local source = nil
    for i = 1, #fields, 2 do
      if string.sub(fields[i], 1, 5) == 'orig:' then
        table.insert(original, string.sub(fields[i], 6))
        table.insert(original, fields[i + 1])
      elseif fields[i] == 'stream' then
        source = fields[i + 1]
      end
    end
    if #original == 0 or source ~= ARGV[1] then
      return redis.error_reply('entry ' .. dead_id .. ' is not a dead letter of this stream')
    end
    table.insert(plans, {dead_id, original})
  end
end
local moved = {}
for _, plan in ipairs(plans) do
  local new_id = redis.call('XADD', KEYS[2], '*', unpack(plan[2]))
  redis.call('XDEL', KEYS[1], plan[1])
  table.insert(moved, plan[1])
  table.insert(moved, new_id)
end
return moved
"""

ORIGINAL_FIELD_PREFIX = "orig:"


class GroupExists(Conflict):
    """XGROUP CREATE found the group already there (BUSYGROUP)."""


class GroupStore:
    """Typed access to consumer groups, their consumers and pending entries."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._delete_idle_consumer = client.register_script(_DELETE_IDLE_CONSUMER)
        self._redrive = client.register_script(_REDRIVE)

    # --- groups -----------------------------------------------------------------

    @redis_call
    def create_group(self, stream: str, group: str, *, start_id: str = "$", make_stream: bool = True) -> None:
        """XGROUP CREATE (creating the stream if needed) with ENTRIESREAD, so Redis knows the lag
        from the start; GroupExists if the group is there."""
        key, name = key_bytes(stream), key_bytes(group)
        try:
            self._at_position(
                key,
                start_id,
                lambda pipe, target, entries_read: pipe.xgroup_create(
                    key, name, id=target, mkstream=make_stream, entries_read=entries_read
                ),
            )
        except redis.ResponseError as error:
            message = str(error)
            if message.startswith("BUSYGROUP"):
                raise GroupExists(
                    f"The group “{display_name(group)}” already exists on “{display_name(stream)}”."
                ) from error
            if message.startswith("WRONGTYPE"):
                raise Conflict(f"The key “{display_name(stream)}” is not a stream.") from error
            if "requires the key to exist" in message:
                raise NotFound(f"There is no stream called “{display_name(stream)}”.") from error
            if "Invalid stream ID" in message:
                raise BadInput(f"“{start_id}” is not a valid start ID.", field="start") from error
            raise

    def ensure_group(self, stream: str, group: str, *, start_id: str = "$") -> bool:
        """Create the group (and the stream) if missing; True if it was created, False if it was there."""
        try:
            self.create_group(stream, group, start_id=start_id)
        except GroupExists:
            return False
        return True

    @redis_call
    def destroy_group(self, stream: str, group: str) -> bool:
        """XGROUP DESTROY; the group's companions go with it: its last hour (its workers' samples)
        and the last handler errors of its pending entries."""
        try:
            destroyed = bool(self.client.xgroup_destroy(key_bytes(stream), key_bytes(group)))
        except redis.ResponseError as error:
            raise self._group_error(stream, group, error) from error
        # Also when Redis had no such group (destroyed by redis-cli): its history is left over.
        # Both in the stream's slot (keys.py), so one DEL also on a cluster.
        self.client.delete(key_bytes(history_key(stream, group)), key_bytes(errors_key(stream, group)))
        return destroyed

    @redis_call
    def set_group_id(self, stream: str, group: str, last_id: str) -> None:
        """XGROUP SETID: move the group's last-delivered ID ($, 0 or an ID), with ENTRIESREAD."""
        key, name = key_bytes(stream), key_bytes(group)
        try:
            self._at_position(
                key,
                last_id,
                lambda pipe, target, entries_read: pipe.xgroup_setid(key, name, target, entries_read=entries_read),
            )
        except redis.ResponseError as error:
            if "Invalid stream ID" in str(error):
                raise BadInput(f"“{last_id}” is not a valid ID.", field="id") from error
            raise self._group_error(stream, group, error) from error

    def _at_position(self, key: bytes, position: str, command: Callable[[Pipeline, str, int | None], object]) -> None:
        """Run XGROUP CREATE or SETID (`command`) at `position` with the ENTRIESREAD that position
        stands for, computed from the stream as it is: the stream is WATCHed, so a write in between
        makes us compute again; after a few tries (a busy stream) Redis is left to tell the lag."""
        for _ in range(_POSITION_TRIES):
            with self.client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(key)
                    target, entries_read = self._entries_read(pipe, key, position)
                    pipe.multi()
                    command(pipe, target, entries_read)
                    [reply] = pipe.execute(raise_on_error=False)  # Redis's own words, not the pipeline's
                except redis.WatchError:
                    continue
            if isinstance(reply, Exception):
                raise reply
            return
        with self.client.pipeline(transaction=False) as pipe:
            command(pipe, position, None)
            [reply] = pipe.execute(raise_on_error=False)
        if isinstance(reply, Exception):
            raise reply

    def _entries_read(self, pipe: Pipeline, key: bytes, position: str) -> tuple[str, int | None]:
        """The ID to give Redis (`$` resolved to the stream's last ID) and its ENTRIESREAD (None: unknown)."""
        try:
            stream = StreamSummary.from_xinfo("", pipe.xinfo_stream(key))
        except redis.ResponseError as error:
            if "no such key" not in str(error):
                raise
            # A new stream (MKSTREAM): Redis knows the lag of a group at its start without help.
            return position, None
        if position == "$":
            return stream.last_generated_id, stream.entries_added
        try:
            parsed = StreamId.parse(position)
        except ValueError:
            return position, None  # not an ID: Redis refuses it
        # Counted on the store's own client, not the watching pipeline: a cluster pipeline runs no
        # scripts, and the WATCH still sees any write made to the stream meanwhile.
        return position, entries_read_at(self.client, key, stream, parsed)

    @redis_call
    def groups(self, stream: str) -> list[GroupSummary]:
        """The stream's groups, each with its lag (Redis's, or counted where Redis cannot tell)."""
        key = key_bytes(stream)
        pipe = self.client.pipeline(transaction=False)
        pipe.xinfo_stream(key)
        pipe.xinfo_groups(key)
        info, rows = pipe.execute(raise_on_error=False)
        for reply in (rows, info):
            if isinstance(reply, redis.ResponseError):
                raise self._stream_error(stream, reply) from reply
            if isinstance(reply, Exception):
                raise reply
        summary = StreamSummary.from_xinfo(stream, info)
        return groups_with_lag(self.client, key, summary, [GroupSummary.from_xinfo(row) for row in rows])

    @redis_call
    def consumers(self, stream: str, group: str) -> list[ConsumerSummary]:
        try:
            rows = self.client.xinfo_consumers(key_bytes(stream), key_bytes(group))
        except redis.ResponseError as error:
            raise self._group_error(stream, group, error) from error
        return [ConsumerSummary.from_xinfo(row) for row in rows]

    @redis_call
    def pending_summary(self, stream: str, group: str) -> PendingSummary:
        try:
            summary = self.client.xpending(key_bytes(stream), key_bytes(group))
        except redis.ResponseError as error:
            raise self._group_error(stream, group, error) from error
        return PendingSummary(
            count=int(summary["pending"]),
            lowest_id=text(summary["min"]) if summary["min"] else None,
            highest_id=text(summary["max"]) if summary["max"] else None,
        )

    @redis_call
    def pending_entries(
        self,
        stream: str,
        group: str,
        *,
        low: StreamId | str = "-",
        high: StreamId | str = "+",
        count: int = 100,
        consumer: str | None = None,
        min_idle_ms: int | None = None,
    ) -> list[PendingEntry]:
        """XPENDING's extended form: entries with their consumer, idle time and delivery count."""
        try:
            rows = self.client.xpending_range(
                key_bytes(stream),
                key_bytes(group),
                min=str(low),
                max=str(high),
                count=count,
                consumername=None if consumer is None else key_bytes(consumer),
                idle=min_idle_ms or None,
            )
        except redis.ResponseError as error:
            raise self._group_error(stream, group, error) from error
        return [
            PendingEntry(
                id=text(row["message_id"]),
                consumer=text(row["consumer"]),
                idle_ms=int(row["time_since_delivered"]),
                deliveries=int(row["times_delivered"]),
            )
            for row in rows
        ]

    @redis_call
    def ack(self, stream: str, group: str, ids: Sequence[str]) -> int:
        """XACK; IDs that are not pending count as 0, not as an error."""
        if not ids:
            return 0
        try:
            return int(self.client.xack(key_bytes(stream), key_bytes(group), *ids))
        except redis.ResponseError as error:
            raise self._group_error(stream, group, error) from error

    @redis_call
    def claim(self, stream: str, group: str, *, consumer: str, ids: Sequence[str], min_idle_ms: int = 0) -> list[str]:
        """XCLAIM pending entries for `consumer`; returns the IDs it now owns (deleted entries are dropped by Redis)."""
        if not ids:
            return []
        try:
            claimed = self.client.xclaim(
                key_bytes(stream), key_bytes(group), key_bytes(consumer), min_idle_ms, list(ids), justid=True
            )
        except redis.ResponseError as error:
            raise self._group_error(stream, group, error) from error
        return [text(entry_id) for entry_id in claimed]

    @redis_call
    def delete_consumer(self, stream: str, group: str, consumer: str) -> None:
        """XGROUP DELCONSUMER, refused while the consumer still has pending entries."""
        try:
            result = self._delete_idle_consumer(keys=[key_bytes(stream)], args=[key_bytes(group), key_bytes(consumer)])
        except redis.ResponseError as error:
            raise self._group_error(stream, group, error) from error
        if int(result) < 0:
            raise Conflict(
                f"“{display_name(consumer)}” still has pending entries: claim them for another consumer "
                "(or ack them) first, so that none is dropped."
            )

    @redis_call
    def redrive(self, dead_stream: str, target_stream: str, ids: Sequence[str]) -> list[tuple[str, str]]:
        """Move dead letters back to `target_stream` as new entries, atomically;
        returns (dead-letter ID, new ID) pairs for those found."""
        if not ids:
            return []
        try:
            flat = self._redrive(
                keys=[key_bytes(dead_stream), key_bytes(target_stream)], args=[key_bytes(target_stream), *ids]
            )
        except redis.ResponseError as error:
            if "not a dead letter" in str(error):
                raise Conflict(f"Nothing was moved: {str(error).split(': ', 1)[-1]}.") from error
            if EXHAUSTED_ID in str(error):
                raise Conflict(
                    f"Nothing was moved: “{display_name(target_stream)}” has used the last possible ID, "
                    "so nothing more can be added to it."
                ) from error
            raise
        return [(text(flat[i]), text(flat[i + 1])) for i in range(0, len(flat), 2)]

    # --- errors -----------------------------------------------------------------

    def _stream_error(self, stream: str, error: redis.ResponseError) -> Exception:
        message = str(error)
        if "no such key" in message:
            return NotFound(f"There is no stream called “{display_name(stream)}”.")
        if message.startswith("WRONGTYPE"):
            return Conflict(f"The key “{display_name(stream)}” is not a stream.")
        return error

    def _group_error(self, stream: str, group: str, error: redis.ResponseError) -> Exception:
        message = str(error)
        if "Invalid stream ID" in message:
            return BadInput("An ID is not valid: use milliseconds-sequence, like 1534866436902-0.", field="ids")
        if "NOGROUP" in message or "no such key" in message or "requires the key to exist" in message:
            kind = self.client.type(key_bytes(stream))
            if text(kind) == "none":
                return NotFound(f"There is no stream called “{display_name(stream)}”.")
            return NotFound(f"There is no group “{display_name(group)}” on “{display_name(stream)}”.")
        return self._stream_error(stream, error)


def dead_letter_fields(entry: Entry) -> dict[str, str]:
    """The original fields of a dead letter (stored with the `orig:` prefix)."""
    return {
        name[len(ORIGINAL_FIELD_PREFIX) :]: value
        for name, value in entry.fields.items()
        if name.startswith(ORIGINAL_FIELD_PREFIX)
    }
