"""The weather processor's per-minute statistics of a stream, as pages show them: one row per
minute, one cell per measurement of a reading."""

from __future__ import annotations

from dataclasses import dataclass

from streams_app.domain.readings import MEASUREMENTS, READING_FIELDS, Measurement
from streams_app.gateway.stats import StatsStore


@dataclass(frozen=True, slots=True)
class StatisticsCell:
    measurement: Measurement
    mean: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True, slots=True)
class StatisticsRow:
    minute: int  # minutes since the epoch
    count: int
    cells: list[StatisticsCell]


def minute_statistics(*, store: StatsStore, stream: str, last: int) -> list[StatisticsRow]:
    """The newest `last` minutes that have statistics, newest first."""
    rows = []
    for minute in reversed(store.minutes(stream, fields=READING_FIELDS, last=last)):
        cells = []
        for measurement in MEASUREMENTS:
            found = minute.fields.get(measurement.name)
            cells.append(
                StatisticsCell(measurement, found.mean, found.low, found.high)
                if found
                else StatisticsCell(measurement, None, None, None)
            )
        rows.append(StatisticsRow(minute=minute.minute, count=minute.count, cells=cells))
    return rows
