"""A small server-rendered chart of a reading's measurements for the entries on a page
(no JavaScript, no CDN: the page works offline). The first measurement has its scale on the
left, the others on the right."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation

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


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, AttributeError):
        return None
    return float(number) if number.is_finite() else None


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
            value = _number(entry.fields.get(measurement.name))
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
