"""What a consumer-group worker asks of Redis: XREADGROUP, XAUTOCLAIM, delivery counts,
pipelined acks with dead letters and live events, heartbeats and the one-name-one-process lock."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import redis

from streams_app.errors import NotFound
from streams_app.gateway.errors import redis_call
from streams_app.gateway.groups import GroupStore
from streams_app.gateway.keys import (
    errors_key,
    heartbeat_key,
    key_bytes,
    key_from_bytes,
    name_lock_key,
    processed_events_key,
    workers_index_key,
)
from streams_app.gateway.types import text

EVENTS_MAXLEN = 2000
ERRORS_TTL_SECONDS = 7 * 24 * 3600
WORKER_MEMORY_SECONDS = 24 * 3600


@dataclass(slots=True)
class Delivery:
    """An entry handed to this consumer; `fields` is None when it was deleted while pending."""

    stream: str
    id: str
    fields: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class ClaimResult:
    next_cursor: str
    deliveries: list[Delivery]
    deleted_ids: list[str]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    stream: str
    id: str
    fields: dict[str, str]
    group: str
    consumer: str
    deliveries: int
    error: str
    dead_stream: str


@dataclass(slots=True)
class BatchOutcome:
    """Everything one batch leaves behind, written in one round trip."""

    acks: dict[str, list[str]] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)  # (stream, id) -> error
    events: list[dict] = field(default_factory=list)
    events_total: int = 0
    failed_total: int = 0
    # Entries read again (own history, claims) may carry an error from an earlier attempt.
    clear_errors: bool = False

    def __bool__(self) -> bool:
        return bool(self.acks or self.dead_letters or self.failures or self.events or self.failed_total)


# Take the lock, or keep it; 0 when another process holds it.
_HOLD_LOCK = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
# Take the lock over from a holder known to be dead, only if it is still that holder's.
_TAKE_OVER_LOCK = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
# Keep entries in hand from looking abandoned: reset their idle time, but only those still
# ours (never take one back from a consumer that claimed it meanwhile).
_TOUCH = """
local touched = 0
for i = 3, #ARGV do
  local entry = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #entry == 1 and entry[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    touched = touched + 1
  end
end
return touched
"""
_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _deliveries(stream: str, rows: Iterable) -> list[Delivery]:
    # A stream entry always has at least one field: none means it was deleted while pending.
    # (Decoding inline: this runs for every entry a worker reads.)
    return [
        Delivery(
            stream,
            raw_id.decode(),
            {
                k.decode("utf-8", "backslashreplace"): v.decode("utf-8", "backslashreplace")
                for k, v in raw_fields.items()
            }
            if raw_fields
            else None,
        )
        for raw_id, raw_fields in rows
    ]


class WorkerIO:
    """The Redis side of one worker process."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.groups = GroupStore(client)
        self._hold_lock = client.register_script(_HOLD_LOCK)
        self._take_over_lock = client.register_script(_TAKE_OVER_LOCK)
        self._release_lock = client.register_script(_RELEASE_LOCK)
        self._touch = client.register_script(_TOUCH)

    def ensure_group(self, stream: str, group: str, start_id: str) -> bool:
        """Create the group (and the stream) if missing; True if created."""
        return self.groups.ensure_group(stream, group, start_id=start_id)

    @redis_call
    def read(
        self,
        group: str,
        consumer: str,
        positions: Mapping[str, str],
        *,
        count: int,
        block_ms: int | None,
        finishing: BatchOutcome | None = None,
    ) -> list[Delivery]:
        """XREADGROUP from each stream's position (`>` for new entries, an ID for own history).

        `finishing`, the outcome of the previous batch, is written in the same round trip,
        ahead of the read: the acks take effect at once even when the read then blocks.
        """
        pipe = self.client.pipeline(transaction=False)
        if finishing:
            self._queue_outcome(pipe, group, consumer, finishing)
        pipe.xreadgroup(
            group,
            consumer,
            {key_bytes(stream): position for stream, position in positions.items()},
            count=count,
            block=block_ms,
        )
        try:
            reply = pipe.execute()[-1]
        except redis.ResponseError as error:
            if str(error).startswith("NOGROUP"):
                raise NotFound(f"The group {group} (or its stream) is gone: {error}") from error
            raise
        found: list[Delivery] = []
        for raw_stream, rows in reply or []:
            found.extend(_deliveries(key_from_bytes(raw_stream), rows))
        return found

    @redis_call
    def delivery_counts(self, stream: str, group: str, consumer: str, ids: Sequence[str]) -> dict[str, int]:
        """How often each of `ids` (pending with `consumer`) has been delivered."""
        if not ids:
            return {}
        low, high = min(ids, key=_id_key), max(ids, key=_id_key)
        rows = self.client.xpending_range(
            key_bytes(stream), group, min=low, max=high, count=len(ids) * 2 + 10, consumername=consumer
        )
        wanted = set(ids)
        return {
            text(row["message_id"]): int(row["times_delivered"]) for row in rows if text(row["message_id"]) in wanted
        }

    @redis_call
    def autoclaim(
        self, stream: str, group: str, consumer: str, *, min_idle_ms: int, cursor: str, count: int
    ) -> ClaimResult:
        """XAUTOCLAIM one page: entries idle longer than `min_idle_ms`, from any consumer, become ours."""
        reply = self.client.xautoclaim(key_bytes(stream), group, consumer, min_idle_ms, start_id=cursor, count=count)
        next_cursor, rows = reply[0], reply[1]
        deleted = reply[2] if len(reply) > 2 else []
        return ClaimResult(
            next_cursor=text(next_cursor),
            deliveries=_deliveries(stream, rows),
            deleted_ids=[text(entry_id) for entry_id in deleted],
        )

    @redis_call
    def last_errors(self, group: str, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """The last recorded handler error of each (stream, id)."""
        pipe = self.client.pipeline(transaction=False)
        for stream, entry_id in keys:
            pipe.hget(errors_key(stream, group), entry_id)
        return {key: text(value) for key, value in zip(keys, pipe.execute(), strict=True) if value is not None}

    @redis_call
    def finish_batch(self, group: str, consumer: str, outcome: BatchOutcome) -> None:
        """Ack, dead-letter, record failures and publish live events, in one round trip.

        Each dead letter is added before its entry is acked: if we die in between, the
        entry is dead-lettered again (a duplicate), never lost.
        """
        pipe = self.client.pipeline(transaction=False)
        self._queue_outcome(pipe, group, consumer, outcome)
        pipe.execute()

    def _queue_outcome(self, pipe, group: str, consumer: str, outcome: BatchOutcome) -> None:
        for letter in outcome.dead_letters:
            fields = {
                "stream": key_bytes(letter.stream),
                "id": letter.id,
                "group": letter.group,
                "consumer": letter.consumer,
                "deliveries": str(letter.deliveries),
                "error": letter.error[:4000],
            }
            fields.update({f"orig:{name}": value for name, value in letter.fields.items()})
            pipe.xadd(key_bytes(letter.dead_stream), fields)
            pipe.xack(key_bytes(letter.stream), group, letter.id)
            pipe.hdel(errors_key(letter.stream, group), letter.id)
        for stream, ids in outcome.acks.items():
            if ids:
                pipe.xack(key_bytes(stream), group, *ids)
                if outcome.clear_errors:
                    pipe.hdel(errors_key(stream, group), *ids)
        for (stream, entry_id), error in outcome.failures.items():
            pipe.hset(errors_key(stream, group), entry_id, error[:4000])
            pipe.expire(errors_key(stream, group), ERRORS_TTL_SECONDS)
        if outcome.events_total or outcome.failed_total:
            pipe.xadd(
                processed_events_key(group),
                {
                    "consumer": consumer,
                    "processed": str(outcome.events_total),
                    "failed": str(outcome.failed_total),
                    "entries": json.dumps(outcome.events, separators=(",", ":")),
                },
                maxlen=EVENTS_MAXLEN,
                approximate=True,
            )

    # --- liveness -----------------------------------------------------------------

    @redis_call
    def hold_lock(self, key: str, token: str, ttl_ms: int) -> bool:
        return bool(self._hold_lock(keys=[key], args=[token, ttl_ms]))

    @redis_call
    def lock_holder(self, key: str) -> str | None:
        value = self.client.get(key)
        return None if value is None else text(value)

    @redis_call
    def touch(self, group: str, consumer: str, in_hand: Mapping[str, Sequence[str]]) -> int:
        """Reset the idle time of entries this consumer still works on (JUSTID: deliveries unchanged)."""
        pipe = self.client.pipeline(transaction=False)
        for stream, ids in in_hand.items():
            if ids:
                self._touch(keys=[key_bytes(stream)], args=[group, consumer, *ids], client=pipe)
        return sum(int(count) for count in pipe.execute())

    @redis_call
    def take_over_lock(self, key: str, old_token: str, new_token: str, ttl_ms: int) -> bool:
        return bool(self._take_over_lock(keys=[key], args=[old_token, new_token, ttl_ms]))

    @redis_call
    def beat(
        self, *, group: str, name: str, status: Mapping[str, str], ttl_ms: int, lock_token: str, lock_ttl_ms: int
    ) -> bool:
        """Publish the heartbeat and keep the lock, in one round trip; False if the lock was lost."""
        key = heartbeat_key(group, name)
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(key, mapping=dict(status))
        pipe.pexpire(key, ttl_ms)
        pipe.zadd(workers_index_key(), {f"{group}\t{name}": float(status["last_seen"])})
        # Forget workers not seen for a day, so the index stays small.
        pipe.zremrangebyscore(workers_index_key(), "-inf", float(status["last_seen"]) - WORKER_MEMORY_SECONDS)
        self._hold_lock(keys=[name_lock_key(group, name)], args=[lock_token, lock_ttl_ms], client=pipe)
        return bool(pipe.execute()[-1])

    @redis_call
    def retire(self, *, group: str, name: str, lock_token: str, status: Mapping[str, str]) -> None:
        """A clean stop: the last heartbeat says so, and the name is free at once."""
        key = heartbeat_key(group, name)
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(key, mapping=dict(status))
        pipe.pexpire(key, 60_000)
        self._release_lock(keys=[name_lock_key(group, name)], args=[lock_token], client=pipe)
        pipe.execute()

    def reset(self) -> None:
        """Drop pooled connections (after Redis went away) so the next call reconnects."""
        self.client.connection_pool.disconnect()


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
