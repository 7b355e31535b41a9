"""StatsStore against the real redis-server: merged minutes add up (counts and sums) and keep
their extremes, come back oldest first and at most `last` of them, and expire."""

from __future__ import annotations

import pytest

from streams_app.gateway.keys import stats_key
from streams_app.gateway.stats import STATS_TTL_SECONDS, MinuteAggregate, StatsStore

CITY = "chennai"
MINUTE = 29_000_000


def aggregate(*readings: tuple[float, float], minute: int = MINUTE, city: str = CITY) -> MinuteAggregate:
    found = MinuteAggregate(city=city, minute=minute)
    for temperature, humidity in readings:
        found.add(temperature, humidity)
    return found


@pytest.fixture
def stats(redis_client) -> StatsStore:
    return StatsStore(redis_client)


def test_merging_twice_adds_counts_and_sums_and_keeps_the_extremes(stats, redis_client):
    stats.merge([aggregate((20.0, 50.0), (22.0, 60.0))])
    stats.merge([aggregate((18.0, 70.0))])

    [minute] = stats.minutes(CITY)
    assert minute.minute == MINUTE and minute.count == 3
    assert (minute.temperature_min, minute.temperature_max, minute.temperature_mean) == (18, 22, 20)
    assert (minute.humidity_min, minute.humidity_max, minute.humidity_mean) == (50, 70, 60)
    stored = {key.decode(): float(value) for key, value in redis_client.hgetall(stats_key(CITY, MINUTE)).items()}
    assert stored["count"] == 3 and stored["temperature_sum"] == 60 and stored["humidity_sum"] == 180


def test_a_merge_that_brings_no_new_extreme_keeps_the_old_ones(stats):
    stats.merge([aggregate((10.0, 5.0), (30.0, 95.0))])
    stats.merge([aggregate((20.0, 50.0))])

    [minute] = stats.minutes(CITY)
    assert (minute.temperature_min, minute.temperature_max) == (10, 30)
    assert (minute.humidity_min, minute.humidity_max) == (5, 95)


def test_minutes_come_back_oldest_first_and_at_most_last_of_them(stats):
    stats.merge([aggregate((float(n), 50.0), minute=MINUTE + n) for n in (4, 1, 3, 0, 2)])
    stats.merge([aggregate((99.0, 1.0), minute=MINUTE + 9, city="coimbatore")])

    assert [m.minute - MINUTE for m in stats.minutes(CITY)] == [0, 1, 2, 3, 4]
    assert [m.minute - MINUTE for m in stats.minutes(CITY, last=3)] == [2, 3, 4]
    assert [m.temperature_mean for m in stats.minutes(CITY, last=2)] == [3, 4]
    assert [m.minute - MINUTE for m in stats.minutes("coimbatore")] == [9]
    assert stats.minutes("salem") == []


def test_a_minute_expires(stats, redis_client):
    stats.merge([aggregate((20.0, 50.0))])
    assert 0 < redis_client.ttl(stats_key(CITY, MINUTE)) <= STATS_TTL_SECONDS


def test_an_expired_minute_is_left_out(stats, redis_client):
    stats.merge([aggregate((20.0, 50.0)), aggregate((21.0, 50.0), minute=MINUTE + 1)])
    redis_client.delete(stats_key(CITY, MINUTE))  # as its expiry would

    assert [m.minute for m in stats.minutes(CITY)] == [MINUTE + 1]


def test_merging_nothing_writes_nothing(stats, redis_client):
    stats.merge([])
    assert redis_client.dbsize() == 0
