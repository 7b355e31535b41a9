"""Entry IDs and range bounds: parsing, ordering, stepping and time conversion, checked
against what Redis itself does with the same text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from streams_app.domain.ids import (
    FIRST_ID,
    LAST_ID,
    MAX_PART,
    StreamId,
    datetime_to_ms,
    parse_datetime,
    parse_lower_bound,
    parse_new_entry_id,
    parse_stream_id,
    parse_upper_bound,
)
from streams_app.errors import BadInput

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INDIA = ZoneInfo("Asia/Kolkata")
parts = st.integers(0, MAX_PART)


# --- StreamId ------------------------------------------------------------------------------


def test_ids_order_numerically_not_as_text():
    assert StreamId(9, 0) < StreamId(10, 0)
    assert StreamId(5, 9) < StreamId(5, 10)
    assert StreamId(5, MAX_PART) < StreamId(6, 0)
    assert sorted([StreamId.parse("10-0"), StreamId.parse("9-5"), StreamId.parse("9-10")]) == [
        StreamId(9, 5),
        StreamId(9, 10),
        StreamId(10, 0),
    ]


@given(ms=parts, seq=parts)
def test_str_and_parse_round_trip(ms, seq):
    entry_id = StreamId(ms, seq)
    assert StreamId.parse(str(entry_id)) == entry_id
    assert StreamId.parse(str(entry_id).encode()) == entry_id
    assert parse_stream_id(str(entry_id)) == entry_id


@given(ms=parts, seq=parts)
def test_successor_and_predecessor_are_the_neighbours(ms, seq):
    entry_id = StreamId(ms, seq)
    after = entry_id.successor()
    before = entry_id.predecessor()
    if entry_id == LAST_ID:
        assert after is None
    else:
        assert after > entry_id and after.predecessor() == entry_id
    if entry_id == FIRST_ID:
        assert before is None
    else:
        assert before < entry_id and before.successor() == entry_id


def test_stepping_across_a_millisecond():
    assert StreamId(5, MAX_PART).successor() == StreamId(6, 0)
    assert StreamId(6, 0).predecessor() == StreamId(5, MAX_PART)


def test_time_of_an_id():
    assert StreamId(1714550400123, 7).time == datetime(2024, 5, 1, 8, 0, 0, 123000, tzinfo=UTC)
    assert StreamId(MAX_PART, 0).time is None  # beyond any calendar: no time, no crash


# --- IDs for new entries ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "*"),
        ("*", "*"),
        ("  ", "*"),
        (" * ", "*"),
        ("7", "7-0"),
        ("7-3", "7-3"),
        (" 7-3 ", "7-3"),
        ("0-1", "0-1"),
        ("007-002", "7-2"),
        (f"{MAX_PART}-{MAX_PART}", f"{MAX_PART}-{MAX_PART}"),
    ],
)
def test_new_entry_ids(text, expected):
    assert parse_new_entry_id(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("abc", "not a valid entry ID"),
        ("1-2-3", "not a valid entry ID"),
        ("-5", "not a valid entry ID"),
        ("5-", "not a valid entry ID"),
        ("5-*", "not a valid entry ID"),
        ("1.5", "not a valid entry ID"),
        ("+", "not a valid entry ID"),
        (str(2**64), "out of range"),
        (f"5-{2**64}", "out of range"),
        ("0", "greater than 0-0"),
        ("0-0", "greater than 0-0"),
    ],
)
def test_bad_new_entry_ids(text, words):
    with pytest.raises(BadInput) as raised:
        parse_new_entry_id(text)
    assert words in raised.value.message
    assert raised.value.field == "id"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.one_of(
        st.from_regex(r"\A[0-9]{1,21}(-[0-9]{1,21})?\Z"),
        st.text(alphabet="0123456789-*+ .x", max_size=12),
    )
)
@example(text="18446744073709551615")
@example(text="18446744073709551616")
@example(text="0-0")
def test_new_entry_ids_agree_with_redis(redis_client, text):
    """Every ID the domain accepts, Redis's XADD accepts as the same ID (on an empty stream), and
    every ID Redis refuses, the domain refuses first, with a message. (The domain may be stricter:
    it refuses `+1`, which Redis would read as 1.)"""
    redis_client.delete("ids")
    try:
        parsed = parse_new_entry_id(text)
    except BadInput as error:
        parsed = None
        assert error.message
    try:
        added = redis_client.xadd("ids", {"f": "v"}, id=text.strip() or "*").decode()
    except redis.ResponseError:
        added = None
    if added is None:
        assert parsed is None, f"the domain accepts {text!r} as {parsed}, Redis refuses it"
    if parsed == "*":
        assert added is not None
    elif parsed is not None:
        assert added == parsed


# --- range bounds ----------------------------------------------------------------------------


def test_bounds_of_the_special_ids():
    assert parse_lower_bound("-", UTC) == FIRST_ID
    assert parse_lower_bound("", UTC) == FIRST_ID
    assert parse_lower_bound(None, UTC) == FIRST_ID
    assert parse_lower_bound("+", UTC) == LAST_ID
    assert parse_upper_bound("+", UTC) == LAST_ID
    assert parse_upper_bound("", UTC) == LAST_ID
    assert parse_upper_bound("-", UTC) == FIRST_ID


def test_a_bare_millisecond_covers_the_whole_millisecond():
    assert parse_lower_bound("5", UTC) == StreamId(5, 0)
    assert parse_upper_bound("5", UTC) == StreamId(5, MAX_PART)
    assert parse_lower_bound("5-3", UTC) == StreamId(5, 3)
    assert parse_upper_bound("5-3", UTC) == StreamId(5, 3)


def test_exclusive_bounds():
    assert parse_lower_bound("(5-3", UTC) == StreamId(5, 4)
    assert parse_upper_bound("(5-3", UTC) == StreamId(5, 2)
    assert parse_upper_bound("(0-0", UTC) is None
    assert parse_lower_bound(f"({MAX_PART}-{MAX_PART}", UTC) is None


BOUND_IDS = ["4-0", "5-0", "5-1", f"5-{MAX_PART - 1}", f"5-{MAX_PART}", "6-0", "6-3"]


@pytest.mark.parametrize(
    "bound", ["-", "+", "5", "5-0", "5-1", "6", "(5-0", "(5-1", "(5", "(6", "(4", f"(5-{MAX_PART}", "(6-3", "7"]
)
def test_bounds_mean_what_they_mean_to_xrange(redis_client, bound):
    """A bound typed by a user selects the same entries as the same text given to XRANGE."""
    for entry_id in BOUND_IDS:
        redis_client.xadd("bounds", {"f": "v"}, id=entry_id)

    def read(low: StreamId | None, high: StreamId | None) -> list[bytes]:
        if low is None or high is None:
            return []
        return [raw for raw, _ in redis_client.xrange("bounds", str(low), str(high))]

    as_start = read(parse_lower_bound(bound, UTC), LAST_ID)
    assert as_start == [raw for raw, _ in redis_client.xrange("bounds", bound, "+")], "as a start"
    as_end = read(FIRST_ID, parse_upper_bound(bound, UTC))
    assert as_end == [raw for raw, _ in redis_client.xrange("bounds", "-", bound)], "as an end"


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2024-13-01",
        "2024-02-30",
        "12:30",
        "13:30 2024-05-01",
        "(abc",
        "(-",
        "5-x",
        "1-2-3",
        "--",
        "2024-05-01 25:00",
        "T2024",
    ],
)
def test_bounds_that_are_neither_ids_nor_date_times(text):
    for parse, field in ((parse_lower_bound, "start"), (parse_upper_bound, "end")):
        with pytest.raises(BadInput) as raised:
            parse(text, UTC, field=field)
        assert raised.value.field == field
        assert raised.value.message


def test_date_times_before_1970_are_refused():
    with pytest.raises(BadInput) as raised:
        parse_lower_bound("1969-12-31 23:59", UTC)
    assert "1970" in raised.value.message


def test_date_times_are_read_in_the_given_time_zone():
    # 13:30 in India is 08:00 UTC.
    expected = int(datetime(2024, 5, 1, 8, 0, tzinfo=UTC).timestamp()) * 1000
    assert parse_lower_bound("2024-05-01 13:30", INDIA) == StreamId(expected, 0)
    assert parse_upper_bound("2024-05-01 13:30", INDIA) == StreamId(expected, MAX_PART)
    assert parse_lower_bound("2024-05-01T13:30", INDIA) == StreamId(expected, 0)
    # An explicit offset wins over the zone.
    assert parse_lower_bound("2024-05-01T08:00:00+00:00", INDIA) == StreamId(expected, 0)
    assert parse_lower_bound("2024-05-01T08:00:00Z", INDIA) == StreamId(expected, 0)
    assert parse_datetime("2024-05-01 13:30", INDIA, field="start") == datetime(2024, 5, 1, 13, 30, tzinfo=INDIA)


def test_a_bare_date_is_the_whole_day_in_the_zone():
    day_start = int(datetime(2024, 5, 1, tzinfo=INDIA).timestamp() * 1000)
    next_day = int(datetime(2024, 5, 2, tzinfo=INDIA).timestamp() * 1000)
    assert parse_lower_bound("2024-05-01", INDIA) == StreamId(day_start, 0)
    assert parse_upper_bound("2024-05-01", INDIA) == StreamId(next_day - 1, MAX_PART)


def test_date_times_across_a_daylight_saving_change():
    paris = ZoneInfo("Europe/Paris")
    # 2024-03-31: clocks go from 02:00 to 03:00; the day has 23 hours.
    day_start = parse_lower_bound("2024-03-31", paris)
    day_end = parse_upper_bound("2024-03-31", paris)
    assert day_end.ms - day_start.ms == 23 * 3600 * 1000 - 1


@settings(max_examples=300, deadline=None)
@given(ms=st.integers(0, 4_102_444_800_000), zone=st.sampled_from([UTC, INDIA, ZoneInfo("America/New_York")]))
@example(ms=1087625405751, zone=UTC)  # 2004-06-19 06:10:05.751 UTC
@example(ms=1001, zone=UTC)
def test_a_date_time_to_the_millisecond_is_that_millisecond(ms, zone):
    """Typing the time an ID stands for gives back that ID's millisecond, exactly."""
    moment = (EPOCH + timedelta(milliseconds=ms)).astimezone(zone)
    typed = moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if moment.fold == 1:
        return  # the second of two moments with the same wall time (clocks going back): typed, it means the first
    assert datetime_to_ms(moment) == ms
    assert parse_lower_bound(typed, zone) == StreamId(ms, 0)
    assert parse_upper_bound(typed, zone) == StreamId(ms, MAX_PART)
