"""Writing many readings to a city's stream: the tutorial's producer, made fast.

Readings go out in pipelined batches; with a rate they are paced in real time (the
tutorial's one-reading-per-second feed) and get Redis-chosen IDs; with a start time
they get explicit IDs one interval apart (a simulated past day).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from streams_app.domain.ids import StreamId, datetime_to_ms, moment_ms, parse_new_entry_id
from streams_app.domain.names import display_name, refuse_internal_key, validate_city
from streams_app.domain.readings import MEASUREMENTS, measurement_value
from streams_app.domain.weather import SECONDS_PER_DAY, simulated_weather
from streams_app.errors import BadInput, Conflict
from streams_app.gateway import EntryBatch, StreamStore

Progress = Callable[[int, int], None]
MAX_COUNT = 100_000_000


@dataclass(frozen=True, slots=True)
class ProducePlan:
    city: str
    count: int
    rate: float | None = None
    start: datetime | None = None
    interval_seconds: float = 1.0
    fixed: dict[str, str] = field(default_factory=dict)  # measurement name -> a value every reading gets
    entry_id: str = "*"
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class ProduceResult:
    city: str
    written: int
    seconds: float
    last_id: str | None

    @property
    def rate(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else float("inf")


def produce_plan(
    *,
    city: str,
    count: int,
    rate: float | None = None,
    start: datetime | None = None,
    interval_seconds: float = 1.0,
    entry_id: str | None = None,
    seed: int | None = None,
    **fixed: object,
) -> ProducePlan:
    """Validate what to produce, with the same rules and messages as a single reading;
    a measurement given by name (`temperature=26`) is the same in every reading."""
    city = validate_city(city)
    refuse_internal_key(city, refused="readings cannot be written to it", field="city")
    if not 1 <= count <= MAX_COUNT:
        raise BadInput(f"The count must be between 1 and {MAX_COUNT:,}; got {count}.", field="count")
    if rate is not None and not 0 < rate <= 1_000_000:
        raise BadInput(f"The rate must be above 0 and at most 1,000,000 readings per second; got {rate}.", field="rate")
    if rate is not None and start is not None:
        raise BadInput("Give either a rate (live, paced) or a start time (back-filled IDs), not both.", field="rate")
    if not 0.001 <= interval_seconds <= SECONDS_PER_DAY:
        raise BadInput("The interval must be between 0.001 and 86400 seconds.", field="interval")
    fixed_values = {m.name: measurement_value(m, fixed[m.name]) for m in MEASUREMENTS if fixed.get(m.name) is not None}
    new_id = parse_new_entry_id(entry_id or "")
    if new_id != "*" and count != 1:
        raise BadInput("An explicit ID can only be given for a single reading (count 1).", field="id")
    if start is not None:
        moment_ms(start, field="start", label="The start time")
    return ProducePlan(
        city=city,
        count=count,
        rate=rate,
        start=start,
        interval_seconds=interval_seconds,
        fixed=fixed_values,
        entry_id=new_id,
        seed=seed,
    )


BATCH_SIZE = 10_000


def _first_explicit_id(plan: ProducePlan) -> str | None:
    if plan.start is not None:
        return f"{datetime_to_ms(plan.start)}-0"
    return None if plan.entry_id == "*" else plan.entry_id


def _batches(plan: ProducePlan, first_index: int, count: int) -> Iterator[EntryBatch]:
    """The readings from `first_index` on, a batch at a time, generated as they are needed."""
    start_second = 0.0
    if plan.start is not None:
        midnight = plan.start.replace(hour=0, minute=0, second=0, microsecond=0)
        start_second = (plan.start - midnight).total_seconds()
    start_ms = datetime_to_ms(plan.start) if plan.start is not None else None
    step_ms = plan.interval_seconds * 1000
    for batch_start in range(first_index, first_index + count, BATCH_SIZE):
        size = min(BATCH_SIZE, first_index + count - batch_start)
        columns = simulated_weather(
            size,
            start_second=start_second + batch_start * plan.interval_seconds,
            interval_seconds=plan.interval_seconds,
            seed=None if plan.seed is None else plan.seed + batch_start,
        )
        for name, value in plan.fixed.items():
            columns[name] = [value] * size
        if start_ms is not None:
            # The interval is at least 1 ms, so every reading gets a millisecond of its own.
            ids = [f"{start_ms + int(index * step_ms)}-0" for index in range(batch_start, batch_start + size)]
        elif plan.entry_id != "*":
            ids = [plan.entry_id]
        else:
            ids = None
        yield EntryBatch(ids=ids, columns=[(m.name, columns[m.name]) for m in MEASUREMENTS])


def produce_run(*, store: StreamStore, plan: ProducePlan, progress: Progress | None = None) -> ProduceResult:
    """Write the planned readings; `progress(written, total)` is called after each batch.

    Explicit IDs are checked against the stream's last ID before anything is sent, so a
    refused back-fill writes nothing.
    """
    started = time.perf_counter()
    written = 0
    first_id = _first_explicit_id(plan)
    if first_id is not None:
        last = store.last_generated_id(plan.city) if store.key_type(plan.city) == "stream" else None
        if last and StreamId.parse(last) >= StreamId.parse(first_id):
            # As Redis itself says: at the top of the ID space the stream is exhausted, whatever the ID.
            exhausted = StreamId.parse(last).successor() is None
            raise store.exhausted(plan.city) if exhausted else store.id_not_growing(plan.city, first_id)
    if plan.count == 1 and plan.rate is None:
        # One reading: exactly what every other door does.
        [batch] = _batches(plan, 0, 1)
        fields = [(name, values[0]) for name, values in batch.columns]
        store.add_entry(plan.city, fields, batch.ids[0] if batch.ids else "*")
        written = 1
        if progress:
            progress(1, 1)
    elif plan.rate is None:
        for written in store.add_entries(plan.city, _batches(plan, 0, plan.count)):
            if progress:
                progress(written, plan.count)
    else:
        written = _produce_paced(store, plan, progress, started)
    seconds = time.perf_counter() - started
    last = store.last_generated_id(plan.city) if written else None
    return ProduceResult(city=plan.city, written=written, seconds=seconds, last_id=last)


def _produce_paced(store: StreamStore, plan: ProducePlan, progress: Progress | None, started: float) -> int:
    """Real-time feed: at each tick write the readings that are due, then sleep to the next one."""
    assert plan.rate is not None
    tick = max(1.0 / plan.rate, 0.05)
    written = 0
    while written < plan.count:
        due = min(plan.count, int((time.perf_counter() - started) * plan.rate) + 1)
        if due > written:
            for done in store.add_entries(plan.city, _batches(plan, written, due - written)):
                if progress:
                    progress(written + done, plan.count)
            written = due
        if written < plan.count:
            next_due = started + written / plan.rate
            time.sleep(max(0.0, min(tick, next_due - time.perf_counter())))
    return written


def simulated_day_check(day: date, tz: tzinfo, *, field: str = "day") -> datetime:
    """00:00 of `day` in `tz`, where a simulated day starts; BadInput for a day before 1970
    (stream IDs start at 1970-01-01 00:00 UTC)."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    moment_ms(start, field=field, label=f"The day {day.isoformat()} (from 00:00, {tz})")
    return start


def simulated_day_start(*, store: StreamStore, city: str, day: date, tz: tzinfo) -> datetime:
    """Where a simulated day of `city` starts (00:00 of `day` in `tz`), checked against the
    stream's last ID: back-filled IDs must still grow."""
    city = validate_city(city)
    refuse_internal_key(city, refused="readings cannot be written to it", field="city")
    start = simulated_day_check(day, tz)
    kind = store.key_type(city)
    if kind not in {"none", "stream"}:
        raise Conflict(f"The key “{display_name(city)}” holds a {kind}, not a stream.", field="city")
    last = store.last_generated_id(city) if kind == "stream" else None
    if last and StreamId.parse(last).ms >= datetime_to_ms(start):
        last_time = StreamId.parse(last).time
        shown = last_time.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if last_time else last
        raise Conflict(
            f"{city} already has entries up to {shown}: IDs in a stream must grow, so pick a day after that "
            "(or a new city).",
            field="day",
        )
    return start


def simulated_day_default(*, store: StreamStore, city: str | None, tz: tzinfo, today: date) -> date | None:
    """The day "Simulate a day" offers for `city`: yesterday when the stream accepts it (a new
    stream does), else the day after its last entry; None when no day can follow it."""
    yesterday = today - timedelta(days=1)
    if not city or store.key_type(city) != "stream":
        return yesterday
    last = store.last_generated_id(city)
    if not last:
        return yesterday
    last_ms = StreamId.parse(last).ms
    if last_ms < datetime_to_ms(datetime.combine(yesterday, datetime.min.time(), tzinfo=tz)):
        return yesterday
    last_time = StreamId.parse(last).time
    try:
        return None if last_time is None else last_time.astimezone(tz).date() + timedelta(days=1)
    except OverflowError:
        return None  # the last entry is at the end of the calendar: no day follows it
