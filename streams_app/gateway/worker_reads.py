"""A worker's XREADGROUP on a Redis Cluster, where one command may name the keys of one hash slot
only (CROSSSLOT otherwise): one read per slot, and one blocking read at a time.

When the streams sit in one slot (one stream, or streams sharing a `{tag}`), the read is what it
is on a single node: one XREADGROUP that blocks as long as asked. Across several slots a read
first looks at every slot at once without blocking (one pipeline, sent to each node in parallel),
then waits on one slot for at most `SLOT_BLOCK_MS`, looks at the others again, waits on the next
slot, and so on until something comes or the time asked for is up. No slot is starved: every
read looks at all of them. An entry arriving on any slot is seen within about `SLOT_BLOCK_MS`;
the price is a few cheap reads per idle slot every `SLOT_BLOCK_MS`.

Each XREADGROUP is sent straight to the node that serves its slot: redis-py would otherwise ask
a node to find its keys (COMMAND GETKEYS, twice) before every read, as XREADGROUP's keys move.

On one node (`NodeReads`) a read is the worker's hot path: every entry it handles comes through
it. It is one round trip on a connection of its own whose replies hiredis decodes (in C), with
the commands packed by hiredis too, and the entries built straight from the parsed reply, as the
Delivery objects handlers receive. redis-py's pipeline did the same work at about twice the CPU
per entry (per-argument checks when packing 100 IDs to ack, a dict per entry, decoding in Python).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import redis
import redis.cluster
from redis.utils import HIREDIS_AVAILABLE

from streams_app.gateway.keys import key_bytes, slot_of

if HIREDIS_AVAILABLE:
    from hiredis import pack_command

# The longest wait on one slot while others may be receiving entries.
SLOT_BLOCK_MS = 100

Replies = list  # XREADGROUP's parsed reply: [[stream (bytes), [(id, fields), ...]], ...]
Command = tuple  # a command and its arguments, as redis-py's execute_command takes them


@dataclass(slots=True)
class Delivery:
    """An entry handed to a consumer of a group, as its handler receives it (worker.message's
    Message): `fields` is None when it was deleted while pending; `deliveries` is how often it
    has been delivered (1 for a new entry; what was pending already is counted by XPENDING)."""

    stream: str
    id: str
    fields: dict[str, str] | None
    group: str = ""
    consumer: str = ""
    deliveries: int = 1


def decoded_deliveries(stream: str, rows: Iterable, group: str, consumer: str) -> list[Delivery]:
    """One stream's rows of an XREADGROUP reply as hiredis decoded them (IDs, names and values
    already text, each entry's fields a flat [name, value, ...] list; nil: deleted while pending)."""
    found = []
    append = found.append
    for entry_id, flat in rows:
        size = len(flat) if flat is not None else 0
        # The shapes a reading has (two fields, or three) as dict displays: a quarter of the cost
        # of dict(zip()) on the worker's hottest line. Repeated names: the last one wins, as there.
        if size == 4:
            fields = {flat[0]: flat[1], flat[2]: flat[3]}
        elif size == 6:
            fields = {flat[0]: flat[1], flat[2]: flat[3], flat[4]: flat[5]}
        elif size:
            pairs = iter(flat)
            fields = dict(zip(pairs, pairs))  # noqa: B905 (strict= costs 0.1 µs an entry)
        else:
            fields = None
        append(Delivery(stream, entry_id, fields, group, consumer, 1))
    return found


def bytes_deliveries(stream: str, rows: Iterable, group: str, consumer: str) -> list[Delivery]:
    """Rows of a reply redis-py parsed as bytes (XAUTOCLAIM; XREADGROUP on a cluster), as text."""
    # A stream entry always has at least one field: none means it was deleted while pending.
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
            group,
            consumer,
            1,
        )
        for raw_id, raw_fields in rows
    ]


class NodeReads:
    """XREADGROUP on one node for one worker, on connections of its own whose replies hiredis
    decodes: UTF-8, bytes that are not as visible escapes (`\\xff`), as gateway.types.text shows them."""

    def __init__(self, client: redis.Redis) -> None:
        pool = client.connection_pool
        options = {**pool.connection_kwargs, "decode_responses": True, "encoding_errors": "backslashreplace"}
        self.pool = redis.ConnectionPool(
            connection_class=pool.connection_class, max_connections=pool.max_connections, **options
        )
        self._names: dict[tuple[str, ...], dict[str, str] | None] = {}
        self._reads: dict[tuple, bytes] = {}  # XREADGROUPs already packed
        self._connection = None

    @staticmethod
    def available(client: redis.Redis | redis.cluster.RedisCluster) -> bool:
        """Whether reads on `client` can go this way (one node, hiredis installed)."""
        return HIREDIS_AVAILABLE and not isinstance(client, redis.cluster.RedisCluster)

    def names(self, streams: Sequence[str]) -> dict[str, str] | None:
        """The worker's stream names by the text the reply shows for them (a name that is not
        UTF-8 is held as surrogate escapes here, and comes back with visible escapes); None when
        two names would look alike and only their bytes tell them apart: read those as bytes."""
        key = tuple(streams)
        found = self._names.get(key, False)
        if found is False:
            by_reply = {key_bytes(stream).decode("utf-8", "backslashreplace"): stream for stream in key}
            found = by_reply if len(by_reply) == len(set(key)) else None
            if len(self._names) > 64:  # a worker reads the same few streams over and over
                self._names.clear()
            self._names[key] = found
        return found

    def read(
        self,
        group: str,
        consumer: str,
        positions: Mapping[str, str],
        names: Mapping[str, str],
        *,
        count: int,
        block_ms: int | None,
        write_first: Sequence[Command] = (),
    ) -> list[Delivery]:
        """One round trip: the `write_first` commands (a batch's acks), then XREADGROUP; the first
        error reply is raised once every reply is read (redis.ResponseError, as from a pipeline)."""
        read = (group, consumer, tuple(positions.items()), count, block_ms)
        packed_read = self._reads.get(read)
        if packed_read is None:  # a worker sends the same few reads over and over
            if len(self._reads) > 64:
                self._reads.clear()
            packed_read = self._reads[read] = _packed_read(group, consumer, positions, count=count, block_ms=block_ms)
        packed = b"".join([*map(pack_command, write_first), packed_read]) if write_first else packed_read
        reply = self._round_trip(packed, len(write_first) + 1)
        if isinstance(reply, dict):  # RESP3 (redis-py's default): a map of stream to entries
            reply = reply.items()
        found: list[Delivery] = []
        for name, rows in reply or ():
            found += decoded_deliveries(names[name], rows, group, consumer)
        return found

    def _round_trip(self, packed: bytes, replies: int):
        """Send `packed`, read its `replies`; the last one. Retried as redis-py retries a pipeline
        (its Retry, the connection made again); a connection cut short (a signal) is never reused.

        The connection is kept from one read to the next (one thread reads: the worker's loop):
        taking it from the pool and giving it back cost about 20 µs a batch."""
        if self._connection is None:
            self._connection = self.pool.get_connection()
        connection = self._connection
        try:
            return connection.retry.call_with_retry(
                lambda: _send_and_read(connection, packed, replies), lambda error: connection.disconnect()
            )
        except redis.ResponseError:
            raise
        except BaseException:
            connection.disconnect()  # connects again on the next read
            raise

    def reset(self) -> None:
        """Drop the connections: the next read connects afresh."""
        if self._connection is not None:
            self._connection.disconnect()
        self.pool.disconnect()


def _packed_read(group: str, consumer: str, positions: Mapping[str, str], *, count: int, block_ms: int | None) -> bytes:
    """XREADGROUP, packed by hiredis."""
    positions_by_key = {key_bytes(stream): position for stream, position in positions.items()}
    return pack_command(tuple(xreadgroup_command(group, consumer, positions_by_key, count=count, block_ms=block_ms)))


def _send_and_read(connection, packed: bytes, replies: int):
    connection.send_packed_command([packed])
    return _read_replies(connection, replies)


def _read_replies(connection, replies: int):
    """Read `replies` replies; the last one. The first error reply is raised once all are read."""
    first_error = None
    reply = None
    for _ in range(replies):
        try:
            reply = connection.read_response()
        except redis.ResponseError as error:  # the reply was read whole: the others follow
            first_error = first_error or error
    if first_error is not None:
        raise first_error
    return reply


@dataclass(frozen=True, slots=True)
class SlotRead:
    """The streams of one hash slot, each with the position to read it from."""

    slot: int
    positions: dict[bytes, str]


def slot_reads(positions: Mapping[str, str]) -> list[SlotRead]:
    """The streams grouped by hash slot, in the order the streams come."""
    by_slot: dict[int, dict[bytes, str]] = {}
    for stream, position in positions.items():
        by_slot.setdefault(slot_of(stream), {})[key_bytes(stream)] = position
    return [SlotRead(slot, streams) for slot, streams in by_slot.items()]


class ClusterReads:
    """XREADGROUP for one worker on a cluster (see the module's docstring)."""

    def __init__(self, client: redis.cluster.RedisCluster) -> None:
        self.client = client
        self._turn = 0  # which slot the next blocking wait is on: each in turn

    def read(
        self,
        group: str,
        consumer: str,
        positions: Mapping[str, str],
        *,
        count: int,
        block_ms: int | None,
        write_first: Callable[[redis.cluster.ClusterPipeline], None] | None = None,
    ) -> Replies:
        """What XREADGROUP returns for these streams, read slot by slot; BLOCK 0 waits for ever.

        `write_first` queues plain commands (a batch's acks) into the first round trip, ahead of
        its reads. The first error of that round trip is raised; entries a failed round trip
        delivered are in this consumer's pending list (the worker reads it again after a failure).
        """
        reads = slot_reads(positions)
        if len(reads) == 1 or block_ms is None:
            return self._read_at_once(group, consumer, reads, count=count, block_ms=block_ms, write_first=write_first)
        found = self._read_at_once(group, consumer, reads, count=count, block_ms=None, write_first=write_first)
        deadline = math.inf if block_ms == 0 else time.monotonic() + block_ms / 1000
        while not found:
            left_ms = math.inf if deadline == math.inf else int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                return []
            waited_on = reads[self._turn % len(reads)]
            self._turn += 1
            found = self._read_at_once(group, consumer, [waited_on], count=count, block_ms=min(SLOT_BLOCK_MS, left_ms))
            if not found:
                others = [read for read in reads if read is not waited_on]
                found = self._read_at_once(group, consumer, others, count=count, block_ms=None)
        return found

    def _read_at_once(
        self,
        group: str,
        consumer: str,
        reads: Sequence[SlotRead],
        *,
        count: int,
        block_ms: int | float | None,
        write_first: Callable[[redis.cluster.ClusterPipeline], None] | None = None,
    ) -> Replies:
        """One round trip: what `write_first` queues, then one XREADGROUP per slot (a block on
        more than one slot would keep the others' replies waiting)."""
        pipe = self.client.pipeline(transaction=False)
        if write_first is not None:
            write_first(pipe)
        written = len(pipe)
        for read in reads:
            pipe.execute_command(
                *xreadgroup_command(group, consumer, read.positions, count=count, block_ms=block_ms),
                target_nodes=self.client.nodes_manager.get_node_from_slot(read.slot),
            )
        replies = pipe.execute(raise_on_error=False)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return [row for reply in replies[written:] for row in reply or []]


def xreadgroup_command(
    group: str, consumer: str, positions: Mapping[bytes, str], *, count: int, block_ms: int | float | None
) -> list:
    """XREADGROUP's arguments, as redis-py's `xreadgroup` builds them (a block of `None`: no BLOCK)."""
    command: list = ["XREADGROUP", "GROUP", group, consumer, "COUNT", count]
    if block_ms is not None:
        command += ["BLOCK", int(block_ms)]
    return [*command, "STREAMS", *positions.keys(), *positions.values()]
