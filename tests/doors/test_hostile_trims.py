"""Trims through the job forms (pages and admin) and the job itself: thresholds beyond 64 bits
or not plain numbers are a 400 with the domain's words; a stream whose groups have names that
are not UTF-8 (made by redis-cli) is planned and trimmed like any other, its group named with
escapes in the refusal; Redis unchanged until the trim runs."""

from __future__ import annotations

from html import unescape

import pytest

from streams_app.jobs import tasks
from tests.doors.test_ingest_contract import csrf_token, error_text, snapshot

pytestmark = pytest.mark.django_db

BAD_THRESHOLDS = [
    ("maxlen", str(2**64), "MAXLEN can be at most 9223372036854775807"),
    ("maxlen", str(2**63), "MAXLEN can be at most 9223372036854775807"),
    ("maxlen", "1" * 40, "MAXLEN must be a whole number"),
    ("maxlen", "-1", "MAXLEN must be a whole number"),
    ("maxlen", "1_000", "MAXLEN must be a whole number"),
    ("maxlen", "1e3", "MAXLEN must be a whole number"),
    ("maxlen", "", "MAXLEN must be a whole number"),
    ("minid", "18446744073709551616-0", "out of range"),
    ("minid", "5-18446744073709551616", "out of range"),
    ("minid", "99999999999999999999999", "neither a stream ID"),
    ("minid", "(18446744073709551615-18446744073709551615", "not a usable MINID"),
]


@pytest.fixture
def chennai(redis_client) -> dict:
    for n in range(1, 11):
        redis_client.xadd("chennai", {"temperature": "26", "humidity": "10"}, id=f"{n}-0")
    return snapshot(redis_client)


@pytest.fixture
def odd_group(chennai, redis_client) -> dict:
    """`XGROUP CREATE chennai "\\xff" 0` from redis-cli, with entries 1-0 and 2-0 pending."""
    redis_client.xgroup_create("chennai", b"\xff", id="0")
    redis_client.xreadgroup(b"\xff", "alice", {"chennai": ">"}, count=2)
    return snapshot(redis_client)


def trim_form(client, url: str, strategy: str, threshold: str, **extra):
    data = {"stream": "chennai", "strategy": strategy, "threshold": threshold, "approximate": "", **extra}
    return client.post(url, {**data, "csrfmiddlewaretoken": csrf_token(client)})


@pytest.mark.parametrize(("strategy", "threshold", "words"), BAD_THRESHOLDS)
def test_a_threshold_beyond_64_bits_or_not_a_number_is_400(
    web, staff, chennai, redis_client, strategy, threshold, words, queue_client
):
    for client, url, extra in [(web, "/jobs/trim/", {}), (staff, "/admin/streams_app/reading/jobs/", {"kind": "trim"})]:
        response = trim_form(client, url, strategy, threshold, **extra)
        assert response.status_code == 400, url
        assert words in unescape(response.content.decode()), url
    assert snapshot(redis_client) == chennai
    assert queue_client.exists("weatherstreams:jobs") == 0


def test_a_trim_that_would_drop_a_non_utf8_groups_pending_entries_names_it_and_waits(web, odd_group, redis_client):
    response = trim_form(web, "/jobs/trim/", "maxlen", "5")

    assert response.status_code == 409
    shown = unescape(error_text(response.content.decode()))
    assert "still pending in \\xff (oldest pending 1-0)" in shown
    assert snapshot(redis_client) == odd_group


def test_a_confirmed_trim_of_that_stream_starts_and_runs(web, odd_group, redis_client):
    response = trim_form(web, "/jobs/trim/", "maxlen", "5", confirm="on")
    assert response.status_code == 302
    assert redis_client.xlen("chennai") == 10  # the job has not run yet: no worker here

    result = tasks.trim(stream="chennai", strategy="maxlen", threshold="5", approximate=False, confirm_pending=True)

    assert result == {"removed": 5}
    assert redis_client.xlen("chennai") == 5
    assert redis_client.xinfo_groups("chennai")[0]["name"] == b"\xff"


def test_a_trim_that_keeps_the_pending_entries_of_a_non_utf8_group_starts_at_once(web, odd_group, redis_client):
    assert trim_form(web, "/jobs/trim/", "minid", "1-0").status_code == 302
    assert trim_form(web, "/jobs/trim/", "maxlen", "10").status_code == 302
