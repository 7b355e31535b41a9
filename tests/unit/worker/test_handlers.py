"""The default handler, WeatherProcessor: per-city, per-minute count, minimum, maximum and
mean of temperature and humidity in Redis after each flush; readings that are not numbers
are refused, and end in the dead letters."""

from __future__ import annotations

import pytest

from streams_app.domain.readings import READING_FIELDS
from streams_app.gateway.keys import dead_letter_key, stats_key
from streams_app.gateway.stats import StatsStore
from streams_app.worker import Message
from streams_app.worker.handlers import WeatherProcessor, noop
from tests.support.workers import wait_until
from tests.unit.worker.in_process import GROUP, STREAM, pending_ids


def extremes_and_mean(minute, name: str) -> tuple[float, float, float]:
    stats = minute.fields[name]
    return stats.low, stats.high, stats.mean


MINUTE = 29_000_000  # minutes since the epoch (in 2025)


def reading(
    temperature: str | None, humidity: str | None, *, minute: int = MINUTE, second: int = 0, city: str = STREAM
) -> Message:
    measured = {"temperature": temperature, "humidity": humidity}
    fields = {name: value for name, value in measured.items() if value is not None}
    entry_id = f"{minute * 60_000 + second * 1000}-0"
    return Message(stream=city, id=entry_id, fields=fields, group=GROUP, consumer="alice", deliveries=1)


@pytest.fixture
def stats(redis_client) -> StatsStore:
    return StatsStore(redis_client)


def test_a_minute_of_readings_is_in_redis_after_the_flush(stats, redis_client):
    processor = WeatherProcessor(stats)
    for second, (temperature, humidity) in enumerate([("21", "10"), ("25.5", "40"), ("18.5", "70")]):
        processor(reading(temperature, humidity, second=second))
    assert redis_client.exists(stats_key(STREAM, MINUTE)) == 0, "buffered until the flush"

    processor.flush()

    [minute] = stats.minutes(STREAM, fields=READING_FIELDS)
    assert minute.minute == MINUTE and minute.count == 3
    assert extremes_and_mean(minute, "temperature") == (18.5, 25.5, 21.666666666666668)
    assert extremes_and_mean(minute, "humidity") == (10, 70, 40)


def test_a_second_flush_adds_to_the_minute(stats):
    processor = WeatherProcessor(stats)
    processor(reading("20", "50"))
    processor.flush()
    processor(reading("30", "10", second=30))
    processor.flush()
    processor.flush()  # nothing new: nothing changes

    [minute] = stats.minutes(STREAM, fields=READING_FIELDS)
    assert minute.count == 2
    assert extremes_and_mean(minute, "temperature") == (20, 30, 25)
    assert extremes_and_mean(minute, "humidity") == (10, 50, 30)


def test_minutes_and_cities_are_kept_apart(stats):
    processor = WeatherProcessor(stats)
    processor(reading("20", "50", second=59))
    processor(reading("30", "60", minute=MINUTE + 1))
    processor(reading("10", "90", city="coimbatore"))
    processor(reading("12", "80", city="coimbatore", second=5))
    processor.flush()

    chennai = [
        (m.minute, m.count, m.fields["temperature"].mean, m.fields["humidity"].mean)
        for m in stats.minutes(STREAM, fields=READING_FIELDS)
    ]
    coimbatore = [
        (m.minute, m.count, m.fields["temperature"].mean, m.fields["humidity"].mean)
        for m in stats.minutes("coimbatore", fields=READING_FIELDS)
    ]
    assert chennai == [(MINUTE, 1, 20, 50), (MINUTE + 1, 1, 30, 60)]
    assert coimbatore == [(MINUTE, 2, 11, 85)]


@pytest.mark.parametrize(
    ("temperature", "humidity", "complaint"),
    [
        ("warm", "10", "temperature 'warm' is not a number"),
        ("21", "", "humidity '' is not a number"),
        (None, "10", "has no temperature field"),
        ("21", None, "has no humidity field"),
        ("nan", "10", "temperature 'nan' is not a finite number"),
        ("21", "inf", "humidity 'inf' is not a finite number"),
    ],
)
def test_a_reading_that_is_not_a_number_is_refused(stats, temperature, humidity, complaint):
    processor = WeatherProcessor(stats)
    with pytest.raises(ValueError, match=complaint):
        processor(reading(temperature, humidity))
    processor.flush()
    assert stats.minutes(STREAM, fields=READING_FIELDS) == [], "nothing of a refused reading is kept"


def test_a_refused_reading_ends_in_the_dead_letters_and_the_others_are_counted(workers, redis_client, stats):
    good, bad = {"temperature": "21", "humidity": "10"}, {"temperature": "warm", "humidity": "10"}
    ids = [redis_client.xadd(STREAM, fields).decode() for fields in (good, bad, good)]
    workers.run(WeatherProcessor(stats), max_deliveries=1, claim_idle_ms=50)

    wait_until(
        lambda: redis_client.xlen(dead_letter_key(STREAM)) == 1 and not pending_ids(redis_client),
        what="the refused reading dead-lettered",
    )
    [(_, letter)] = redis_client.xrange(dead_letter_key(STREAM))
    assert letter[b"id"].decode() == ids[1]
    assert b"is not a number" in letter[b"error"]
    assert sum(minute.count for minute in stats.minutes(STREAM, fields=READING_FIELDS)) == 2


def test_noop_accepts_anything():
    assert noop(reading(None, None)) is None
