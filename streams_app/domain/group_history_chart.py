"""The picture of a group's last hour (domain/group_history.py): three plots sharing a time
axis, lag, pending, and processed per second per worker (one line each), drawn server-side as
SVG in the house style of the range chart (domain/range_chart.py): the outer SVG has no viewBox,
so its labels keep their CSS size (12 px) at any width, and each plot is a nested SVG whose own
units (seconds across, Y_UNITS down) stretch to it.

Lag and pending are lines through the interval's points; a worker's rate is a step per span
(it is an average over the span, so it is drawn flat across it). Nothing crosses a gap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import tzinfo

from streams_app.domain.charts import ValueScale, moment_text, time_ticks, value_scale
from streams_app.domain.group_history import HORIZON_MS, GroupHistory, GroupPoint, WorkerRates, segments
from streams_app.domain.range_chart import XTick

PLOT_LEFT, PLOT_WIDTH = 1.0, 98.0  # percent of the width
TITLE_HEIGHT, PLOT_HEIGHT, PANEL_GAP, AXIS_HEIGHT = 22, 90, 12, 38  # px
# At most 4 values on an axis: 30 px or more apart, so the labels (12 px, the top one below its line) never touch.
MAX_TICKS = 4
Y_UNITS = 1000  # a plot's height in its own units (0 at the top)
WORKER_LINES = 8  # one colour each (app.css: .history-chart .worker-0 … -7); the busiest are drawn


@dataclass(frozen=True, slots=True)
class Gridline:
    """A value's line across a plot, labelled at its left end: just above it, but below the top
    one (above it is the plot's title). On the left, since the right end is now, what matters most."""

    y: float  # px from the top of the picture
    label: str
    label_dy: int


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One line of a plot: an SVG path in the plot's units; `name` a worker's, or empty."""

    path: str
    css_class: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class HistoryPanel:
    key: str  # lag, pending, rate
    label: str
    title_y: float
    top: float
    height: float
    gridlines: list[Gridline]
    lines: list[HistoryLine]
    note: str  # said inside the plot when it has nothing to draw

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def middle(self) -> float:
        return self.top + self.height / 2


@dataclass(frozen=True, slots=True)
class LegendEntry:
    name: str
    css_class: str
    processed: int
    failed: int


@dataclass(frozen=True, slots=True)
class HistoryChart:
    history: GroupHistory
    height: int
    plot_x: str
    plot_width: str
    view_width: int  # seconds across
    y_units: int
    panels: list[HistoryPanel]
    ticks: list[XTick]
    axis_y: float
    legend: list[LegendEntry]
    workers_not_drawn: int  # beyond WORKER_LINES
    start_text: str
    end_text: str
    covered_from_text: str  # the oldest sample, when the cap (not the hour) decides

    @property
    def empty(self) -> bool:
        return self.history.empty

    @property
    def described(self) -> str:
        """What the picture shows, for those who cannot see it."""
        return f"Lag, pending and processed per second per worker, {self.start_text} to {self.end_text}"


def group_history_chart(history: GroupHistory, *, tz: tzinfo) -> HistoryChart:
    """The three plots of `history`, times in `tz`."""
    start, end = history.start_ms, history.end_ms
    drawn = _drawn_workers(history.workers)
    top = 4.0
    panels = []
    for key, label, build in (
        ("lag", "Lag: entries not yet delivered", lambda at: _gauge_panel(history, "lag", at)),
        ("pending", "Pending: delivered, not yet acked", lambda at: _gauge_panel(history, "pending", at)),
        ("rate", "Processed per second, per worker", lambda at: _rate_panel(history, drawn, at)),
    ):
        gridlines, lines, note = build(top + TITLE_HEIGHT)
        panels.append(HistoryPanel(key, label, top + 15, top + TITLE_HEIGHT, PLOT_HEIGHT, gridlines, lines, note))
        top = panels[-1].bottom + PANEL_GAP
    axis_y = panels[-1].bottom
    ticks = []
    for index, tick in enumerate(time_ticks(start, end, tz=tz)):
        position = PLOT_LEFT + PLOT_WIDTH * (tick.ms - start) / (end - start)
        anchor = "start" if position < 6 else "end" if position > 94 else "middle"
        ticks.append(
            XTick(f"{position:.2f}%", tick.label, tick.context, anchor, minor=index % 2 == 1 and not tick.context)
        )
    return HistoryChart(
        history=history,
        height=math.ceil(axis_y + AXIS_HEIGHT),
        plot_x=f"{PLOT_LEFT}%",
        plot_width=f"{PLOT_WIDTH}%",
        view_width=HORIZON_MS // 1000,
        y_units=Y_UNITS,
        panels=panels,
        ticks=ticks,
        axis_y=axis_y,
        legend=[
            LegendEntry(workers.name, f"worker-{index}", workers.processed, workers.failed)
            for index, workers in enumerate(drawn)
        ],
        workers_not_drawn=sum(bool(rates.spans) for rates in history.workers) - len(drawn),
        start_text=moment_text(start, tz=tz, seconds=False),
        end_text=moment_text(end, tz=tz),
        covered_from_text=moment_text(history.covered_from_ms, tz=tz) if history.covered_from_ms else "",
    )


def _drawn_workers(workers: Sequence[WorkerRates]) -> list[WorkerRates]:
    """The WORKER_LINES busiest workers with a rate, by name (so colours stay with names)."""
    with_rates = [rates for rates in workers if rates.spans]
    busiest = sorted(with_rates, key=lambda rates: (-rates.processed, rates.name))[:WORKER_LINES]
    return sorted(busiest, key=lambda rates: rates.name)


# --- plots --------------------------------------------------------------------------------------

Plot = tuple[list[Gridline], list[HistoryLine], str]


def _gauge_panel(history: GroupHistory, key: str, plot_top: float) -> Plot:
    """Lag or pending: a line through the points, broken at gaps (and where lag is unknown)."""
    points = history.points
    values = [value for point in points if (value := _value(point, key)) is not None]
    if not values:
        unknown = key == "lag" and points
        return [], [], "Redis could not tell the lag." if unknown else "No samples."
    scale = _count_scale(max(values))
    x_of, y_of = _x(history), _y(scale)
    runs, dots = [], []
    for first, last in segments([point.ms for point in points], gap_ms=history.gap_ms):
        run: list[str] = []
        for point in [*points[first:last], None]:
            value = None if point is None else _value(point, key)
            if value is None:  # the end of the run, or lag unknown: the line stops here
                if len(run) == 1:  # a point alone: a dot (a line of no length, round caps)
                    dots.append(f"M{run[0]}h0")
                elif run:
                    runs.append("M" + " ".join(run))
                run = []
                continue
            run.append(f"{x_of(point.ms)} {y_of(value)}")
    lines = [HistoryLine("".join(runs), key)] if runs else []
    lines += [HistoryLine("".join(dots), f"{key} dots")] if dots else []
    return _gridlines(scale, plot_top), lines, ""


def _rate_panel(history: GroupHistory, drawn: Sequence[WorkerRates], plot_top: float) -> Plot:
    """Each drawn worker's processed per second, flat across each span, broken at gaps."""
    rates = [span.processed_per_second for workers in drawn for span in workers.spans]
    if not rates:
        return [], [], "No rate yet: it takes two samples."
    scale = value_scale(0, max(max(rates), 1.0), max_ticks=MAX_TICKS)
    x_of, y_of = _x(history), _y(scale)
    lines = []
    for index, workers in enumerate(drawn):
        parts, end = [], None
        for span in workers.spans:
            # A span that starts where the last one ended goes on from it (a step), else a new line.
            move = "V" if span.start_ms == end else f"M{x_of(span.start_ms)} "
            parts.append(f"{move}{y_of(span.processed_per_second)}H{x_of(span.end_ms)}")
            end = span.end_ms
        lines.append(HistoryLine("".join(parts), f"worker-{index}", workers.name))
    return _gridlines(scale, plot_top), lines, ""


def _value(point: GroupPoint, key: str) -> int | None:
    return point.lag if key == "lag" else point.pending


def _count_scale(high: int) -> ValueScale:
    """An axis from 0 for counts: ticks on whole numbers (no 2.5 entries)."""
    top = max(high, 4)
    for ticks in range(MAX_TICKS, 2, -1):
        scale = value_scale(0, top, max_ticks=ticks)
        if scale.step >= 1 and float(scale.step).is_integer():
            return scale
    return value_scale(0, top, max_ticks=MAX_TICKS)


def _x(history: GroupHistory) -> Callable[[int], str]:
    def x_of(ms: int) -> str:
        return f"{min(max(ms - history.start_ms, 0), HORIZON_MS) / 1000:.1f}"

    return x_of


def _y(scale: ValueScale) -> Callable[[float], int]:
    def y_of(value: float) -> int:
        return round(Y_UNITS * (1 - min(max(scale.fraction(value), 0.0), 1.0)))

    return y_of


def _gridlines(scale: ValueScale, plot_top: float) -> list[Gridline]:
    return [
        Gridline(round(plot_top + PLOT_HEIGHT * (1 - scale.fraction(tick)), 1), scale.label(tick), -3 if index else 12)
        for index, tick in enumerate(reversed(scale.ticks))
    ][::-1]
