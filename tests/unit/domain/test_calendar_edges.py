"""Date-times at the edges of the calendar (year 1, year 9999, before 1970), in every place a
date-time is read: range bounds, a group's start and SETID target, export ranges, MINID, the
simulated day and the producer's start. Each is a clear BadInput naming its field (or, where
the calendar allows it, an ID), never an OverflowError or ValueError, in zones on both sides
of UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from streams_app.domain.exports import export_plan
from streams_app.domain.groups import parse_group_start
from streams_app.domain.ids import MAX_PART, parse_lower_bound, parse_upper_bound
from streams_app.domain.producer import produce_plan, simulated_day_check
from streams_app.errors import BadInput

ZONES = [UTC, ZoneInfo("Asia/Kolkata"), ZoneInfo("America/New_York"), ZoneInfo("Pacific/Kiritimati")]
BEFORE_1970 = ["0001-01-01", "0001-01-01 00:00", "0001-01-01T00:00+14:00", "1969-12-30 12:00", "1900-06-01"]
LATE = ["9999-12-31", "9999-12-31 23:59:59.999", "9999-12-31T23:59-12:00", "9999-12-31T23:59+14:00"]
NOT_IN_THE_CALENDAR = ["0000-01-01", "10000-01-01", "9999-13-01", "2024-02-30"]


@pytest.mark.parametrize("tz", ZONES, ids=str)
@pytest.mark.parametrize("text", BEFORE_1970)
def test_a_bound_before_1970_is_bad_input_naming_its_field(tz, text):
    for parse, field in ((parse_lower_bound, "start"), (parse_upper_bound, "end")):
        with pytest.raises(BadInput, match="before 1970") as refused:
            parse(text, tz, field=field)
        assert refused.value.field == field


@pytest.mark.parametrize("tz", ZONES, ids=str)
@pytest.mark.parametrize("text", LATE)
def test_a_bound_in_year_9999_is_an_id_far_below_the_top_of_the_id_space(tz, text):
    low = parse_lower_bound(text, tz, field="start")
    high = parse_upper_bound(text, tz, field="end")

    assert 0 < low.ms <= high.ms < MAX_PART
    assert high.seq == MAX_PART


def test_a_bare_date_of_9999_12_31_as_an_end_is_its_whole_day():
    high = parse_upper_bound("9999-12-31", UTC, field="end")
    assert high.ms == int(datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize("text", NOT_IN_THE_CALENDAR)
def test_a_date_that_is_not_in_the_calendar_is_bad_input(text):
    for parse, field in ((parse_lower_bound, "start"), (parse_upper_bound, "end")):
        with pytest.raises(BadInput, match="neither a stream ID") as refused:
            parse(text, UTC, field=field)
        assert refused.value.field == field


@pytest.mark.parametrize("tz", ZONES, ids=str)
@pytest.mark.parametrize("text", BEFORE_1970)
def test_a_group_start_or_setid_target_before_1970_is_bad_input(tz, text):
    for field in ("start", "id"):
        with pytest.raises(BadInput, match="before 1970") as refused:
            parse_group_start(text, tz=tz, field=field)
        assert refused.value.field == field


@pytest.mark.parametrize("tz", ZONES, ids=str)
@pytest.mark.parametrize("text", LATE)
def test_a_group_start_in_year_9999_is_the_id_just_before_it(tz, text):
    start = parse_group_start(text, tz=tz)
    ms, seq = (int(part) for part in start.split("-"))
    assert seq == MAX_PART and 0 < ms < MAX_PART


@pytest.mark.parametrize("text", NOT_IN_THE_CALENDAR)
def test_a_group_start_not_in_the_calendar_is_bad_input(text):
    with pytest.raises(BadInput, match="neither a stream ID"):
        parse_group_start(text, tz=UTC)


@pytest.mark.parametrize("tz", ZONES, ids=str)
def test_an_export_range_at_the_edges_is_refused_or_planned_never_an_error(store, redis_client, tz):
    redis_client.xadd("chennai", {"temperature": "1", "humidity": "2"})
    for start, end, refused_field in [
        ("0001-01-01", "+", "start"),
        ("-", "1969-12-30", "end"),
        ("9999-12-31", "+", None),
        ("-", "9999-12-31T23:59:59.999+14:00", None),
        ("10000-01-01", "+", "start"),
    ]:
        if refused_field is None:
            plan = export_plan(store=store, stream="chennai", start=start, end=end, fmt="csv", tz=tz)
            assert plan.low is not None and plan.high is not None
        else:
            with pytest.raises(BadInput) as refused:
                export_plan(store=store, stream="chennai", start=start, end=end, fmt="csv", tz=tz)
            assert refused.value.field == refused_field


@pytest.mark.parametrize("tz", ZONES, ids=str)
@pytest.mark.parametrize("day", [date(1, 1, 1), date(1969, 12, 31), date(1900, 1, 1)])
def test_a_simulated_day_before_1970_is_bad_input(tz, day):
    with pytest.raises(BadInput, match="1970-01-01 00:00 UTC or later") as refused:
        simulated_day_check(day, tz)
    assert refused.value.field == "day"


@pytest.mark.parametrize("tz", ZONES, ids=str)
def test_the_last_day_of_the_calendar_can_be_simulated_and_1970_where_it_is_after_the_epoch(tz):
    assert simulated_day_check(date(9999, 12, 31), tz).year == 9999
    assert simulated_day_check(date(1970, 1, 2), tz).date() == date(1970, 1, 2)


@pytest.mark.parametrize(
    "start",
    [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(1, 1, 1, tzinfo=ZoneInfo("Asia/Kolkata")),
        datetime(1969, 12, 31, 23, 59, tzinfo=UTC),
    ],
)
def test_a_producer_start_before_1970_is_bad_input(start):
    with pytest.raises(BadInput, match="1970-01-01 00:00 UTC or later") as refused:
        produce_plan(city="chennai", count=10, start=start)
    assert refused.value.field == "start"


def test_a_producer_start_in_year_9999_is_planned():
    plan = produce_plan(
        city="chennai", count=10, start=datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-12)))
    )
    assert plan.start is not None


def test_the_epoch_itself_is_the_first_moment_a_bound_may_name():
    assert parse_lower_bound("1970-01-01 00:00", UTC, field="start").ms == 0
    with pytest.raises(BadInput, match="before 1970"):
        parse_lower_bound("1969-12-31 23:59:59.999", UTC, field="start")
