"""Handlers for `run_consumer`. A handler is a callable taking one `Message`
(stream, id, fields, group, consumer, deliveries); raising means "not processed", and the
entry stays pending for a retry. It may also have `flush()`, called once per batch before
the batch is acked, to write buffered work.

Example of a custom handler (run it with `--handler myapp.handlers.print_alerts`):

    def print_alerts(message):
        if float(message.fields["temperature"]) > 40:
            print(f"heat alert in {message.stream}: {message.fields['temperature']} °C")
"""

from __future__ import annotations

import math

from streams_app.domain.ids import StreamId
from streams_app.domain.readings import READING_FIELDS
from streams_app.gateway.stats import MinuteAggregate, StatsStore
from streams_app.worker.message import Message


def noop(message: Message) -> None:
    """Does nothing: for measuring the worker itself."""


class WeatherProcessor:
    """The default handler: per-city, per-minute count, minimum, maximum and mean of each
    measurement of a reading (domain.readings.MEASUREMENTS), kept in Redis. A reading whose
    measurement is missing or not a number is refused, so it is retried and finally dead-lettered."""

    def __init__(self, stats: StatsStore) -> None:
        self.stats = stats
        self.pending: dict[tuple[str, int], MinuteAggregate] = {}

    def __call__(self, message: Message) -> None:
        values = {name: _reading(message, name) for name in READING_FIELDS}
        minute = StreamId.parse(message.id).ms // 60_000
        key = (message.stream, minute)
        aggregate = self.pending.get(key)
        if aggregate is None:
            aggregate = self.pending[key] = MinuteAggregate(city=message.stream, minute=minute)
        aggregate.add(values)

    def flush(self) -> None:
        aggregates, self.pending = list(self.pending.values()), {}
        self.stats.merge(aggregates)


def _reading(message: Message, field: str) -> float:
    raw = message.fields.get(field)
    if raw is None:
        raise ValueError(f"{message.stream} {message.id} has no {field} field")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{message.stream} {message.id}: {field} {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{message.stream} {message.id}: {field} {raw!r} is not a finite number")
    return value
