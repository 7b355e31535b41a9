"""Reading a range for aggregation (the whole-range chart, domain/range_chart.py): a chunk of
entries as columns, the time of each entry and the values of only the fields asked for. No
Entry is built and no other field decoded: a day of readings costs little more than Redis's
reply (see bench/chart.py)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import redis
import redis.cluster

from streams_app.gateway.errors import redis_call
from streams_app.gateway.keys import key_bytes
from streams_app.gateway.streams import StreamStore
from streams_app.gateway.types import Entry, RangeQuery, StreamId

Column = list[str | None]


@dataclass(frozen=True, slots=True)
class TimedColumns:
    """A chunk of a range, in order: the milliseconds of each entry's ID; for each field asked
    for, its value in each entry (text, as Entry.fields holds it; None where the entry lacks the
    field); and the ID of the last entry (None for an empty chunk)."""

    times_ms: list[int]
    columns: dict[str, Column]
    last: StreamId | None

    def __len__(self) -> int:
        return len(self.times_ms)


class AggregateStore:
    """Range reads that keep only what an aggregation needs."""

    def __init__(self, client: redis.Redis | redis.cluster.RedisCluster) -> None:
        self.client = client

    @classmethod
    def beside(cls, store: StreamStore) -> AggregateStore:
        """The aggregate reads on the Redis of `store`."""
        return cls(store.client)

    @redis_call
    def timed_columns(self, name: str, query: RangeQuery, *, fields: Collection[str]) -> TimedColumns:
        """One XRANGE (XREVRANGE when `query.reverse`) of at most `query.count` entries, as
        columns. A key that is gone reads as empty; one that is not a stream is a Conflict."""
        key = key_bytes(name)
        low, high = str(query.low), str(query.high)
        if query.reverse:
            rows = self.client.xrevrange(key, max=high, min=low, count=query.count)
        else:
            rows = self.client.xrange(key, min=low, max=high, count=query.count)
        if rows and not isinstance(rows[0][1], dict):  # RESP3 or a bare list: name, value, name, value, ...
            rows = [(raw_id, dict(zip(raw[::2], raw[1::2], strict=True)) if raw else {}) for raw_id, raw in rows]
        times = [int(raw_id.partition(b"-")[0]) for raw_id, _ in rows]
        return TimedColumns(
            times_ms=times,
            columns={field: _column(rows, field) for field in fields},
            last=StreamId.parse(rows[-1][0]) if rows else None,
        )


def _column(rows: list, field: str) -> Column:
    """The values of `field` in `rows`, decoded as Entry.fields decodes them. A name can be looked
    up by its UTF-8 bytes unless it holds a backslash (it may stand for bytes that are not UTF-8,
    which Entry shows escaped): then each entry's names are decoded to find it."""
    if "\\" in field:
        return [Entry.from_redis(raw_id, raw_fields).fields.get(field) for raw_id, raw_fields in rows]
    try:
        wanted = field.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no name Redis holds decodes to it
        return [None] * len(rows)
    # bytes.decode as types.text() does it, without a call per value: this runs for every entry read.
    return [
        value.decode("utf-8", "backslashreplace") if (value := raw_fields.get(wanted)) is not None else None
        for _, raw_fields in rows
    ]
