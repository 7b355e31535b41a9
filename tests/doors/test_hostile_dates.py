"""Date-times at the edges of the calendar through the doors: range bounds (stream page, API),
a group's start and SETID target (page, API), export ranges, MINID and the simulated day (job
forms, on the pages and in admin). Year 1 and days before 1970 are a 400 with the domain's
words and Redis unchanged; year 9999 is taken where the calendar holds it; nothing is a 500."""

from __future__ import annotations

import json
from html import unescape

import pytest

from tests.doors.test_ingest_contract import csrf_token, error_text, snapshot

pytestmark = pytest.mark.django_db

EARLY = ["0001-01-01", "0001-01-01T00:00+14:00", "1969-12-30", "1900-01-01 12:00"]
LATE = ["9999-12-31", "9999-12-31 23:59:59.999", "9999-12-31T23:59-12:00"]
NOT_DATES = ["10000-01-01", "0000-01-01", "9999-12-32"]


@pytest.fixture
def chennai(redis_client) -> dict:
    for n in range(1, 4):
        redis_client.xadd("chennai", {"temperature": "26", "humidity": "10"}, id=f"{n}-0")
    redis_client.xgroup_create("chennai", "mygroup", id="0")
    return snapshot(redis_client)


@pytest.fixture(params=["UTC", "Asia/Kolkata", "America/New_York"])
def zone(request, settings):
    settings.TIME_ZONE = request.param
    return request.param


def post(client, url: str, data: dict):
    return client.post(url, {**data, "csrfmiddlewaretoken": csrf_token(client)})


def post_json(api, path: str, body: dict):
    return api.post(path, data=json.dumps(body), content_type="application/json")


# --- range bounds -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", EARLY + NOT_DATES)
@pytest.mark.parametrize("bound", ["start", "end"])
def test_a_range_bound_before_1970_or_off_the_calendar_is_400(api, web, chennai, zone, bound, text):
    response = api.get("/api/streams/chennai/entries", {bound: text})
    assert response.status_code == 400
    assert "before 1970" in response.json()["error"] or "neither a stream ID" in response.json()["error"]

    page = web.get("/streams/chennai/", {bound: text})
    assert page.status_code == 400
    assert "before 1970" in unescape(page.content.decode()) or "neither a stream ID" in unescape(page.content.decode())


@pytest.mark.parametrize("text", LATE)
def test_a_range_bound_in_year_9999_is_answered(api, web, chennai, zone, text):
    assert [e["id"] for e in api.get("/api/streams/chennai/entries", {"end": text}).json()["entries"]] == [
        "1-0",
        "2-0",
        "3-0",
    ]
    assert api.get("/api/streams/chennai/entries", {"start": text}).json()["entries"] == []
    assert web.get("/streams/chennai/", {"start": text, "order": "desc"}).status_code == 200


# --- group start and SETID ----------------------------------------------------------------------


@pytest.mark.parametrize("text", EARLY + NOT_DATES)
def test_a_group_start_or_setid_target_before_1970_is_400(api, web, chennai, redis_client, zone, text):
    created = post_json(api, "/api/streams/chennai/groups", {"name": "g2", "start": text})
    assert created.status_code == 400
    moved = post_json(api, "/api/streams/chennai/groups/mygroup/setid", {"id": text})
    assert moved.status_code == 400
    assert moved.json()["error"] == created.json()["error"]
    page = post(web, "/streams/chennai/groups/", {"name": "g2", "start": text})
    assert page.status_code == 400
    assert created.json()["error"] in unescape(error_text(page.content.decode()))
    assert snapshot(redis_client) == chennai


@pytest.mark.parametrize("text", LATE)
def test_a_group_start_or_setid_target_in_year_9999_is_taken(api, chennai, redis_client, zone, text):
    created = post_json(api, "/api/streams/chennai/groups", {"name": "g2", "start": text})
    assert created.status_code == 201
    moved = post_json(api, "/api/streams/chennai/groups/mygroup/setid", {"id": text})
    assert moved.status_code == 200
    assert moved.json()["last_delivered_id"] == created.json()["start"]


def test_a_setid_before_1970_through_the_page_says_why_and_moves_nothing(web, chennai, redis_client):
    response = post(web, "/streams/chennai/groups/mygroup/setid/", {"id": "0001-01-01"})

    assert response.status_code == 302
    assert "before 1970" in unescape(web.get(response["Location"]).content.decode())
    assert snapshot(redis_client) == chennai


# --- job forms: export, trim (MINID) and the simulated day --------------------------------------


JOB_CASES = [
    ("export", {"stream": "chennai", "start": "0001-01-01", "end": "+", "format": "csv"}, "before 1970"),
    ("export", {"stream": "chennai", "start": "-", "end": "1969-12-30", "format": "csv"}, "before 1970"),
    ("export", {"stream": "chennai", "start": "10000-01-01", "end": "+", "format": "csv"}, "neither a stream ID"),
    ("trim", {"stream": "chennai", "strategy": "minid", "threshold": "0001-01-01T00:00+14:00"}, "before 1970"),
    ("trim", {"stream": "chennai", "strategy": "minid", "threshold": "0000-01-01"}, "neither a stream ID"),
    ("simulate", {"city": "chennai", "day": "0001-01-01"}, "1970-01-01 00:00 UTC or later"),
    ("simulate", {"city": "madurai", "day": "1969-12-31"}, "1970-01-01 00:00 UTC or later"),
    ("simulate", {"city": "madurai", "day": "10000-01-01"}, "Enter a valid date"),
]


@pytest.mark.parametrize(("kind", "data", "words"), JOB_CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_a_job_form_refuses_dates_off_the_id_space_before_any_job_starts(
    web, chennai, redis_client, queue_client, kind, data, words
):
    response = post(web, f"/jobs/{kind}/", data)

    assert response.status_code == 400
    assert words in unescape(error_text(response.content.decode()))
    assert snapshot(redis_client) == chennai
    assert queue_client.exists("weatherstreams:jobs") == 0


@pytest.mark.parametrize(("kind", "data", "words"), JOB_CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_the_admins_job_forms_refuse_them_the_same(staff, chennai, redis_client, kind, data, words):
    response = post(staff, "/admin/streams_app/reading/jobs/", {"kind": kind, **data})

    assert response.status_code == 400
    assert words in unescape(response.content.decode())
    assert snapshot(redis_client) == chennai


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("export", {"stream": "chennai", "start": "-", "end": "9999-12-31", "format": "csv"}),
        ("export", {"stream": "chennai", "start": "9999-12-31T23:59-12:00", "end": "+", "format": "jsonl"}),
        ("trim", {"stream": "chennai", "strategy": "minid", "threshold": "1970-01-02"}),
        ("simulate", {"city": "madurai", "day": "9999-12-31"}),
        ("simulate", {"city": "madurai", "day": "1970-01-02"}),
    ],
)
def test_dates_the_id_space_holds_start_their_job(web, chennai, queue_client, zone, kind, data):
    response = post(web, f"/jobs/{kind}/", data)

    assert response.status_code == 302, unescape(error_text(response.content.decode()))
    assert queue_client.zcard("weatherstreams:jobs") == 1


# --- the day "Simulate a day" offers --------------------------------------------------------------


def offered_day(client, url: str) -> str:
    import re

    html = client.get(url).content.decode()
    return re.search(r'<input type="date" name="day" value="([0-9-]+)"', html).group(1)


def test_simulate_a_day_offers_a_day_the_tutorials_city_accepts(web, staff, redis_client):
    from datetime import timedelta

    from django.utils import timezone

    # The tutorial's city: `xadd chennai 1 …`, then live readings of today.
    redis_client.xadd("chennai", {"temperature": "29", "humidity": "10"}, id="1")
    redis_client.xadd("chennai", {"temperature": "21", "humidity": "10"})
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()

    assert offered_day(web, "/jobs/?stream=chennai") == tomorrow
    assert offered_day(staff, "/admin/streams_app/reading/jobs/?stream=chennai") == tomorrow
    assert offered_day(web, "/jobs/?stream=madurai") == (timezone.localdate() - timedelta(days=1)).isoformat()
    response = post(web, "/jobs/simulate/", {"city": "chennai", "day": tomorrow})
    assert response.status_code == 302, unescape(error_text(response.content.decode()))


def test_a_simulate_form_sent_without_a_day_takes_the_day_the_city_accepts(web, redis_client, queue_client):
    redis_client.xadd("chennai", {"temperature": "21", "humidity": "10"})

    response = post(web, "/jobs/simulate/", {"city": "chennai", "day": ""})

    assert response.status_code == 302, unescape(error_text(response.content.decode()))
    assert queue_client.zcard("weatherstreams:jobs") == 1
