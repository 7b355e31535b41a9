"""Names that are not text, or not UTF-8: a lone surrogate (JSON can carry one) in any name a
domain function takes (city, group, consumer, the stream of a job) is BadInput quoting it with
escapes, Redis untouched; names other programs wrote (bytes that are not UTF-8) travel as
surrogate escapes, and the template filters that build links and labels round-trip them."""

from __future__ import annotations

from datetime import UTC, date

import pytest

from streams_app.domain.exports import export_plan
from streams_app.domain.groups import consumer_delete, group_create, group_find, pending_claim
from streams_app.domain.names import name_from_token, url_token
from streams_app.domain.producer import produce_plan, simulated_day_start
from streams_app.domain.readings import reading_add
from streams_app.domain.retention import trim_plan
from streams_app.errors import BadInput
from streams_app.gateway.stores import group_store, retention_store
from streams_app.jobs.launch import export_job_start, simulate_day_job_start, trim_job_start
from streams_app.templatetags.stream_tags import stream_display, stream_token

LONE = "\ud800"


@pytest.fixture
def chennai(redis_client) -> int:
    redis_client.xadd("chennai", {"temperature": "26", "humidity": "10"}, id="1-0")
    redis_client.xgroup_create("chennai", "mygroup", id="0")
    redis_client.xreadgroup("mygroup", "alice", {"chennai": ">"})
    return redis_client.dbsize()


CALLS = {
    "reading city": lambda store: reading_add(store=store, city=f"x{LONE}", temperature="1", humidity="1"),
    "produce city": lambda store: produce_plan(city=LONE, count=1),
    "simulated day city": lambda store: simulated_day_start(store=store, city=LONE, day=date(2024, 5, 1), tz=UTC),
    "group name": lambda store: group_create(store=group_store(), stream="chennai", name=LONE, start="$", tz=UTC),
    "group's stream": lambda store: group_create(store=group_store(), stream=LONE, name="g", start="$", tz=UTC),
    "group to find": lambda store: group_find(store=group_store(), stream="chennai", group=LONE),
    "consumer to claim for": lambda store: pending_claim(
        store=group_store(), stream="chennai", group="mygroup", ids=["1-0"], consumer=LONE
    ),
    "consumer to delete": lambda store: consumer_delete(
        store=group_store(), stream="chennai", group="mygroup", consumer=LONE
    ),
    "export stream": lambda store: export_plan(store=store, stream=LONE, start="-", end="+", fmt="csv", tz=UTC),
    "trim stream": lambda store: trim_plan(
        store=store,
        retention=retention_store(),
        stream=LONE,
        strategy="maxlen",
        threshold="1",
        approximate=True,
        tz=UTC,
    ),
    "export job": lambda store: export_job_start(
        store=store, stream=LONE, start="-", end="+", fmt="csv", tz=UTC, user_id=None
    ),
    "simulate job": lambda store: simulate_day_job_start(
        store=store, city=LONE, day=date(2024, 5, 1), tz=UTC, user_id=None
    ),
    "trim job": lambda store: trim_job_start(
        store=store,
        retention=retention_store(),
        stream=LONE,
        strategy="maxlen",
        threshold="1",
        approximate=True,
        confirm_pending=False,
        tz=UTC,
        user_id=None,
    ),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_a_lone_surrogate_in_a_name_is_bad_input_quoted_with_escapes(store, redis_client, chennai, call):
    with pytest.raises(BadInput) as refused:
        call(store)

    assert "\\ud800" in refused.value.message and LONE not in refused.value.message
    refused.value.message.encode("utf-8")  # a message any page can show
    assert redis_client.dbsize() == chennai


@pytest.mark.parametrize("raw", [b"\xff", b"caf\xe9", b"~x", b"a/b", b"\x00", b"..", b"plain"])
def test_the_template_filters_round_trip_any_name_redis_holds(raw):
    name = raw.decode("utf-8", "surrogateescape")

    token = stream_token(name)

    assert name_from_token(token) == name
    assert token == url_token(name) and "/" not in token
    stream_display(name).encode("utf-8")  # shown as text, never as a lone surrogate


def test_a_group_that_is_not_utf8_is_found_by_the_name_its_token_gives(redis_client, chennai):
    redis_client.xgroup_create("chennai", b"\xff", id="0")

    found = group_find(store=group_store(), stream="chennai", group=name_from_token(stream_token("\udcff")))

    assert found.name == "\udcff" and stream_display(found.name) == "\\xff"
