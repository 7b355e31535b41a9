"""What a reading is, and adding one: values, ranges, canonical decimal strings, city names,
IDs, and what ends up in Redis."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams_app.domain.names import display_name, name_from_token, url_token, validate_city
from streams_app.domain.readings import Reading, format_decimal, parse_measurement, parse_reading, reading_add
from streams_app.errors import BadInput, Conflict


def temperature(value):
    return parse_measurement(
        value, field="temperature", label="Temperature", bounds=(Decimal(-90), Decimal(60)), unit="°C"
    )


# --- measurements --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("21.5", "21.5"),
        ("21.50", "21.5"),
        ("021.5", "21.5"),
        ("+21.5", "21.5"),
        (" 21.5 ", "21.5"),
        ("-90", "-90"),
        ("60", "60"),
        ("60.000", "60"),
        ("-0", "0"),
        ("-0.0", "0"),
        ("0", "0"),
        ("1E+1", "10"),
        ("1e1", "10"),
        ("2.5e1", "25"),
        ("-1.25E-2", "-0.0125"),
        ("1E-30", "0.000000000000000000000000000001"),
        (21, "21"),
        (-90, "-90"),
        (21.5, "21.5"),
        (0.1, "0.1"),
        (-0.0, "0"),
        (Decimal("21.500"), "21.5"),
    ],
)
def test_valid_temperatures_are_stored_as_plain_decimals(value, stored):
    assert temperature(value) == stored


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "Temperature is required."),
        ("", "Temperature is required."),
        ("   ", "Temperature is required."),
        ("warm", "Temperature must be a number, like 21.5; got “warm”."),
        ("21,5", "Temperature must be a number, like 21.5; got “21,5”."),
        ("NaN", "Temperature must be a finite number, not “NaN”."),
        ("-nan", "Temperature must be a finite number"),
        ("inf", "Temperature must be a finite number, not “inf”."),
        ("-Infinity", "Temperature must be a finite number, not “-Infinity”."),
        (float("nan"), "Temperature must be a finite number"),
        (float("inf"), "Temperature must be a finite number"),
        ("60.0001", "Temperature must be between -90 and 60 °C; got 60.0001."),
        ("-90.0001", "Temperature must be between -90 and 60 °C; got -90.0001."),
        ("1e400", "between -90 and 60 °C"),
        (61, "between -90 and 60 °C"),
        (True, "Temperature must be a number"),
        ([21], "Temperature must be a number"),
        ({"v": 1}, "Temperature must be a number"),
        ("1" * 33, "at most 32 characters"),
    ],
)
def test_invalid_temperatures(value, words):
    with pytest.raises(BadInput) as raised:
        temperature(value)
    assert words in raised.value.message
    assert raised.value.field == "temperature"


@given(st.decimals(min_value=-90, max_value=60, allow_nan=False, allow_infinity=False, places=3))
def test_every_temperature_in_range_is_accepted_and_keeps_its_value(value):
    stored = temperature(str(value))
    assert Decimal(stored) == value
    assert "E" not in stored and "e" not in stored
    assert stored == format_decimal(Decimal(stored))  # canonical: storing twice changes nothing


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2).filter(lambda d: not -90 <= d <= 60))
def test_every_temperature_out_of_range_is_refused(value):
    with pytest.raises(BadInput):
        temperature(str(value))


@pytest.mark.parametrize(
    ("value", "ok"), [("0", True), ("100", True), ("100.0", True), ("-0.01", False), ("100.01", False), ("50.5", True)]
)
def test_humidity_range(value, ok):
    if ok:
        assert parse_reading(city="c", temperature="1", humidity=value).values["humidity"] == format_decimal(
            Decimal(value)
        )
    else:
        with pytest.raises(BadInput) as raised:
            parse_reading(city="c", temperature="1", humidity=value)
        assert raised.value.message == f"Humidity must be between 0 and 100 %; got {value}."
        assert raised.value.field == "humidity"


# --- city names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["chennai", "Chennai", "c", "c" * 64, "in:tn.chennai-01_a", "münchen", "東京", "42", ".", "..", "a.b"]
)
def test_valid_city_names(name):
    assert validate_city(name) == name


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("", "The city name is required."),
        (None, "The city name is required."),
        ("c" * 65, "The city name is 65 characters long; at most 64 are allowed."),
        ("new york", "“new york” is not a valid city name"),
        (" chennai", "not a valid city name"),
        ("chennai\n", "not a valid city name"),
        ("a\x00b", "“a\\x00b” is not a valid city name"),
        ("a\x1bb", "“a\\x1bb” is not a valid city name"),
        ("a/b", "not a valid city name"),
        ("a*b", "not a valid city name"),
        ("a?b", "not a valid city name"),
        ("<b>", "not a valid city name"),
        ("caf\udce9", "“caf\\xe9” is not a valid city name"),
    ],
)
def test_invalid_city_names(name, words):
    with pytest.raises(BadInput) as raised:
        validate_city(name)
    assert words in raised.value.message
    assert raised.value.field == "city"


@given(st.text(max_size=80))
def test_any_key_name_round_trips_through_its_url_token(name):
    token = url_token(name)
    assert "/" not in token and token not in {"", ".", ".."}
    assert token.isprintable()
    assert name_from_token(token) == name


@given(st.binary(max_size=40))
def test_any_key_bytes_round_trip_and_display_printably(raw):
    name = raw.decode("utf-8", "surrogateescape")
    assert name_from_token(url_token(name)).encode("utf-8", "surrogateescape") == raw
    assert display_name(name).isprintable()


# --- parse_reading and reading_add -----------------------------------------------------------


def test_a_reading_has_only_temperature_and_humidity_fields():
    reading = parse_reading(city="chennai", temperature="26.0", humidity="10", entry_id="")
    assert reading == Reading(city="chennai", values={"temperature": "26", "humidity": "10"}, entry_id="*")
    assert reading.fields() == [("temperature", "26"), ("humidity", "10")]


def test_the_first_wrong_field_is_reported_city_then_temperature_then_humidity_then_id():
    cases = [
        (dict(city="a b", temperature="x", humidity="y", entry_id="z"), "city"),
        (dict(city="ok", temperature="x", humidity="y", entry_id="z"), "temperature"),
        (dict(city="ok", temperature="1", humidity="y", entry_id="z"), "humidity"),
        (dict(city="ok", temperature="1", humidity="2", entry_id="z"), "id"),
    ]
    for values, field in cases:
        with pytest.raises(BadInput) as raised:
            parse_reading(**values)
        assert raised.value.field == field


def test_non_text_city_and_id_are_refused():
    with pytest.raises(BadInput, match="city name must be text"):
        parse_reading(city=42, temperature="1", humidity="2")
    with pytest.raises(BadInput, match="ID must be text"):
        parse_reading(city="c", temperature="1", humidity="2", entry_id=7)


def test_reading_add_writes_one_entry_to_the_citys_stream(store, redis_client):
    new_id = reading_add(store=store, city="chennai", temperature="26.50", humidity="10")
    assert redis_client.type("chennai") == b"stream"
    assert redis_client.xrange("chennai") == [(new_id.encode(), {b"temperature": b"26.5", b"humidity": b"10"})]
    assert redis_client.keys("*") == [b"chennai"]


def test_reading_add_with_explicit_ids(store, redis_client):
    assert reading_add(store=store, city="chennai", temperature="1", humidity="2", entry_id="1534866436902") == (
        "1534866436902-0"
    )
    assert reading_add(store=store, city="chennai", temperature="1", humidity="2", entry_id="1534866436902-1") == (
        "1534866436902-1"
    )
    auto = reading_add(store=store, city="chennai", temperature="1", humidity="2", entry_id="*")
    assert int(auto.split("-")[0]) > 1534866436902
    assert redis_client.xlen("chennai") == 3


@pytest.mark.parametrize("entry_id", ["5-5", "5-4", "5", "4-9", "1"])
def test_ids_that_do_not_grow_are_a_conflict_and_write_nothing(store, redis_client, entry_id):
    redis_client.xadd("chennai", {"temperature": "1", "humidity": "2"}, id="5-5")
    with pytest.raises(Conflict) as raised:
        reading_add(store=store, city="chennai", temperature="3", humidity="4", entry_id=entry_id)
    normalized = entry_id if "-" in entry_id else f"{entry_id}-0"
    assert raised.value.message == (
        f"The ID {normalized} is not greater than the last ID of “chennai” (5-5): IDs in a stream must grow."
    )
    assert raised.value.status == 409
    assert redis_client.xrange("chennai") == [(b"5-5", {b"temperature": b"1", b"humidity": b"2"})]


def test_the_last_generated_id_counts_even_when_its_entry_was_deleted(store, redis_client):
    redis_client.xadd("chennai", {"temperature": "1", "humidity": "2"}, id="5-5")
    redis_client.xadd("chennai", {"temperature": "1", "humidity": "2"}, id="9-0")
    redis_client.xdel("chennai", "9-0")
    with pytest.raises(Conflict, match=r"\(9-0\)"):
        reading_add(store=store, city="chennai", temperature="3", humidity="4", entry_id="7")
    assert redis_client.xlen("chennai") == 1


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda r: r.set("chennai", "v"), "string"),
        (lambda r: r.rpush("chennai", "v"), "list"),
        (lambda r: r.hset("chennai", "f", "v"), "hash"),
        (lambda r: r.sadd("chennai", "v"), "set"),
        (lambda r: r.zadd("chennai", {"v": 1}), "zset"),
    ],
)
def test_a_key_that_is_not_a_stream_is_a_conflict(store, redis_client, make, kind):
    make(redis_client)
    dump = redis_client.dump("chennai")
    with pytest.raises(Conflict) as raised:
        reading_add(store=store, city="chennai", temperature="3", humidity="4")
    assert raised.value.message == f"The key “chennai” holds a {kind}, not a stream."
    assert redis_client.dump("chennai") == dump


def test_invalid_readings_write_nothing(store, redis_client):
    for values in (
        dict(city="a b", temperature="1", humidity="2"),
        dict(city="c", temperature="99", humidity="2"),
        dict(city="c", temperature="1", humidity="2", entry_id="0-0"),
    ):
        with pytest.raises(BadInput):
            reading_add(store=store, **values)
    assert redis_client.dbsize() == 0


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50, deadline=None)
@given(
    temperatures=st.lists(st.decimals(min_value=-90, max_value=60, places=1), min_size=1, max_size=5),
    humidity=st.integers(0, 100),
)
def test_what_is_stored_is_what_was_given(store, redis_client, temperatures, humidity):
    redis_client.delete("chennai")
    for value in temperatures:
        reading_add(store=store, city="chennai", temperature=str(value), humidity=humidity)
    stored = redis_client.xrange("chennai")
    assert [Decimal(fields[b"temperature"].decode()) for _, fields in stored] == temperatures
    assert all(set(fields) == {b"temperature", b"humidity"} for _, fields in stored)
    assert all(fields[b"humidity"] == str(humidity).encode() for _, fields in stored)


@pytest.mark.parametrize("token", ["~!!!", "~a b", "~A", "~a==b"])
def test_an_encoded_token_that_is_not_url_safe_base64_is_bad_input(token):
    with pytest.raises(BadInput) as raised:
        name_from_token(token)
    assert "not a valid stream address" in raised.value.message


def test_the_empty_key_has_a_token_of_its_own():
    assert url_token("") == "~"
    assert name_from_token("~") == ""
