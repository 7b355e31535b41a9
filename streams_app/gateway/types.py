"""Values the gateway returns: plain dataclasses, no Redis types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from streams_app.gateway.keys import key_from_bytes

MAX_PART = 2**64 - 1  # each part of an ID is a 64-bit unsigned integer
# A SCAN position: one Redis's own cursor (an int), or on a cluster "<primary>.<that node's cursor>".
ScanCursor = int | str


@dataclass(frozen=True, order=True, slots=True)
class StreamId:
    """One entry ID: milliseconds since the epoch and a sequence number."""

    ms: int
    seq: int = 0

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"

    @classmethod
    def parse(cls, text: str | bytes) -> StreamId:
        """Parse an ID as Redis returns it (`ms-seq`); trusted input only."""
        if isinstance(text, bytes):
            text = text.decode("ascii")
        ms, _, seq = text.partition("-")
        return cls(int(ms), int(seq or 0))

    def successor(self) -> StreamId | None:
        if self.seq < MAX_PART:
            return StreamId(self.ms, self.seq + 1)
        if self.ms < MAX_PART:
            return StreamId(self.ms + 1, 0)
        return None

    def predecessor(self) -> StreamId | None:
        if self.seq > 0:
            return StreamId(self.ms, self.seq - 1)
        if self.ms > 0:
            return StreamId(self.ms - 1, MAX_PART)
        return None

    @property
    def time(self) -> datetime | None:
        """The moment the ID's milliseconds stand for, in UTC (None when out of range)."""
        try:
            return datetime.fromtimestamp(self.ms / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None


def text(raw: bytes | str | None) -> str:
    """Bytes from Redis as text; bytes that are not UTF-8 appear as visible escapes (\\xff)."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    return raw.decode("utf-8", "backslashreplace")


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry: its ID and its fields (text to text)."""

    id: str
    fields: dict[str, str]

    @property
    def stream_id(self) -> StreamId:
        return StreamId.parse(self.id)

    @property
    def time(self) -> datetime | None:
        return self.stream_id.time

    @classmethod
    def from_redis(cls, raw_id: bytes, raw_fields: dict[bytes, bytes] | list[bytes] | None) -> Entry:
        if isinstance(raw_fields, list):
            raw_fields = dict(zip(raw_fields[::2], raw_fields[1::2], strict=True))
        elif not raw_fields:
            return cls(id=text(raw_id), fields={})
        try:
            # bytes.decode as text() does it, without a call per name and value: every entry a page,
            # a scan or an export reads comes through here.
            fields = {
                name.decode("utf-8", "backslashreplace"): value.decode("utf-8", "backslashreplace")
                for name, value in raw_fields.items()
            }
        except AttributeError:  # a client that decodes (str), or a value that is not bytes
            fields = {text(name): text(value) for name, value in raw_fields.items()}
        return cls(id=text(raw_id), fields=fields)


@dataclass(frozen=True, slots=True)
class EntryBatch:
    """Entries to add, as columns: `ids` (None lets Redis choose each ID) and one list of values per field."""

    ids: Sequence[str] | None
    columns: Sequence[tuple[str, Sequence[str]]]

    def __len__(self) -> int:
        return len(self.columns[0][1]) if self.columns else 0


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """What the streams page shows of one stream."""

    name: str
    length: int
    first_id: str | None
    last_id: str | None
    last_generated_id: str
    groups: int
    memory_bytes: int | None
    entries_added: int | None = None  # every entry ever added (Redis 7+), deleted and trimmed ones too
    max_deleted_entry_id: str | None = None  # the highest ID removed by XDEL (Redis 7+; 0-0 when none)
    dead_letters: int | None = None  # entries in its dead-letter stream (None when not asked for)
    internal_reason: str | None = None  # why the key is the app's or RQ's own (None: a user stream)

    @classmethod
    def from_xinfo(
        cls, name: str, info: dict, *, memory_bytes: int | None = None, dead_letters: int | None = None
    ) -> StreamSummary:
        """The one reading of an XINFO STREAM reply."""
        first, last = info.get("first-entry"), info.get("last-entry")
        added, deleted = info.get("entries-added"), info.get("max-deleted-entry-id")
        return cls(
            name=name,
            length=int(info.get("length", 0)),
            first_id=text(first[0]) if first else None,
            last_id=text(last[0]) if last else None,
            last_generated_id=text(info.get("last-generated-id")),
            groups=int(info.get("groups", 0)),
            memory_bytes=memory_bytes,
            entries_added=None if added is None else int(added),
            max_deleted_entry_id=None if deleted is None else text(deleted),
            dead_letters=dead_letters,
        )

    @property
    def internal(self) -> bool:
        return self.internal_reason is not None

    @property
    def last_time(self) -> datetime | None:
        return StreamId.parse(self.last_id).time if self.last_id else None


@dataclass(frozen=True, slots=True)
class StreamKeysPage:
    """Stream keys found by one SCAN walk, and the cursor to go on from (None when done)."""

    names: list[str]
    next_cursor: ScanCursor | None


@dataclass(frozen=True, slots=True)
class RangeQuery:
    """One XRANGE (or XREVRANGE when `reverse`) between inclusive bounds."""

    low: StreamId
    high: StreamId
    count: int
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class RangeScan:
    """What one tested range read found (StreamStore.range_scan): the entries kept, in the order
    read; how many entries were tested and the ID of the last one; how many the read returned;
    and the entries of the untested reads made in the same round trip (`also`)."""

    kept: list[Entry]
    tested: int
    last_tested: StreamId | None
    read: int
    also: list[list[Entry]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ServerMemory:
    used_memory_human: str
    used_memory_dataset: int
    used_memory_peak_human: str
    maxmemory: int
    redis_version: str  # the Redis version the server is compatible with (Valkey 8 says 7.2.4)
    engine: str = ""  # what the server is, as people know it: "Redis 7.0.15", "Valkey 8.1.8"
    # On a cluster: (address, used_memory in bytes) of every primary, the figures above summed.
    nodes: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """A consumer group as XINFO GROUPS reports it, with the lag counted where Redis cannot tell
    (see gateway/lag.py): every page, the API and the dashboard read `lag` from here."""

    name: str  # exact: bytes that are not UTF-8 kept as surrogate escapes (show it with display_name)
    consumers: int
    pending: int
    last_delivered_id: str
    entries_read: int | None
    lag: int | None  # entries not yet delivered to the group; None only while nobody could tell
    lag_estimated: bool = False  # the count ran out of budget: `lag` is an estimate
    lag_at_least: int | None = None  # with an estimate, the lag is certainly at least this

    @property
    def lag_exact(self) -> bool:
        """Whether `lag` is known exactly (from Redis, or counted to the end)."""
        return self.lag is not None and not self.lag_estimated

    @classmethod
    def from_xinfo(cls, row: dict) -> GroupSummary:
        """The one reading of an XINFO GROUPS row (its lag is nil when Redis 7.0 cannot tell)."""
        name = row["name"]
        return cls(
            name=key_from_bytes(name) if isinstance(name, bytes) else str(name),
            consumers=int(row["consumers"]),
            pending=int(row["pending"]),
            last_delivered_id=text(row["last-delivered-id"]),
            entries_read=None if row.get("entries-read") is None else int(row["entries-read"]),
            lag=None if row.get("lag") is None else int(row["lag"]),
        )


@dataclass(frozen=True, slots=True)
class ConsumerSummary:
    """A consumer as XINFO CONSUMERS reports it."""

    name: str
    pending: int
    idle_ms: int

    @classmethod
    def from_xinfo(cls, row: dict) -> ConsumerSummary:
        return cls(name=text(row["name"]), pending=int(row["pending"]), idle_ms=int(row["idle"]))
