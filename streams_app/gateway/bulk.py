"""The fast path for many entries: whole batches of XADD written straight to a connection's
socket and their replies read with hiredis, batch k+1 sent before the replies to batch k are
read. redis-py's per-command bookkeeping costs more than Redis takes to run an XADD; at tens
of thousands of entries per batch that would make us the bottleneck."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Iterator, Sequence

import hiredis
import redis

from streams_app.gateway.errors import translate_redis_error
from streams_app.gateway.keys import key_bytes
from streams_app.gateway.types import EntryBatch

# (stream name, the error Redis answered, the refused entry's ID) -> the domain error to raise
Refusal = Callable[[str, Exception, str], Exception]


def bulk_add_entries(
    client: redis.Redis, name: str, batches: Iterable[EntryBatch], *, refusal: Refusal
) -> Iterator[int]:
    """XADD many entries, a pipelined batch at a time; yields the total written after each batch.

    Batch k+1 is built and sent before the replies to batch k are read, so this
    process and Redis work side by side. The first refused entry is raised as a domain
    error; the entries before it stay written, and so may those after it that were already
    on the wire (the rest of its batch and the next one): Redis runs what it was sent.
    Callers that must write all or nothing check the IDs first (domain.producer does).
    """
    key = key_bytes(name)
    key_part = f"${len(key)}\r\n{key.decode('latin-1')}\r\n"
    try:
        connection = client.connection_pool.get_connection()
    except Exception as error:
        raise (translate_redis_error(error) or error) from error
    written = 0
    in_flight: EntryBatch | None = None
    try:
        wire = _RawWire(connection)
        for batch in batches:
            if not len(batch):
                continue
            wire.send(_pack_xadd_batch(key_part, batch))
            if in_flight is not None:
                written += wire.expect(len(in_flight))
                yield written
            in_flight = batch
        if in_flight is not None:
            written += wire.expect(len(in_flight))
            yield written
    except _RefusedEntry as refused:
        connection.disconnect()  # replies to later commands are still on the wire
        refused_id = in_flight.ids[refused.accepted] if in_flight is not None and in_flight.ids else "*"
        raise refusal(name, refused.error, refused_id) from refused.error
    except Exception as error:
        connection.disconnect()
        domain_error = translate_redis_error(error)
        if domain_error is None:
            raise
        raise domain_error from error
    except BaseException:
        connection.disconnect()
        raise
    finally:
        client.connection_pool.release(connection)


class _RefusedEntry(Exception):
    def __init__(self, error: Exception, accepted: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.accepted = accepted


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


def _pack_xadd_batch(key_part: str, batch: EntryBatch) -> bytes:
    """The batch as one buffer of XADD commands in RESP, laid out a column at a time.

    Every piece goes into its slot of one list by slice assignment (which, like a strict zip,
    refuses a column of the wrong length) and the list is joined once: no string is built per entry.
    """
    columns = batch.columns
    head = f"*{3 + 2 * len(columns)}\r\n$4\r\nXADD\r\n{key_part}"
    if batch.ids is None:
        heads = [(head + "$1\r\n*\r\n").encode("latin-1")] * len(batch)
    else:
        heads = [(head + _bulk(entry_id)).encode("latin-1") for entry_id in batch.ids]
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

    def expect(self, count: int) -> int:
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
                raise _RefusedEntry(reply, received)
            received += 1
        return received
