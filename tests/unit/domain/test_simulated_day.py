""" "Simulate a day" offers a day the chosen stream accepts: yesterday when its IDs allow it (a
new stream always does), else the day after its last entry (the tutorial's city, which gets
entries of today); refused days are refused with the domain's words before any job starts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from streams_app.domain.ids import datetime_to_ms
from streams_app.domain.producer import simulated_day_default, simulated_day_start
from streams_app.errors import BadInput, Conflict

TODAY = date(2024, 5, 10)
YESTERDAY = TODAY - timedelta(days=1)


def entry_at(redis_client, moment: datetime, city: str = "chennai") -> None:
    redis_client.xadd(city, {"temperature": "26", "humidity": "10"}, id=f"{datetime_to_ms(moment)}-0")


def default(store, city, tz=UTC) -> date | None:
    return simulated_day_default(store=store, city=city, tz=tz, today=TODAY)


def test_a_new_stream_and_no_stream_at_all_get_yesterday(store, redis_client):
    assert default(store, "nowhere") == YESTERDAY
    assert default(store, None) == YESTERDAY
    assert default(store, "") == YESTERDAY


def test_a_stream_whose_entries_end_before_yesterday_gets_yesterday(store, redis_client):
    redis_client.xadd("chennai", {"temperature": "29", "humidity": "10"}, id="1")  # the tutorial's first entry

    assert default(store, "chennai") == YESTERDAY
    simulated_day_start(store=store, city="chennai", day=YESTERDAY, tz=UTC)


def test_a_stream_with_entries_of_today_gets_the_day_after_and_that_day_is_accepted(store, redis_client):
    entry_at(redis_client, datetime(2024, 5, 10, 8, 30, tzinfo=UTC))
    with pytest.raises(Conflict, match="IDs in a stream must grow"):
        simulated_day_start(store=store, city="chennai", day=YESTERDAY, tz=UTC)

    day = default(store, "chennai")

    assert day == date(2024, 5, 11)
    assert simulated_day_start(store=store, city="chennai", day=day, tz=UTC) == datetime(2024, 5, 11, tzinfo=UTC)


def test_the_day_after_the_last_entry_is_read_in_the_sites_time_zone(store, redis_client):
    kolkata = ZoneInfo("Asia/Kolkata")
    entry_at(redis_client, datetime(2024, 5, 10, 20, 0, tzinfo=UTC))  # 2024-05-11 01:30 in Kolkata

    day = default(store, "chennai", tz=kolkata)

    assert day == date(2024, 5, 12)
    simulated_day_start(store=store, city="chennai", day=day, tz=kolkata)


def test_a_stream_at_the_end_of_the_calendar_has_no_day_to_offer(store, redis_client):
    redis_client.xadd("chennai", {"temperature": "26"}, id="18446744073709551615-0")

    assert default(store, "chennai") is None


def test_a_key_that_is_not_a_stream_gets_yesterday_and_is_refused_when_started(store, redis_client):
    redis_client.set("chennai", "x")

    assert default(store, "chennai") == YESTERDAY
    with pytest.raises(Conflict, match="not a stream"):
        simulated_day_start(store=store, city="chennai", day=YESTERDAY, tz=UTC)


def test_a_day_before_1970_is_refused_before_redis_is_asked(store, redis_client):
    with pytest.raises(BadInput, match="1970") as refused:
        simulated_day_start(store=store, city="chennai", day=date(1, 1, 1), tz=UTC)
    assert refused.value.field == "day"
    assert redis_client.dbsize() == 0
