"""`manage.py produce CITY`: the tutorial's producer — a day of readings, fast; back-filled IDs
from a start time; paced with a rate; the domain's messages when the input is wrong."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from io import StringIO
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

from streams_app.domain.ids import parse_datetime
from streams_app.domain.names import validate_city
from streams_app.domain.producer import produce_plan
from streams_app.domain.readings import parse_measurement
from streams_app.errors import DomainError
from streams_app.management.commands.produce import Command

# Each run of the command is recorded in the audit trail, in the database.
pytestmark = pytest.mark.django_db


def produce(*args: str) -> str:
    out = StringIO()
    call_command("produce", *args, stdout=out)
    return out.getvalue()


def domain_message(function, **kwargs) -> str:
    with pytest.raises(DomainError) as raised:
        function(**kwargs)
    return raised.value.message


def check_readings(rows) -> None:
    for _, fields in rows:
        assert set(fields) == {b"temperature", b"humidity"}
        temperature, humidity = Decimal(fields[b"temperature"].decode()), Decimal(fields[b"humidity"].decode())
        assert -90 <= temperature <= 60
        assert 0 <= humidity <= 100


def test_a_day_of_readings(redis_client):
    output = produce("chennai", "--count", "86400", "--quiet")
    assert redis_client.xlen("chennai") == 86_400
    rows = redis_client.xrange("chennai")
    check_readings(rows)
    ids = [raw_id for raw_id, _ in rows]
    assert len(set(ids)) == 86_400
    # Simulated weather varies.
    assert len({fields[b"temperature"] for _, fields in rows[:3600]}) > 5
    summary = re.fullmatch(
        r"Wrote 86,400 readings to chennai in (\d+\.\d{3}) s \(([\d,]+|inf) readings/s\); last ID (\d+-\d+)\n", output
    )
    assert summary, output
    seconds, rate, last_id = summary.groups()
    assert float(seconds) > 0
    assert abs(int(rate.replace(",", "")) - 86_400 / float(seconds)) <= 86_400 / float(seconds) * 0.01 + 1
    assert last_id == ids[-1].decode()


def test_the_default_count_is_a_day_of_seconds():
    options = Command().create_parser("manage.py", "produce").parse_args(["chennai"])
    assert options.count == 86_400


def test_start_gives_explicit_ids_one_second_apart_in_the_site_time_zone(redis_client, settings):
    settings.TIME_ZONE = "Asia/Kolkata"
    output = produce("chennai", "--count", "3600", "--start", "2024-05-01 00:00", "--quiet")
    start_ms = int(datetime(2024, 5, 1, tzinfo=ZoneInfo("Asia/Kolkata")).timestamp()) * 1000
    rows = redis_client.xrange("chennai")
    assert [raw_id.decode() for raw_id, _ in rows] == [f"{start_ms + 1000 * index}-0" for index in range(3600)]
    check_readings(rows)
    assert output.endswith(f"last ID {start_ms + 3599 * 1000}-0\n")


def test_start_with_an_interval(redis_client):
    produce("chennai", "--count", "5", "--start", "2024-05-01T00:00:00+00:00", "--interval", "0.25", "--quiet")
    start_ms = int(datetime(2024, 5, 1, tzinfo=ZoneInfo("UTC")).timestamp()) * 1000
    assert [raw.decode() for raw, _ in redis_client.xrange("chennai")] == [
        f"{start_ms + 250 * index}-0" for index in range(5)
    ]


def test_a_seed_makes_the_weather_repeatable(redis_client):
    produce("a", "--count", "500", "--seed", "7", "--start", "2024-05-01 00:00", "--quiet")
    produce("b", "--count", "500", "--seed", "7", "--start", "2024-05-01 00:00", "--quiet")
    assert redis_client.xrange("a") == redis_client.xrange("b")


def test_rate_paces_the_readings(redis_client):
    produce("chennai", "--count", "3", "--rate", "20", "--quiet")
    milliseconds = [int(raw.split(b"-")[0]) for raw, _ in redis_client.xrange("chennai")]
    assert len(milliseconds) == 3
    # 20 readings a second: about 50 ms apart (Redis chose the IDs, from its clock). Unpaced,
    # all three would share a millisecond or two. (A slow first write can shorten the first gap.)
    assert all(later - earlier >= 25 for earlier, later in pairwise(milliseconds))
    assert milliseconds[-1] - milliseconds[0] >= 80
    check_readings(redis_client.xrange("chennai"))


def test_fixed_values(redis_client):
    produce("chennai", "--count", "5", "--temperature", "21.50", "--humidity", "060", "--quiet")
    assert [fields for _, fields in redis_client.xrange("chennai")] == [
        {b"temperature": b"21.5", b"humidity": b"60"}
    ] * 5


def test_a_single_reading_with_an_explicit_id_prints_the_id(redis_client):
    output = produce("chennai", "--count", "1", "--temperature", "26", "--humidity", "10", "--id", "1534866436902")
    assert output == "1534866436902-0\n"
    assert redis_client.xrange("chennai") == [(b"1534866436902-0", {b"temperature": b"26", b"humidity": b"10"})]


def test_appending_to_an_existing_stream(redis_client):
    redis_client.xadd("chennai", {"temperature": "1", "humidity": "2"}, id="5-0")
    produce("chennai", "--count", "20", "--quiet")
    assert redis_client.xlen("chennai") == 21


BAD_INPUTS = [
    (["new york"], lambda: domain_message(validate_city, name="new york")),
    ([""], lambda: domain_message(validate_city, name="")),
    (["c" * 65], lambda: domain_message(validate_city, name="c" * 65)),
    (["chennai", "--count", "0"], lambda: domain_message(produce_plan, city="chennai", count=0)),
    (["chennai", "--count=-5"], lambda: domain_message(produce_plan, city="chennai", count=-5)),
    (["chennai", "--count", "100000001"], lambda: domain_message(produce_plan, city="chennai", count=100_000_001)),
    (["chennai", "--rate", "0"], lambda: domain_message(produce_plan, city="chennai", count=86_400, rate=0.0)),
    (["chennai", "--rate=-1"], lambda: domain_message(produce_plan, city="chennai", count=86_400, rate=-1.0)),
    (
        ["chennai", "--rate", "1", "--start", "2024-05-01"],
        lambda: domain_message(produce_plan, city="chennai", count=86_400, rate=1.0, start=datetime(2024, 5, 1)),
    ),
    (
        ["chennai", "--interval", "0"],
        lambda: domain_message(produce_plan, city="chennai", count=86_400, interval_seconds=0.0),
    ),
    (
        ["chennai", "--temperature", "99"],
        lambda: domain_message(
            parse_measurement,
            value="99",
            field="temperature",
            label="Temperature",
            bounds=(Decimal(-90), Decimal(60)),
            unit="°C",
        ),
    ),
    (
        ["chennai", "--temperature", "NaN"],
        lambda: domain_message(
            parse_measurement,
            value="NaN",
            field="temperature",
            label="Temperature",
            bounds=(Decimal(-90), Decimal(60)),
            unit="°C",
        ),
    ),
    (
        ["chennai", "--humidity", "damp"],
        lambda: domain_message(
            parse_measurement,
            value="damp",
            field="humidity",
            label="Humidity",
            bounds=(Decimal(0), Decimal(100)),
            unit="%",
        ),
    ),
    (
        ["chennai", "--count", "1", "--id", "abc"],
        lambda: domain_message(produce_plan, city="chennai", count=1, entry_id="abc"),
    ),
    (
        ["chennai", "--count", "2", "--id", "5-1"],
        lambda: domain_message(produce_plan, city="chennai", count=2, entry_id="5-1"),
    ),
    (
        ["chennai", "--start", "yesterday"],
        lambda: domain_message(parse_datetime, text="yesterday", tz=ZoneInfo("UTC"), field="start"),
    ),
    (
        ["chennai", "--start", "1960-01-01"],
        lambda: domain_message(
            produce_plan, city="chennai", count=1, start=datetime(1960, 1, 1, tzinfo=ZoneInfo("UTC"))
        ),
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS, ids=[" ".join(args) or "empty" for args, _ in BAD_INPUTS])
def test_bad_input_is_a_command_error_with_the_domains_message(redis_client, args, message):
    expected = message()
    with pytest.raises(CommandError) as raised:
        produce(*args, "--quiet")
    assert str(raised.value) == expected
    assert redis_client.dbsize() == 0


def test_a_key_that_is_not_a_stream(redis_client):
    redis_client.set("chennai", "hello")
    with pytest.raises(CommandError) as raised:
        produce("chennai", "--count", "100", "--quiet")
    assert str(raised.value) == "The key “chennai” holds a string, not a stream."
    assert redis_client.get("chennai") == b"hello"


def test_an_explicit_id_that_does_not_grow(redis_client):
    redis_client.xadd("chennai", {"temperature": "1", "humidity": "2"}, id="5-5")
    with pytest.raises(CommandError) as raised:
        produce("chennai", "--count", "1", "--id", "5-5", "--quiet")
    assert "not greater than the last ID" in str(raised.value)
    assert "(5-5)" in str(raised.value)
    assert redis_client.xlen("chennai") == 1


def test_a_start_time_not_after_the_streams_last_entry_writes_nothing(redis_client):
    """Back-filling over a stream that already reaches past the start is refused, and the
    refusal leaves the stream as it was: no readings slipped in after the refused one."""
    start_ms = int(datetime(2024, 5, 1, tzinfo=ZoneInfo("UTC")).timestamp()) * 1000
    redis_client.xadd("chennai", {"temperature": "1", "humidity": "2"}, id=f"{start_ms + 5000}-0")
    with pytest.raises(CommandError) as raised:
        produce("chennai", "--count", "10", "--start", "2024-05-01 00:00", "--quiet")
    assert "not greater than the last ID" in str(raised.value)
    assert f"({start_ms + 5000}-0)" in str(raised.value)
    assert [raw.decode() for raw, _ in redis_client.xrange("chennai")] == [f"{start_ms + 5000}-0"]
