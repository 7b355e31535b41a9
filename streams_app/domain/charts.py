"""A small server-rendered chart of temperature and humidity for the entries on a page
(no JavaScript, no CDN: the page works offline)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation

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
    """Temperature (left scale) and humidity (right scale) over time; None when no entry has either."""
    ordered = sorted(entries, key=lambda entry: entry.stream_id)
    if not ordered:
        return None
    first_ms, last_ms = ordered[0].stream_id.ms, ordered[-1].stream_id.ms
    by_time = last_ms > first_ms
    span = (last_ms - first_ms) if by_time else max(len(ordered) - 1, 1)
    plot_width = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_height = HEIGHT - PAD_TOP - PAD_BOTTOM

    series = []
    for field, label, css_class in (
        ("temperature", "Temperature (°C)", "temperature"),
        ("humidity", "Humidity (%)", "humidity"),
    ):
        samples = []
        for index, entry in enumerate(ordered):
            value = _number(entry.fields.get(field))
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
        series.append(Series(field, label, css_class, points, low, high, len(samples)))
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
