"""A whole range's aggregates for its chart (domain/range_chart.py): the lowest, mean and highest
value of each measurement per time bucket, computed in one pass over the range.

The bucket is the finest of 1 minute, 5 minutes, 15 minutes, 1 hour, 6 hours or 1 day (then
whole days) that keeps the chart at MAX_BUCKETS buckets or fewer, aligned to the wall clock of
the site's time zone at the range's start. The range is read a chunk at a time, only the
fields the chart (and its filter) need, and at most `scan_limit` entries: a longer range is
aggregated up to the last entry read, and says so. Values that are not numbers are left out
and counted.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from streams_app.domain.charts import chart_number
from streams_app.domain.filters import EntryFilter
from streams_app.domain.ids import StreamId
from streams_app.domain.readings import MEASUREMENTS, Measurement
from streams_app.gateway import RangeQuery, StreamStore
from streams_app.gateway.aggregates import AggregateStore

MINUTE_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000
BUCKET_SIZES_MS = (MINUTE_MS, 5 * MINUTE_MS, 15 * MINUTE_MS, HOUR_MS, 6 * HOUR_MS, DAY_MS)
MAX_BUCKETS = 1500
READ_CHUNK = 5000  # entries a read asks for: fewer round trips, and Redis is never held for long
REMEMBERED_NUMBERS = 4096  # distinct value texts whose number is kept (readings repeat a few hundred)


@dataclass(frozen=True, slots=True)
class Bucketing:
    """`count` buckets of `size_ms`, the first starting at `origin_ms`."""

    origin_ms: int
    size_ms: int
    count: int

    @property
    def end_ms(self) -> int:
        return self.origin_ms + self.size_ms * self.count

    @property
    def size_text(self) -> str:
        """The bucket's size: `1 minute`, `6 hours`, `3 days`."""
        for unit_ms, unit in ((DAY_MS, "day"), (HOUR_MS, "hour"), (MINUTE_MS, "minute")):
            if self.size_ms % unit_ms == 0:
                number = self.size_ms // unit_ms
                return f"1 {unit}" if number == 1 else f"{number:,} {unit}s"
        return f"{self.size_ms:,} ms"

    @property
    def label(self) -> str:
        """What follows "per": `minute`, `6 hours`."""
        return self.size_text.removeprefix("1 ")

    def index(self, ms: int) -> int:
        return (ms - self.origin_ms) // self.size_ms


def bucketing_for(first_ms: int, last_ms: int, *, tz: tzinfo, max_buckets: int = MAX_BUCKETS) -> Bucketing:
    """The finest bucket of BUCKET_SIZES_MS (beyond them, whole days) that covers `first_ms` to
    `last_ms` in at most `max_buckets` buckets, aligned to the wall clock of `tz` at `first_ms`."""
    offset = _offset_ms(first_ms, tz)
    sizes = list(BUCKET_SIZES_MS)
    days = -(-(last_ms - first_ms + 1) // (max_buckets * DAY_MS))
    if days > 1:
        sizes.append(days * DAY_MS)
    for size in sizes:
        origin = (first_ms + offset) // size * size - offset
        count = (last_ms - origin) // size + 1
        if count <= max_buckets or size == sizes[-1]:
            return Bucketing(origin_ms=origin, size_ms=size, count=count)
    raise AssertionError("unreachable")


def _offset_ms(ms: int, tz: tzinfo) -> int:
    try:
        offset = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(tz).utcoffset()
    except (OverflowError, OSError, ValueError):
        return 0
    return 0 if offset is None else offset // timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class BucketStats:
    """One bucket's values of a measurement: how many, the lowest, the mean and the highest."""

    index: int
    count: int
    low: float
    mean: float
    high: float


@dataclass(frozen=True, slots=True)
class MeasurementAggregate:
    measurement: Measurement
    buckets: list[BucketStats]  # the buckets that hold a value, in time order
    values: int  # values charted
    not_numbers: int  # values left out: not numbers


@dataclass(frozen=True, slots=True)
class RangeAggregate:
    """What one pass over a range found: per measurement, per bucket; how many entries were read
    and how many the filter kept; and, when the pass stopped at its limit, the last entry read."""

    bucketing: Bucketing
    measurements: list[MeasurementAggregate]
    first: StreamId  # the range's first and last entries (when the pass began)
    last: StreamId
    read: int
    matched: int
    covered_to: StreamId | None  # None: the whole range was read
    scan_limit: int


def range_aggregate(
    *,
    store: StreamStore,
    name: str,
    low: StreamId,
    high: StreamId,
    tz: tzinfo,
    entry_filter: EntryFilter | None = None,
    scan_limit: int,
    span: tuple[int | None, int | None] = (None, None),
) -> RangeAggregate | None:
    """Min, mean and max of each measurement per bucket over the entries of `low`..`high` (those
    `entry_filter` matches), reading at most `scan_limit` entries; None when the range is empty.
    `span` widens the buckets' time span beyond the first and last entries (typed bounds)."""
    heads, tails = store.ranges(name, [RangeQuery(low, high, 1), RangeQuery(low, high, 1, reverse=True)])
    if not heads or not tails:
        return None
    first, last = heads[0].stream_id, tails[0].stream_id
    start_ms = first.ms if span[0] is None else min(span[0], first.ms)
    end_ms = last.ms if span[1] is None else max(span[1], last.ms)
    bucketing = bucketing_for(start_ms, end_ms, tz=tz)
    total = bucketing.count
    columns = [(m.name, [0] * total, [math.inf] * total, [-math.inf] * total, [0.0] * total) for m in MEASUREMENTS]
    not_numbers = [0] * len(columns)
    filter_fields = sorted(entry_filter.fields) if entry_filter else []
    reads = {m.name for m in MEASUREMENTS} | set(filter_fields)
    numbers: dict[str, float | None] = {}
    origin, size = bucketing.origin_ms, bucketing.size_ms
    aggregates = AggregateStore.beside(store)
    read = matched = 0
    cursor: StreamId | None = first
    covered_to = None
    while cursor is not None:
        take = min(READ_CHUNK, scan_limit - read)
        part = aggregates.timed_columns(name, RangeQuery(cursor, last, take), fields=reads)
        read += len(part)
        indexes = [(ms - origin) // size for ms in part.times_ms]
        kept = None
        if entry_filter is not None:
            # The filter sees the fields it reads, as range_scan shows them: those the entry has.
            tested = zip(*(part.columns[field] for field in filter_fields), strict=True)
            kept = [
                entry_filter.matches({f: v for f, v in zip(filter_fields, values, strict=True) if v is not None})
                for values in tested
            ]
            matched += sum(kept)
        else:
            matched += len(part)
        # The one pass, a measurement at a time: this loop runs for every value of the range.
        for column, (field, counts, lows, highs, sums) in enumerate(columns):
            pairs = zip(indexes, part.columns[field], strict=True)
            for index, raw in pairs if kept is None else itertools.compress(pairs, kept):
                if raw is None:
                    continue
                value = numbers.get(raw, _UNSEEN)
                if value is _UNSEEN:
                    value = chart_number(raw)
                    if len(numbers) < REMEMBERED_NUMBERS:
                        numbers[raw] = value
                if value is None:
                    not_numbers[column] += 1
                    continue
                counts[index] += 1
                sums[index] += value
                if value < lows[index]:
                    lows[index] = value
                if value > highs[index]:
                    highs[index] = value
        if len(part) < take or part.last is None or part.last >= last:
            break
        cursor = part.last.successor()
        if read >= scan_limit:
            covered_to = part.last
            break
    found = []
    for measurement, (_, counts, lows, highs, sums), skipped in zip(MEASUREMENTS, columns, not_numbers, strict=True):
        buckets = [
            BucketStats(index, counts[index], lows[index], sums[index] / counts[index], highs[index])
            for index in range(total)
            if counts[index]
        ]
        found.append(MeasurementAggregate(measurement, buckets, values=sum(counts), not_numbers=skipped))
    return RangeAggregate(
        bucketing=bucketing,
        measurements=found,
        first=first,
        last=last,
        read=read,
        matched=matched,
        covered_to=covered_to,
        scan_limit=scan_limit,
    )


_UNSEEN = object()
