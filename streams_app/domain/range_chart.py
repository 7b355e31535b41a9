"""The chart of a whole range (a day of 86,400 readings, a month): the lowest, mean and highest
value of each measurement per time bucket, computed here in one pass over the range.

The bucket is the finest of 1 minute, 5 minutes, 15 minutes, 1 hour, 6 hours or 1 day (then
whole days) that keeps the chart at MAX_BUCKETS buckets or fewer, aligned to the wall clock of
the site's time zone at the range's start. The range is read a chunk at a time, only the
fields the chart (and its filter) need, and at most `scan_limit` entries
(WEATHERSTREAMS_CHART_SCAN_LIMIT): a longer range is charted up to the last entry read, and the
chart says so. A bucket without a value is a gap; values that are not numbers are left out and
counted.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from streams_app.conf import app_settings
from streams_app.domain.browsing import RangeRequest
from streams_app.domain.charts import ValueScale, chart_number, moment_text, time_ticks, value_scale
from streams_app.domain.filters import EntryFilter, parse_filter
from streams_app.domain.ids import StreamId, parse_lower_bound, parse_upper_bound
from streams_app.domain.readings import MEASUREMENTS, Measurement
from streams_app.gateway import Entry, RangeQuery, StreamStore
from streams_app.gateway.aggregates import AggregateStore

MINUTE_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000
BUCKET_SIZES_MS = (MINUTE_MS, 5 * MINUTE_MS, 15 * MINUTE_MS, HOUR_MS, 6 * HOUR_MS, DAY_MS)
MAX_BUCKETS = 1500
READ_CHUNK = 5000  # entries a read asks for: fewer round trips, and Redis is never held for long
REMEMBERED_NUMBERS = 4096  # distinct value texts whose number is kept (readings repeat a few hundred)

# The picture, in CSS pixels down and percent of the width across: the SVG has no viewBox, so
# its text keeps its CSS size at any width (a phone shows 12 px labels as 12 px).
PLOT_LEFT, PLOT_WIDTH = 1.0, 98.0  # percent
TITLE_HEIGHT, PLOT_HEIGHT, PANEL_GAP, AXIS_HEIGHT = 22, 120, 14, 38  # px
Y_UNITS = 1000  # a plot's height in its own units (0 at the top)


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


# --- the picture --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gridline:
    y: float  # px from the top of the picture
    label: str


@dataclass(frozen=True, slots=True)
class Panel:
    """One measurement's plot: a band from the lowest to the highest value of each bucket and a
    line through the means, as SVG paths in the plot's own units (x: buckets, y: 0..Y_UNITS)."""

    field: str
    label: str
    css_class: str
    title_y: float
    top: float
    height: float
    scale: ValueScale
    gridlines: list[Gridline]
    band_path: str
    mean_path: str
    values: int
    not_numbers: int
    buckets_filled: int

    @property
    def bottom(self) -> float:
        return self.top + self.height


@dataclass(frozen=True, slots=True)
class XTick:
    x: str  # percent of the width, as SVG takes it: "12.5%"
    label: str
    context: str
    anchor: str  # start, middle or end: labels at the edges stay inside
    minor: bool  # every other label without a context: narrow screens leave it out


@dataclass(frozen=True, slots=True)
class Span:
    x: str
    width: str


@dataclass(frozen=True, slots=True)
class RangeChart:
    height: int
    plot_x: str
    plot_width: str
    view_width: int  # the plots' width in their own units: one per bucket
    y_units: int
    panels: list[Panel]
    ticks: list[XTick]
    axis_y: float
    bucket_label: str
    bucket_size: str
    buckets: int
    start_text: str
    end_text: str
    read: int
    matched: int
    filter_text: str
    not_numbers: int
    not_numbers_text: str  # which measurements had values that are not numbers ("" when none)
    shown: Span | None  # the rows on the page
    shown_count: int
    shown_from: str
    shown_to: str
    unread: Span | None  # beyond the scan limit
    covered_to: str  # the time of the last entry read, when the limit cut the chart
    covered_to_id: str
    rest_start: str  # the start of the range that charts the rest
    scan_limit: int

    @property
    def filtered(self) -> bool:
        return bool(self.filter_text)

    @property
    def described(self) -> str:
        """What the picture shows, for those who cannot see it."""
        shown = ", ".join(panel.label for panel in self.panels) or "Nothing"
        return f"{shown}: lowest, mean and highest per {self.bucket_label}, {self.start_text} to {self.end_text}"


def range_chart(
    *,
    store: StreamStore,
    name: str,
    request: RangeRequest,
    shown: Sequence[Entry],
    tz: tzinfo,
    scan_limit: int | None = None,
) -> RangeChart | None:
    """The chart of the whole range of `request` (the entries its filter matches), with the rows
    `shown` on the page marked; None when the range holds no entry."""
    low = parse_lower_bound(request.start, tz, field="start")
    high = parse_upper_bound(request.end, tz, field="end")
    if low is None or high is None or low > high:
        return None
    typed_span = (
        low.ms if request.start not in ("", "-") else None,
        high.ms if request.end not in ("", "+") else None,
    )
    limit = app_settings().chart_scan_limit if scan_limit is None else scan_limit
    aggregate = range_aggregate(
        store=store,
        name=name,
        low=low,
        high=high,
        tz=tz,
        entry_filter=parse_filter(request.filter),
        scan_limit=limit,
        span=typed_span,
    )
    if aggregate is None:
        return None
    return chart_of(aggregate, shown=shown, tz=tz, filter_text=request.filter)


def chart_of(aggregate: RangeAggregate, *, shown: Sequence[Entry], tz: tzinfo, filter_text: str = "") -> RangeChart:
    """The picture of an aggregate: one panel per measurement that has values, sharing a time axis."""
    bucketing = aggregate.bucketing
    panels: list[Panel] = []
    top = 4.0
    for found in aggregate.measurements:
        if not found.buckets:
            continue
        panels.append(_panel(found, top=top))
        top = panels[-1].bottom + PANEL_GAP
    axis_y = panels[-1].bottom if panels else top
    x_of = _x_percent(bucketing)
    ticks = []
    for index, tick in enumerate(time_ticks(bucketing.origin_ms, bucketing.end_ms, tz=tz)):
        position = x_of(tick.ms)
        anchor = "start" if position < 6 else "end" if position > 94 else "middle"
        ticks.append(
            XTick(f"{position:.2f}%", tick.label, tick.context, anchor, minor=index % 2 == 1 and not tick.context)
        )
    shown_ms = [entry.stream_id.ms for entry in shown]
    shown_span = None
    if shown_ms and panels:
        left, right = x_of(min(shown_ms)), x_of(max(shown_ms) + 1)
        shown_span = Span(f"{left:.2f}%", f"{max(right - left, 0.4):.2f}%")
    unread = None
    if aggregate.covered_to is not None and panels:
        left = x_of(aggregate.covered_to.ms + 1)
        unread = Span(f"{left:.2f}%", f"{max(PLOT_LEFT + PLOT_WIDTH - left, 0):.2f}%")
    return RangeChart(
        height=math.ceil(axis_y + (AXIS_HEIGHT if panels else 0)),
        plot_x=f"{PLOT_LEFT}%",
        plot_width=f"{PLOT_WIDTH}%",
        view_width=bucketing.count,
        y_units=Y_UNITS,
        panels=panels,
        ticks=ticks,
        axis_y=axis_y,
        bucket_label=bucketing.label,
        bucket_size=bucketing.size_text,
        buckets=bucketing.count,
        start_text=moment_text(bucketing.origin_ms, tz=tz, seconds=False),
        end_text=moment_text(bucketing.end_ms, tz=tz, seconds=False),
        read=aggregate.read,
        matched=aggregate.matched,
        filter_text=filter_text,
        not_numbers=sum(found.not_numbers for found in aggregate.measurements),
        not_numbers_text=_not_numbers_text(aggregate.measurements),
        shown=shown_span,
        shown_count=len(shown_ms),
        shown_from=moment_text(min(shown_ms), tz=tz) if shown_ms else "",
        shown_to=moment_text(max(shown_ms), tz=tz) if shown_ms else "",
        unread=unread,
        covered_to=moment_text(aggregate.covered_to.ms, tz=tz) if aggregate.covered_to else "",
        covered_to_id=str(aggregate.covered_to) if aggregate.covered_to else "",
        rest_start=f"({aggregate.covered_to}" if aggregate.covered_to else "",
        scan_limit=aggregate.scan_limit,
    )


def _not_numbers_text(measurements: Sequence[MeasurementAggregate]) -> str:
    parts = [
        f"{found.not_numbers:,} {found.measurement.label.lower()} "
        + ("value is not a number" if found.not_numbers == 1 else "values are not numbers")
        for found in measurements
        if found.not_numbers
    ]
    return " and ".join(parts) + ": left out." if parts else ""


def _x_percent(bucketing: Bucketing):
    width = bucketing.end_ms - bucketing.origin_ms

    def x_of(ms: int) -> float:
        return PLOT_LEFT + PLOT_WIDTH * min(max((ms - bucketing.origin_ms) / width, 0.0), 1.0)

    return x_of


def _panel(found: MeasurementAggregate, *, top: float) -> Panel:
    buckets = found.buckets
    scale = value_scale(min(bucket.low for bucket in buckets), max(bucket.high for bucket in buckets))
    plot_top = top + TITLE_HEIGHT

    def units(value: float) -> int:
        return round(Y_UNITS * (1 - scale.fraction(value)))

    gridlines = [
        Gridline(round(plot_top + PLOT_HEIGHT * (1 - scale.fraction(tick)), 1), scale.label(tick))
        for tick in scale.ticks
    ]
    band, mean = [], []
    for segment in _segments(buckets):
        highs = [units(bucket.high) for bucket in segment]
        lows = [units(bucket.low) for bucket in segment]
        means = [units(bucket.mean) for bucket in segment]
        start = segment[0].index
        band.append(f"M{start} {highs[0]}h.5{_steps(highs)}h.5V{lows[-1]}h-.5{_steps(lows[::-1], backwards=True)}h-.5Z")
        mean.append(f"M{start} {means[0]}h.5{_steps(means)}h.5")
    return Panel(
        field=found.measurement.name,
        label=found.measurement.label_with_unit,
        css_class=found.measurement.name,
        title_y=top + 15,
        top=plot_top,
        height=PLOT_HEIGHT,
        scale=scale,
        gridlines=gridlines,
        band_path="".join(band),
        mean_path="".join(mean),
        values=found.values,
        not_numbers=found.not_numbers,
        buckets_filled=len(buckets),
    )


def _segments(buckets: list[BucketStats]) -> list[list[BucketStats]]:
    """Runs of buckets next to each other: a bucket without values breaks the line and the band."""
    runs: list[list[BucketStats]] = []
    for bucket in buckets:
        if runs and runs[-1][-1].index == bucket.index - 1:
            runs[-1].append(bucket)
        else:
            runs.append([bucket])
    return runs


def _steps(ys: list[int], *, backwards: bool = False) -> str:
    """From the centre of one bucket to the centre of the next, in relative path commands (a
    day's 1,440 buckets take a few bytes each)."""
    step = "l-1 " if backwards else "l1 "
    return "".join(f"{step}{after - before}" for before, after in itertools.pairwise(ys))
