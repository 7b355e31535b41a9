"""The streams page's selector: the app's and RQ's own keys (weatherstreams:*, rq:*, dead-letter
streams) are left out unless asked for, and then marked with the reason; each user stream
carries the length of its dead-letter stream; leaving keys out never stalls the SCAN walk."""

from __future__ import annotations

import pytest

from streams_app.domain.catalog import parse_include_internal, streams_page
from streams_app.gateway.keys import dead_letter_key

pytestmark = pytest.mark.usefixtures("redis_client")

INTERNAL = [
    "weatherstreams:processed:mygroup",
    "weatherstreams:asgispecific.abc!def",
    "rq:results:0f3a",
    dead_letter_key("chennai"),
]


def make_keys(redis_client, *, cities=("chennai", "madurai")) -> None:
    pipe = redis_client.pipeline()
    for name in [*cities, *INTERNAL]:
        pipe.xadd(name, {"n": "1"})
    pipe.xadd(dead_letter_key("chennai"), {"n": "2"})
    pipe.set("a-string", "x")
    pipe.execute()


def test_by_default_only_user_streams_are_listed_with_their_dead_letter_counts(store, redis_client):
    make_keys(redis_client)

    page = streams_page(store=store)

    assert [(s.name, s.dead_letters, s.internal_reason) for s in page.streams] == [
        ("chennai", 2, None),
        ("madurai", 0, None),
    ]
    assert page.next_cursor is None and not page.include_internal


def test_asked_for_the_internal_keys_are_listed_too_and_marked_with_why(store, redis_client):
    make_keys(redis_client)

    page = streams_page(store=store, include_internal=True)

    reasons = {s.name: s.internal_reason for s in page.streams}
    assert set(reasons) == {"chennai", "madurai", *INTERNAL}
    assert reasons["chennai"] is None and reasons["madurai"] is None
    assert "the app's own keys" in reasons["weatherstreams:processed:mygroup"]
    assert "channel layer" in reasons["weatherstreams:asgispecific.abc!def"]
    assert "RQ's keys" in reasons["rq:results:0f3a"]
    assert reasons[dead_letter_key("chennai")] == "the dead-letter stream of “chennai”"
    internal = [s for s in page.streams if s.internal]
    assert all(s.dead_letters is None for s in internal)  # internal keys have no dead letters of their own
    assert page.include_internal


def test_a_key_space_of_internal_keys_is_walked_a_bounded_page_at_a_time_to_the_end(store, redis_client):
    pipe = redis_client.pipeline()
    for n in range(3000):
        pipe.xadd(f"rq:results:{n:04d}", {"n": "1"})
    pipe.xadd("chennai", {"n": "1"})
    pipe.execute()

    found, cursor, pages = [], 0, 0
    while True:
        page = streams_page(store=store, cursor=cursor, per_page=10)
        found.extend(s.name for s in page.streams)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        assert pages < 100

    assert found == ["chennai"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, False), ("", False), ("0", False), ("no", False), ("1", True), ("true", True), (" on ", True)],
)
def test_the_show_internal_keys_switch(raw, expected):
    assert parse_include_internal(raw) is expected
