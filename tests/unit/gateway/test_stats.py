"""StatsStore against the real redis-server: merged minutes add up (counts and sums) and keep
their extremes, come back oldest first and at most `last` of them, and expire."""

from __future__ import annotations

import pytest

from streams_app.domain.readings import READING_FIELDS
from streams_app.gateway.keys import stats_index_key, stats_key
from streams_app.gateway.stats import STATS_TTL_SECONDS, MinuteAggregate, StatsStore


def extremes_and_mean(minute, name: str) -> tuple[float, float, float]:
    stats = minute.fields[name]
    return stats.low, stats.high, stats.mean


CITY = "chennai"
MINUTE = 29_000_000


def aggregate(*readings: tuple[float, float], minute: int = MINUTE, city: str = CITY) -> MinuteAggregate:
    found = MinuteAggregate(city=city, minute=minute)
    for temperature, humidity in readings:
        found.add({"temperature": temperature, "humidity": humidity})
    return found


@pytest.fixture
def stats(redis_client) -> StatsStore:
    return StatsStore(redis_client)


def test_merging_twice_adds_counts_and_sums_and_keeps_the_extremes(stats, redis_client):
    stats.merge([aggregate((20.0, 50.0), (22.0, 60.0))])
    stats.merge([aggregate((18.0, 70.0))])

    [minute] = stats.minutes(CITY, fields=READING_FIELDS)
    assert minute.minute == MINUTE and minute.count == 3
    assert extremes_and_mean(minute, "temperature") == (18, 22, 20)
    assert extremes_and_mean(minute, "humidity") == (50, 70, 60)
    stored = {key.decode(): float(value) for key, value in redis_client.hgetall(stats_key(CITY, MINUTE)).items()}
    assert stored["count"] == 3 and stored["temperature_sum"] == 60 and stored["humidity_sum"] == 180


def test_a_merge_that_brings_no_new_extreme_keeps_the_old_ones(stats):
    stats.merge([aggregate((10.0, 5.0), (30.0, 95.0))])
    stats.merge([aggregate((20.0, 50.0))])

    [minute] = stats.minutes(CITY, fields=READING_FIELDS)
    assert extremes_and_mean(minute, "temperature")[:2] == (10, 30)
    assert extremes_and_mean(minute, "humidity")[:2] == (5, 95)


def test_minutes_come_back_oldest_first_and_at_most_last_of_them(stats):
    stats.merge([aggregate((float(n), 50.0), minute=MINUTE + n) for n in (4, 1, 3, 0, 2)])
    stats.merge([aggregate((99.0, 1.0), minute=MINUTE + 9, city="coimbatore")])

    assert [m.minute - MINUTE for m in stats.minutes(CITY, fields=READING_FIELDS)] == [0, 1, 2, 3, 4]
    assert [m.minute - MINUTE for m in stats.minutes(CITY, fields=READING_FIELDS, last=3)] == [2, 3, 4]
    assert [m.fields["temperature"].mean for m in stats.minutes(CITY, fields=READING_FIELDS, last=2)] == [3, 4]
    assert [m.minute - MINUTE for m in stats.minutes("coimbatore", fields=READING_FIELDS)] == [9]
    assert stats.minutes("salem", fields=READING_FIELDS) == []


def test_a_minute_and_the_index_of_minutes_expire(stats, redis_client):
    stats.merge([aggregate((20.0, 50.0))])
    assert 0 < redis_client.ttl(stats_key(CITY, MINUTE)) <= STATS_TTL_SECONDS
    assert 0 < redis_client.ttl(stats_index_key(CITY)) <= STATS_TTL_SECONDS


def test_an_expired_minute_is_left_out(stats, redis_client):
    stats.merge([aggregate((20.0, 50.0)), aggregate((21.0, 50.0), minute=MINUTE + 1)])
    redis_client.delete(stats_key(CITY, MINUTE))  # as its expiry would

    assert [m.minute for m in stats.minutes(CITY, fields=READING_FIELDS)] == [MINUTE + 1]


def test_merging_nothing_writes_nothing(stats, redis_client):
    stats.merge([])
    assert redis_client.dbsize() == 0
