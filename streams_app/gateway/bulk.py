"""The fast path for many entries: whole batches of XADD written straight to a connection's
socket and their replies read with hiredis, batch k+1 sent before the replies to batch k are
read. redis-py's per-command bookkeeping costs more than Redis takes to run an XADD; at tens
of thousands of entries per batch that would make us the bottleneck.

On a Redis Cluster the batches go to the primary that owns the stream's hash slot (the
client's slot map), over that node's own pool, and MOVED and ASK replies are followed here,
since redis-py's cluster routing never sees these raw commands."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import hiredis
import redis
import redis.cluster
from redis.exceptions import AskError, MovedError, RedisClusterException, SlotNotCoveredError

from streams_app.errors import RedisUnavailable
from streams_app.gateway.errors import UNAVAILABLE_ERRORS, translate_redis_error
from streams_app.gateway.keys import key_bytes
from streams_app.gateway.types import EntryBatch

# (stream name, the error Redis answered, the refused entry's ID) -> the domain error to raise
Refusal = Callable[[str, Exception, str], Exception]

# How often one batch may be redirected before we give up (redis-py's RedisClusterRequestTTL).
MAX_REDIRECTS = 16
ASKING = b"*1\r\n$6\r\nASKING\r\n"


def bulk_add_entries(
    client: redis.Redis | redis.cluster.RedisCluster, name: str, batches: Iterable[EntryBatch], *, refusal: Refusal
) -> Iterator[int]:
    """XADD many entries, a pipelined batch at a time; yields the total written after each batch.

    Batch k+1 is built and sent before the replies to batch k are read, so this
    process and Redis work side by side. The first refused entry is raised as a domain
    error; the entries before it stay written, and so may those after it that were already
    on the wire (the rest of its batch and the next one): Redis runs what it was sent.
    Callers that must write all or nothing check the IDs first (domain.producer does).

    On a cluster, during a resharding: a MOVED or ASK reply means that XADD did not run, so
    exactly the redirected entries are sent again, in their order, to the node named (MOVED
    patches the client's slot map; after ASK every XADD of this call goes to the importing node
    behind an ASKING). Nothing goes to a new node while a batch on the old one may still be
    redirected, and a stream lives on one node at a time (MIGRATE moves it whole), so every
    entry is written exactly once and in order, `*` and explicit IDs alike: an explicit ID sent
    again is never refused as its own duplicate. (Not kept if the slot moves away and back
    while one batch is on the wire.) A lost connection (a node down, a failover) is
    RedisUnavailable, as on one node, and nothing is sent again, since which entries on the
    wire ran is unknown: a rerun of explicit IDs is refused at the first one already written
    (domain.producer checks before sending); a rerun of `*` IDs may write some twice.
    """
    key = key_bytes(name)
    key_part = f"${len(key)}\r\n{key.decode('latin-1')}\r\n"
    route: _Route = _ClusterRoute(client, key) if isinstance(client, redis.cluster.RedisCluster) else _NodeRoute(client)
    written = 0
    in_flight: _Sent | None = None
    try:
        for batch in batches:
            if not len(batch):
                continue
            wire = route.wire()
            if in_flight is not None and in_flight.wire is not wire:
                # The slot has moved: what is on the old node's wire may be redirected, and must
                # reach the new node before anything sent after it.
                written += _settle(route, key_part, in_flight)
                in_flight = None
                yield written
                wire = route.wire()
            sent = _Sent(batch, wire, route.asking)
            wire.send(_pack_xadd_batch(key_part, batch, asking=sent.asking))
            if in_flight is not None:
                written += _settle(route, key_part, in_flight, busy=wire)
                yield written
            in_flight = sent
        if in_flight is not None:
            written += _settle(route, key_part, in_flight)
            yield written
    except _RefusedEntry as refused:
        route.disconnect()  # replies to later commands are still on the wire
        raise refusal(name, refused.error, refused.entry_id) from refused.error
    except Exception as error:
        route.disconnect()
        if isinstance(error, UNAVAILABLE_ERRORS):
            route.lost_a_node()
        domain_error = translate_redis_error(error)
        if domain_error is None or domain_error is error:
            raise
        raise domain_error from error
    except BaseException:
        route.disconnect()
        raise
    finally:
        route.release()


@dataclass(slots=True)
class _Sent:
    """A batch on the wire: where it went and whether each XADD went behind an ASKING."""

    batch: EntryBatch
    wire: _RawWire
    asking: bool


@dataclass(slots=True)
class _Replies:
    """What a batch's replies said: the entries written, and those redirected (not run)."""

    accepted: int = 0
    redirected: list[int] = field(default_factory=list)
    redirect: str = ""  # the last MOVED/ASK reply's text


def _settle(route: _Route, key_part: str, sent: _Sent, *, busy: _RawWire | None = None) -> int:
    """Read a sent batch's replies and send its redirected entries on until all are written;
    returns how many entries of the batch were written. `busy` has the next batch on it."""
    batch, replies = sent.batch, sent.wire.expect(sent.batch, asking=sent.asking)
    written = replies.accepted
    hops = 0
    while replies.redirected:
        hops += 1
        if hops > MAX_REDIRECTS:
            raise RedisUnavailable(f"The Redis cluster kept redirecting the stream's entries ({replies.redirect}).")
        route.follow(replies.redirect)
        batch = _entries_at(batch, replies.redirected)
        wire, asking = route.wire(), route.asking
        if wire is busy:  # its next replies are the next batch's: a node never redirects to itself
            raise RedisUnavailable(f"The Redis cluster redirected the stream's entries back ({replies.redirect}).")
        wire.send(_pack_xadd_batch(key_part, batch, asking=asking))
        replies = wire.expect(batch, asking=asking)
        written += replies.accepted
    return written


def _entries_at(batch: EntryBatch, indices: Sequence[int]) -> EntryBatch:
    ids = None if batch.ids is None else [batch.ids[index] for index in indices]
    columns = [(field_name, [values[index] for index in indices]) for field_name, values in batch.columns]
    return EntryBatch(ids=ids, columns=columns)


class _RefusedEntry(Exception):
    def __init__(self, error: Exception, entry_id: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.entry_id = entry_id


# --- where the batches go ------------------------------------------------------------------


class _Route:
    """The connection(s) a call writes on: `wire()` is where the next batch goes, and `asking`
    whether its XADDs go behind an ASKING."""

    def __init__(self) -> None:
        self.asking = False
        self._held: dict[str, tuple[redis.ConnectionPool, redis.connection.Connection, _RawWire]] = {}

    def wire(self) -> _RawWire:
        raise NotImplementedError

    def follow(self, redirect: str) -> None:
        # A plain client whose Redis redirects: REDIS_URL is a node of a cluster, REDIS_CLUSTER=0.
        raise RedisUnavailable(
            f"Redis answered “{redirect}”: REDIS_URL is a node of a Redis Cluster; leave REDIS_CLUSTER unset or 1."
        )

    def lost_a_node(self) -> None:
        """A connection failed: what the route should learn from it (a cluster re-reads its nodes)."""

    def _wire_on(self, name: str, pool: redis.ConnectionPool) -> _RawWire:
        held = self._held.get(name)
        if held is None:
            connection = pool.get_connection()
            try:
                wire = _RawWire(connection)
            except BaseException:
                pool.release(connection)
                raise
            held = self._held[name] = (pool, connection, wire)
        return held[2]

    def disconnect(self) -> None:
        for _, connection, _ in self._held.values():
            connection.disconnect()

    def release(self) -> None:
        for pool, connection, _ in self._held.values():
            pool.release(connection)
        self._held.clear()


class _NodeRoute(_Route):
    """One Redis: every batch on one connection of the client's pool."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__()
        self.pool = client.connection_pool

    def wire(self) -> _RawWire:
        return self._wire_on("", self.pool)


class _ClusterRoute(_Route):
    """A cluster: the slot's primary from the client's slot map, or the node an ASK named."""

    def __init__(self, client: redis.cluster.RedisCluster, key: bytes) -> None:
        super().__init__()
        self.client = client
        self.slot = client.keyslot(key)
        self.asked: redis.cluster.ClusterNode | None = None

    def wire(self) -> _RawWire:
        if self.asked is not None:
            return self._wire_on(self.asked.name, self._pool(self.asked))
        owner = self._owner()
        try:
            return self._wire_on(owner.name, self._pool(owner))
        except UNAVAILABLE_ERRORS:
            # Nothing has been sent to it, so asking again is safe: after a failover the slot
            # map read afresh names the replica that took over.
            self.lost_a_node()
            if (promoted := self._owner()).name == owner.name:
                raise
            return self._wire_on(promoted.name, self._pool(promoted))

    def _pool(self, node: redis.cluster.ClusterNode) -> redis.ConnectionPool:
        return self.client.get_redis_connection(node).connection_pool

    def _owner(self) -> redis.cluster.ClusterNode:
        try:
            return self.client.nodes_manager.get_node_from_slot(self.slot)
        except SlotNotCoveredError as error:
            self.lost_a_node()  # as redis-py does: the next call reads the slot map afresh
            raise RedisUnavailable(f"No node of the Redis cluster serves the stream's slot {self.slot}.") from error

    def follow(self, redirect: str) -> None:
        kind, _, where = redirect.partition(" ")
        if kind == "MOVED":
            self.client.nodes_manager.move_slot(MovedError(where))
            self.asked, self.asking = None, False
            return
        asked = AskError(where)
        node = self.client.get_node(host=asked.host, port=asked.port)
        if node is None:  # a node added since the slot map was read
            self.client.nodes_manager.initialize()
            node = self.client.get_node(host=asked.host, port=asked.port)
        if node is None:
            raise RedisUnavailable(f"The Redis cluster sent the stream to a node it does not list ({redirect}).")
        self.asked, self.asking = node, True

    def lost_a_node(self) -> None:
        # redis-py re-reads the cluster's nodes when one fails; so must we, or every later call
        # would go to the dead primary's address again, whose replica may have taken over.
        with contextlib.suppress(redis.RedisError, RedisClusterException, OSError):
            self.client.nodes_manager.initialize()  # unanswered: the next call tries again


# --- the bytes on the wire -----------------------------------------------------------------


def _bulk(value: str) -> str:
    """A RESP bulk string, built as latin-1 text so a whole batch is encoded in one call."""
    if not value.isascii():
        value = value.encode("utf-8", "surrogateescape").decode("latin-1")
    return f"${len(value)}\r\n{value}\r\n"


def _bulk_column(name_part: str, values: Sequence[str]) -> list[bytes]:
    """Each value after its field's name (`name_part`, already in RESP), as bytes ready to send.
    Readings repeat a few hundred distinct values: each is encoded once."""
    encoded = {value: (name_part + _bulk(value)).encode("latin-1") for value in set(values)}
    return list(map(encoded.__getitem__, values))


def _pack_xadd_batch(key_part: str, batch: EntryBatch, *, asking: bool = False) -> bytes:
    """The batch as one buffer of XADD commands in RESP (each behind an ASKING if `asking`),
    laid out a column at a time.

    Every piece goes into its slot of one list by slice assignment (which, like a strict zip,
    refuses a column of the wrong length) and the list is joined once: no string is built per entry.
    """
    columns = batch.columns
    prefix = ASKING if asking else b""
    head = f"*{3 + 2 * len(columns)}\r\n$4\r\nXADD\r\n{key_part}"
    if batch.ids is None:
        heads = [prefix + (head + "$1\r\n*\r\n").encode("latin-1")] * len(batch)
    else:
        heads = [prefix + (head + _bulk(entry_id)).encode("latin-1") for entry_id in batch.ids]
    width = 1 + len(columns)
    parts: list[bytes] = [b""] * (width * len(heads))
    parts[::width] = heads
    for offset, (field_name, values) in enumerate(columns, start=1):
        parts[offset::width] = _bulk_column(_bulk(field_name), values)
    return b"".join(parts)


class _RawWire:
    """Sends whole batches and reads many replies straight off a connection's socket with hiredis.

    redis-py's per-command bookkeeping costs more than Redis takes to run an XADD;
    at tens of thousands of entries per batch that would make us the bottleneck.
    """

    def __init__(self, connection: redis.connection.Connection) -> None:
        connection.connect()
        self.sock: socket.socket = connection._sock
        self.reader = hiredis.Reader()

    def send(self, payload: bytes) -> None:
        self.sock.sendall(payload)

    def expect(self, batch: EntryBatch, *, asking: bool) -> _Replies:
        """Read one reply per XADD of `batch` (two with ASKING: its OK comes first).

        Raises _RefusedEntry at the first refusal; MOVED and ASK are noted, not raised."""
        replies = _Replies()
        step = 2 if asking else 1
        count = step * len(batch)
        received = 0
        reader = self.reader
        while received < count:
            reply = reader.gets()
            if reply is False:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    raise redis.ConnectionError("Redis closed the connection during a batch of XADDs.")
                reader.feed(chunk)
                continue
            if isinstance(reply, hiredis.ReplyError):
                index = received // step
                if str(reply).startswith(("MOVED ", "ASK ")):
                    replies.redirected.append(index)
                    replies.redirect = str(reply)
                    received += 1
                    continue
                raise _RefusedEntry(reply, batch.ids[index] if batch.ids else "*")
            received += 1
        replies.accepted = len(batch) - len(replies.redirected)
        return replies
