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
from datetime import tzinfo

from streams_app.conf import app_settings
from streams_app.domain.browsing import RangeRequest
from streams_app.domain.charts import ValueScale, moment_text, time_ticks, value_scale
from streams_app.domain.filters import parse_filter
from streams_app.domain.ids import parse_lower_bound, parse_upper_bound
from streams_app.domain.range_aggregate import (  # noqa: F401 - re-exported: the chart's scale and reads
    BUCKET_SIZES_MS,
    DAY_MS,
    HOUR_MS,
    MAX_BUCKETS,
    MINUTE_MS,
    READ_CHUNK,
    Bucketing,
    BucketStats,
    MeasurementAggregate,
    RangeAggregate,
    bucketing_for,
    range_aggregate,
)
from streams_app.gateway import Entry, StreamStore

# The picture, in CSS pixels down and percent of the width across: the SVG has no viewBox, so
# its text keeps its CSS size at any width (a phone shows 12 px labels as 12 px).
PLOT_LEFT, PLOT_WIDTH = 1.0, 98.0  # percent
TITLE_HEIGHT, PLOT_HEIGHT, PANEL_GAP, AXIS_HEIGHT = 22, 120, 14, 38  # px
Y_UNITS = 1000  # a plot's height in its own units (0 at the top)


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
