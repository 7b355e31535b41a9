"""Server-rendered charts (no JavaScript, no CDN: pages work offline), and the axis code they
share: what a value is as a number (`chart_number`), value scales with round ticks
(`value_scale`) and time ticks at round steps of the site's time zone (`time_ticks`).

`readings_chart` draws each reading of the rows on a page (the first measurement has its scale
on the left, the others on the right); domain/range_chart.py draws a whole range from per-bucket
aggregates."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from streams_app.domain.filters import as_number
from streams_app.domain.readings import MEASUREMENTS
from streams_app.gateway import Entry

WIDTH, HEIGHT = 800, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 48, 12, 28


@dataclass(frozen=True, slots=True)
class Series:
    field: str
    label: str
    css_class: str
    points: str
    low: float
    high: float
    count: int
    decimals: int
    left_scale: bool


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    series: list[Series]
    x_start: str
    x_end: str
    plot_left: int = PAD_LEFT
    plot_right: int = WIDTH - PAD_RIGHT
    plot_top: int = PAD_TOP
    plot_bottom: int = HEIGHT - PAD_BOTTOM

    @property
    def plot_width(self) -> int:
        return self.plot_right - self.plot_left

    @property
    def plot_height(self) -> int:
        return self.plot_bottom - self.plot_top


def chart_number(value: str | None) -> float | None:
    """A field's value as a finite number, read as filters read numbers (`21.5`, `-3`, `4e1`;
    no spaces, no nan or inf); None for anything else."""
    if value is None:
        return None
    number = as_number(value)
    if number is None:
        return None
    number = float(number)
    return number if math.isfinite(number) else None


def readings_chart(entries: Sequence[Entry], *, tz: tzinfo) -> Chart | None:
    """Each measurement of a reading over time; None when no entry has any."""
    ordered = sorted(entries, key=lambda entry: entry.stream_id)
    if not ordered:
        return None
    first_ms, last_ms = ordered[0].stream_id.ms, ordered[-1].stream_id.ms
    by_time = last_ms > first_ms
    span = (last_ms - first_ms) if by_time else max(len(ordered) - 1, 1)
    plot_width = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_height = HEIGHT - PAD_TOP - PAD_BOTTOM

    series = []
    for order, measurement in enumerate(MEASUREMENTS):
        samples = []
        for index, entry in enumerate(ordered):
            value = chart_number(entry.fields.get(measurement.name))
            if value is not None:
                position = (entry.stream_id.ms - first_ms) if by_time else index
                samples.append((position, value))
        if not samples:
            continue
        low = min(value for _, value in samples)
        high = max(value for _, value in samples)
        value_span = (high - low) or 1.0
        points = " ".join(
            f"{PAD_LEFT + plot_width * position / span:.1f},"
            f"{PAD_TOP + plot_height * (1 - (value - low) / value_span):.1f}"
            for position, value in samples
        )
        series.append(
            Series(
                field=measurement.name,
                label=measurement.label_with_unit,
                css_class=measurement.name,
                points=points,
                low=low,
                high=high,
                count=len(samples),
                decimals=measurement.decimals,
                left_scale=order == 0,
            )
        )
    if not series:
        return None
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        series=series,
        x_start=_when(ordered[0], tz),
        x_end=_when(ordered[-1], tz),
    )


def _when(entry: Entry, tz: tzinfo) -> str:
    moment = entry.time
    if moment is None:
        return entry.id
    return datetime.astimezone(moment, tz).strftime("%Y-%m-%d %H:%M:%S")


# --- axes shared by the charts ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValueScale:
    """A value axis from `low` to `high` (both on a tick) with its ticks, `step` apart, and the
    decimals that tell them apart."""

    low: float
    high: float
    step: float
    ticks: tuple[float, ...]
    decimals: int

    def fraction(self, value: float) -> float:
        """Where `value` lies on the axis: 0 at `low`, 1 at `high`."""
        return (value - self.low) / (self.high - self.low)

    def label(self, value: float) -> str:
        largest = max(abs(self.low), abs(self.high))
        if self.decimals > 6 or largest >= 1e9:  # values no weather has: in powers of ten, just apart
            digits = max(1, math.floor(math.log10(largest)) - math.floor(math.log10(self.step)) + 2)
            return f"{value:.{digits}g}".replace("-", "−")
        text = f"{value:.{self.decimals}f}"
        if float(text) == 0:
            text = f"{0.0:.{self.decimals}f}"  # no "−0"
        return text.replace("-", "−")


LARGEST_ON_AN_AXIS = 1e306


def value_scale(low: float, high: float, *, max_ticks: int = 5) -> ValueScale:
    """The axis with at most `max_ticks` round ticks (1, 2, 2.5 or 5 times a power of ten) that
    holds `low` to `high`; a single value gets a tick on each side of it."""
    if not (math.isfinite(low) and math.isfinite(high)) or high < low:
        raise ValueError(f"no axis holds {low} to {high}")
    # No spread beyond what a float holds: values past the limit are drawn at the edge.
    low, high = (min(max(value, -LARGEST_ON_AN_AXIS), LARGEST_ON_AN_AXIS) for value in (low, high))
    spread = high - low
    if spread <= max(abs(low), abs(high), 1e-290) * 1e-9:  # one value (or as good as): room around it
        spread = max(abs(low) * 0.1, 1.0)
        low, high = low - spread / 2, high + spread / 2
    magnitude = 10 ** math.floor(math.log10(spread))
    for multiple in (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 25, 50):
        step = multiple * magnitude
        first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
        if last - first + 1 <= max_ticks:
            break
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if abs(step * 10**decimals - round(step * 10**decimals)) > 1e-9:  # 2.5 needs a place, 0.25 two
        decimals += 1
    ticks = tuple(round(index * step, decimals) for index in range(first, last + 1))
    return ValueScale(low=ticks[0], high=ticks[-1], step=step, ticks=ticks, decimals=decimals)


@dataclass(frozen=True, slots=True)
class TimeTick:
    """A tick of a time axis: its moment (ms since the epoch), its label (`06:00`, `30 Nov`) and,
    where the day (or year) changes, what changed (`30 Nov`, `2026`)."""

    ms: int
    label: str
    context: str = ""


@dataclass(frozen=True, slots=True)
class _Step:
    unit: str  # minutes, hours, days, weeks, months, years
    size: int
    approx_ms: int


_MINUTE_MS, _HOUR_MS, _DAY_MS = 60_000, 3_600_000, 86_400_000
TIME_STEPS: tuple[_Step, ...] = (
    *(_Step("minutes", size, size * _MINUTE_MS) for size in (1, 2, 5, 10, 15, 30)),
    *(_Step("hours", size, size * _HOUR_MS) for size in (1, 2, 3, 4, 6, 12)),
    *(_Step("days", size, size * _DAY_MS) for size in (1, 2)),
    _Step("weeks", 1, 7 * _DAY_MS),
    *(_Step("months", size, size * 30 * _DAY_MS) for size in (1, 2, 3, 6)),
    *(_Step("years", size, size * 365 * _DAY_MS) for size in (1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 2500)),
)


def time_ticks(start_ms: int, end_ms: int, *, tz: tzinfo, max_ticks: int = 7) -> list[TimeTick]:
    """Ticks at a round step of the wall clock in `tz` (every 4 hours, every day, Mondays, the
    first of a month...) between `start_ms` and `end_ms`, at most `max_ticks` of them; none for
    moments the calendar does not hold (IDs beyond year 9999)."""
    span = max(end_ms - start_ms, 1)
    step = next((step for step in TIME_STEPS if span / step.approx_ms < max_ticks), TIME_STEPS[-1])
    try:
        start = datetime.fromtimestamp(start_ms / 1000, tz=UTC).astimezone(tz)
        datetime.fromtimestamp(end_ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return []
    ticks: list[TimeTick] = []
    previous: datetime | None = None
    try:
        for moment in _wall_clock_steps(start, step):
            ms = _ms(moment)
            if ms > end_ms:
                break
            if ms >= start_ms:
                ticks.append(_tick(moment, ms, step, previous))
                previous = moment
    except (OverflowError, ValueError):  # the calendar ends (year 9999) before the axis does
        pass
    return ticks[:max_ticks]


def _wall_clock_steps(start: datetime, step: _Step):
    """Moments at `step` on the wall clock of `start`'s zone, from the last round one at or
    before `start` (arithmetic on an aware datetime is wall-clock arithmetic)."""
    if step.unit in ("minutes", "hours"):
        if step.unit == "minutes":
            moment = start.replace(minute=start.minute - start.minute % step.size, second=0, microsecond=0)
            delta = timedelta(minutes=step.size)
        else:
            moment = start.replace(hour=start.hour - start.hour % step.size, minute=0, second=0, microsecond=0)
            delta = timedelta(hours=step.size)
        while True:
            yield moment
            moment = moment + delta
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if step.unit in ("days", "weeks"):
        if step.unit == "weeks":
            midnight -= timedelta(days=midnight.weekday())  # Mondays
        delta = timedelta(days=step.size if step.unit == "days" else 7)
        while True:
            yield midnight
            midnight = midnight + delta
    months = step.size * (12 if step.unit == "years" else 1)
    index = midnight.year * 12 + midnight.month - 1
    index -= index % months
    while True:
        yield midnight.replace(year=index // 12, month=index % 12 + 1, day=1)
        index += months


def _ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _tick(moment: datetime, ms: int, step: _Step, previous: datetime | None) -> TimeTick:
    day = f"{moment.day} {moment:%b}"
    if step.unit in ("minutes", "hours"):
        context = day if previous is None or previous.date() != moment.date() else ""
        return TimeTick(ms, f"{moment:%H:%M}", context)
    year = str(moment.year)
    context = year if previous is None or previous.year != moment.year else ""
    if step.unit in ("days", "weeks"):
        return TimeTick(ms, day, context)
    if step.unit == "months":
        return TimeTick(ms, f"{moment:%b}", context)
    return TimeTick(ms, year)


def moment_text(ms: int, *, tz: tzinfo, seconds: bool = True) -> str:
    """A moment as pages show it (`2026-11-30 06:00:00` in `tz`); the bare milliseconds where
    the calendar ends (an ID beyond year 9999)."""
    try:
        local = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(tz)
    except (OverflowError, OSError, ValueError):
        return str(ms)
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
