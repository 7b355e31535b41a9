"""No domain function writes a reading into one of the app's or RQ's own keys nor creates a group
on one: BadInput (400) naming the key and why it is not a user stream, Redis unchanged."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from streams_app.domain.groups import group_create
from streams_app.domain.producer import produce_plan, simulated_day_start
from streams_app.domain.readings import parse_reading, reading_add
from streams_app.errors import BadInput
from streams_app.gateway.stores import group_store

INTERNAL = {
    "weatherstreams:processed:mygroup": "one of the app's own keys",
    "weatherstreams:asgi": "a key of the channel layer",
    "rq:results:0f3a": "one of RQ's keys",
    "rq:queue:default": "one of RQ's keys",
    "chennai:dead": "the dead-letter stream of “chennai”",
}


def snapshot(redis_client) -> dict:
    return {key: redis_client.type(key) for key in redis_client.keys("*")}


@pytest.fixture
def existing(redis_client) -> dict:
    """Each internal key holds a stream already (as RQ's results and dead letters do)."""
    for key in INTERNAL:
        redis_client.xadd(key, {"n": "1"})
    return snapshot(redis_client)


@pytest.mark.parametrize("key", INTERNAL)
def test_a_reading_is_refused(store, redis_client, existing, key):
    with pytest.raises(BadInput) as refused:
        reading_add(store=store, city=key, temperature="26", humidity="10")
    assert refused.value.field == "city"
    assert refused.value.message.startswith(f"“{key}” is {INTERNAL[key]}")
    assert refused.value.message.endswith(", not a user stream: readings cannot be written to it.")
    assert snapshot(redis_client) == existing
    assert redis_client.xlen(key) == 1


@pytest.mark.parametrize("key", INTERNAL)
def test_a_reading_is_refused_when_parsed_even_where_no_key_exists(redis_client, key):
    with pytest.raises(BadInput, match="not a user stream: readings cannot be written to it"):
        parse_reading(city=key, temperature="26", humidity="10")
    assert redis_client.dbsize() == 0


@pytest.mark.parametrize("key", INTERNAL)
def test_producing_and_simulating_a_day_are_refused(store, redis_client, existing, key):
    with pytest.raises(BadInput, match="not a user stream") as refused:
        produce_plan(city=key, count=10)
    assert refused.value.field == "city"
    with pytest.raises(BadInput, match="not a user stream"):
        simulated_day_start(store=store, city=key, day=date(2024, 5, 1), tz=UTC)
    with pytest.raises(BadInput, match="not a user stream"):
        produce_plan(city=key, count=1, start=datetime(2024, 5, 1, tzinfo=UTC))
    assert snapshot(redis_client) == existing


@pytest.mark.parametrize("key", INTERNAL)
def test_a_group_is_refused_on_an_existing_internal_stream_and_on_a_missing_one(redis_client, existing, key):
    with pytest.raises(BadInput, match="not a user stream: groups cannot be created on it") as refused:
        group_create(store=group_store(), stream=key, name="mygroup", start="$", tz=UTC)
    assert refused.value.field == "stream"
    assert redis_client.xinfo_groups(key) == []
    redis_client.flushall()
    with pytest.raises(BadInput, match="groups cannot be created on it"):
        group_create(store=group_store(), stream=key, name="mygroup", start="0", tz=UTC)
    assert redis_client.dbsize() == 0


def test_a_user_stream_that_merely_looks_alike_is_accepted(store, redis_client):
    for city in ("weatherstreams", "rq", "chennai:deadline", "dead"):
        reading_add(store=store, city=city, temperature="26", humidity="10")
    assert redis_client.dbsize() == 4


def test_the_dead_letter_template_decides_which_streams_are_dead_letters(store, redis_client, settings):
    settings.WEATHERSTREAMS_DEAD_LETTER_STREAM = "dlq.{stream}"

    reading_add(store=store, city="chennai:dead", temperature="26", humidity="10")
    with pytest.raises(BadInput, match="the dead-letter stream of “chennai”"):
        reading_add(store=store, city="dlq.chennai", temperature="26", humidity="10")
