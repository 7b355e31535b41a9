"""What a consumer-group worker asks of Redis: XREADGROUP, XAUTOCLAIM, delivery counts,
pipelined acks with dead letters and live events, heartbeats and the one-name-one-process lock.

On one node each of those is one round trip; the reads (every entry a worker handles, with the
previous batch's acks in front) go through worker_reads.NodeReads, which lets hiredis pack and
decode, and the rest through redis-py's pipeline. On a Redis Cluster (a `RedisCluster` client) the
reads go slot by slot (worker_reads.py); the plain commands still go out in one pipeline, which
redis-py splits per node; and the scripts run on their own, next to it: redis-py refuses scripts
in a cluster pipeline. A stream's companions (dead letters, errors) share its slot, so a script
that touches a stream and its companions runs on the node that serves that slot."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import redis
import redis.cluster

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
from streams_app.gateway.worker_reads import ClusterReads, Delivery, NodeReads, bytes_deliveries

__all__ = ["BatchOutcome", "ClaimResult", "DeadLetter", "Delivery", "WorkerIO"]

EVENTS_MAXLEN = 2000
ERROR_CHARS = 4000  # the most of a handler's error kept with an entry (errors hash, dead letter)
ERRORS_TTL_SECONDS = 7 * 24 * 3600
WORKER_MEMORY_SECONDS = 24 * 3600


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
# Move an entry to the dead letters: add the letter, ack the entry, forget its last error, all
# or nothing, so the entry is never acked without its letter (an XADD refused for want of
# memory stops the script before the XACK). KEYS: the dead-letter stream, the stream, its errors
# hash (one slot). ARGV: the group, the entry's ID, then the letter's fields and values.
_DEAD_LETTER = """
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
return 1
"""


def bounded_error(error: str) -> str:
    """`error` in at most about ERROR_CHARS characters: a long traceback keeps its start and its
    end (the frames nearest the failure and the exception itself, which the dead-letters page
    shows first), with a line in between saying how much was left out."""
    if len(error) <= ERROR_CHARS:
        return error
    head, tail = ERROR_CHARS // 4, ERROR_CHARS * 3 // 4 - 50
    return f"{error[:head]}\n… {len(error) - head - tail:,} characters left out …\n{error[-tail:]}"


def _outcome_commands(group: str, consumer: str, outcome: BatchOutcome) -> list[tuple]:
    """The outcome's plain commands (all but the dead letters' scripts): acks, errors forgotten
    or recorded, the processing report the group's live page reads."""
    commands: list[tuple] = []
    for stream, ids in outcome.acks.items():
        if ids:
            commands.append(("XACK", key_bytes(stream), group, *ids))
            if outcome.clear_errors:
                commands.append(("HDEL", key_bytes(errors_key(stream, group)), *ids))
    for (stream, entry_id), error in outcome.failures.items():
        key = key_bytes(errors_key(stream, group))
        commands.append(("HSET", key, entry_id, bounded_error(error).encode("utf-8", "backslashreplace")))
        commands.append(("EXPIRE", key, ERRORS_TTL_SECONDS))
    if outcome.events_total or outcome.failed_total:
        commands.append(
            (
                "XADD", key_bytes(processed_events_key(group)), "MAXLEN", "~", EVENTS_MAXLEN, "*",
                "consumer", consumer,
                "processed", str(outcome.events_total),
                "failed", str(outcome.failed_total),
                "entries", json.dumps(outcome.events, separators=(",", ":")) if outcome.events else "[]",
            )
        )  # fmt: skip
    return commands


class WorkerIO:
    """The Redis side of one worker process, on one node or on a cluster."""

    def __init__(self, client: redis.Redis | redis.cluster.RedisCluster) -> None:
        self.client = client
        self.on_cluster = isinstance(client, redis.cluster.RedisCluster)
        self.groups = GroupStore(client)
        self._cluster_reads = ClusterReads(client) if isinstance(client, redis.cluster.RedisCluster) else None
        self._node_reads = NodeReads(client) if NodeReads.available(client) else None
        self._hold_lock = client.register_script(_HOLD_LOCK)
        self._take_over_lock = client.register_script(_TAKE_OVER_LOCK)
        self._release_lock = client.register_script(_RELEASE_LOCK)
        self._touch = client.register_script(_TOUCH)
        self._dead_letter = client.register_script(_DEAD_LETTER)

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
        ahead of the read: the acks take effect at once even when the read then blocks (on a
        cluster its dead letters go just before, each moved by a script of its own).
        """
        try:
            if self._cluster_reads is not None:
                write_first = None
                if finishing:
                    self._move_dead_letters(None, group, finishing.dead_letters)
                    write_first = functools.partial(
                        self._queue_outcome, group=group, consumer=consumer, outcome=finishing
                    )
                reply = self._cluster_reads.read(
                    group, consumer, positions, count=count, block_ms=block_ms, write_first=write_first
                )
            else:
                names = self._node_reads.names(tuple(positions)) if self._node_reads is not None else None
                if names is not None and not (finishing and finishing.dead_letters):
                    # The hot path: every entry a worker handles is read here (worker_reads.NodeReads).
                    write_first = _outcome_commands(group, consumer, finishing) if finishing else ()
                    return self._node_reads.read(
                        group, consumer, positions, names, count=count, block_ms=block_ms, write_first=write_first
                    )
                pipe = self.client.pipeline(transaction=False)
                if finishing:
                    self._move_dead_letters(pipe, group, finishing.dead_letters)
                    self._queue_outcome(pipe, group, consumer, finishing)
                pipe.xreadgroup(
                    group,
                    consumer,
                    {key_bytes(stream): position for stream, position in positions.items()},
                    count=count,
                    block=block_ms,
                )
                reply = pipe.execute()[-1]
        except redis.ResponseError as error:
            if str(error).startswith("NOGROUP"):
                raise NotFound(f"The group {group} (or its stream) is gone: {error}") from error
            raise
        found: list[Delivery] = []
        for raw_stream, rows in reply or []:
            found.extend(bytes_deliveries(key_from_bytes(raw_stream), rows, group, consumer))
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
            deliveries=bytes_deliveries(stream, rows, group, consumer),
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
        """Ack, dead-letter, record failures and publish live events, in one round trip (on a
        cluster, the dead letters' scripts first).

        Each dead letter is added together with the ack of its entry (one script): if we die
        before, the entry is dead-lettered again later (a duplicate), never lost.
        """
        pipe = self.client.pipeline(transaction=False)
        self._move_dead_letters(None if self.on_cluster else pipe, group, outcome.dead_letters)
        self._queue_outcome(pipe, group, consumer, outcome)
        pipe.execute()

    def _move_dead_letters(self, pipe, group: str, letters: Sequence[DeadLetter]) -> None:
        """Queue each letter's script into `pipe`, or run them one by one (`pipe` None: a cluster)."""
        for letter in letters:
            fields = {
                "stream": key_bytes(letter.stream),
                "id": letter.id,
                "group": letter.group,
                "consumer": letter.consumer,
                "deliveries": str(letter.deliveries),
                "error": bounded_error(letter.error).encode("utf-8", "backslashreplace"),
            }
            fields.update({f"orig:{name}": value for name, value in letter.fields.items()})
            self._dead_letter(
                keys=[
                    key_bytes(letter.dead_stream),
                    key_bytes(letter.stream),
                    key_bytes(errors_key(letter.stream, group)),
                ],
                args=[group, letter.id, *(part for pair in fields.items() for part in pair)],
                client=pipe,
            )

    def _queue_outcome(self, pipe, group: str, consumer: str, outcome: BatchOutcome) -> None:
        """Queue the outcome's plain commands (all but the dead letters) into `pipe`."""
        for command in _outcome_commands(group, consumer, outcome):
            pipe.execute_command(*command)

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
        calls = [([key_bytes(stream)], [group, consumer, *ids]) for stream, ids in in_hand.items() if ids]
        if self.on_cluster:
            return sum(int(self._touch(keys=keys, args=args)) for keys, args in calls)
        pipe = self.client.pipeline(transaction=False)
        for keys, args in calls:
            self._touch(keys=keys, args=args, client=pipe)
        return sum(int(count) for count in pipe.execute())

    @redis_call
    def take_over_lock(self, key: str, old_token: str, new_token: str, ttl_ms: int) -> bool:
        return bool(self._take_over_lock(keys=[key], args=[old_token, new_token, ttl_ms]))

    @redis_call
    def beat(
        self, *, group: str, name: str, status: Mapping[str, str], ttl_ms: int, lock_token: str, lock_ttl_ms: int
    ) -> bool:
        """Publish the heartbeat and keep the lock, in one round trip (two on a cluster); False if the lock was lost."""
        key = heartbeat_key(group, name)
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(key, mapping=dict(status))
        pipe.pexpire(key, ttl_ms)
        pipe.zadd(workers_index_key(), {f"{group}\t{name}": float(status["last_seen"])})
        # Forget workers not seen for a day, so the index stays small.
        pipe.zremrangebyscore(workers_index_key(), "-inf", float(status["last_seen"]) - WORKER_MEMORY_SECONDS)
        held = self._after(pipe, self._hold_lock, keys=[name_lock_key(group, name)], args=[lock_token, lock_ttl_ms])
        return bool(held)

    @redis_call
    def retire(self, *, group: str, name: str, lock_token: str, status: Mapping[str, str]) -> None:
        """A clean stop: the last heartbeat says so, and the name is free at once."""
        key = heartbeat_key(group, name)
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(key, mapping=dict(status))
        pipe.pexpire(key, 60_000)
        self._after(pipe, self._release_lock, keys=[name_lock_key(group, name)], args=[lock_token])

    def _after(self, pipe, script, *, keys: list, args: list) -> object:
        """Run `pipe`, then `script`; returns the script's reply. In the pipeline on one node (one
        round trip); after it on a cluster, where the pipeline may not hold it."""
        if self.on_cluster:
            pipe.execute()
            return script(keys=keys, args=args)
        script(keys=keys, args=args, client=pipe)
        return pipe.execute()[-1]

    def reset(self) -> None:
        """Drop pooled connections (after Redis went away, or a read cut short) so the next call
        reconnects; on a cluster, also ask again which node serves each slot (a replica may have
        been promoted meanwhile): redis-py's own refresh does not follow every failed command
        (a transaction pipeline's, as when a group is created, leaves the old map in place)."""
        if isinstance(self.client, redis.cluster.RedisCluster):
            self.client.disconnect_connection_pools()
            # Not reachable now: the next call fails again, and the worker calls this again.
            with contextlib.suppress(redis.RedisError, redis.exceptions.RedisClusterException, OSError):
                self.client.nodes_manager.initialize()
        else:
            self.client.connection_pool.disconnect()
            if self._node_reads is not None:
                self._node_reads.reset()


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
