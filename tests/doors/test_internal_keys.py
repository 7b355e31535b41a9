"""The app's own keys are not user streams, at the doors that exist: the streams page, the API's
list and the admin's lists leave out `weatherstreams:*`, `rq:*` and dead-letter streams; adding
a reading or creating a group on one is a 400 with a clear message at every door (page, API,
admin, job form, command), and Redis is unchanged."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils.html import escape

from tests.doors.test_ingest_contract import csrf_token, error_text, snapshot

pytestmark = pytest.mark.django_db

INTERNAL = ["weatherstreams:processed:mygroup", "rq:results:0f3a", "chennai:dead"]
GROUP_REFUSAL = "not a user stream: groups cannot be created on it."
READING_REFUSAL = "not a user stream: readings cannot be written to it."


@pytest.fixture
def keys(redis_client) -> dict:
    """Two cities and internal streams beside them (RQ's results, the app's own, dead letters)."""
    for name in ["chennai", "madurai", *INTERNAL]:
        redis_client.xadd(name, {"temperature": "26", "humidity": "10"})
    return snapshot(redis_client)


def post(client: Client, url: str, data: dict):
    return client.post(url, {**data, "csrfmiddlewaretoken": csrf_token(client)})


# --- listings ---------------------------------------------------------------------------------


def test_the_api_lists_only_user_streams(api, keys):
    names = [stream["name"] for stream in api.get("/api/streams/").json()["streams"]]
    assert sorted(names) == ["chennai", "madurai"]


def test_the_streams_page_lists_only_user_streams(web, keys):
    page = web.get("/streams/").content.decode()
    assert "/streams/chennai/" in page and "/streams/madurai/" in page
    for name in INTERNAL:
        assert f"/streams/{name}/" not in page


@pytest.mark.parametrize("page", ["/admin/streams_app/reading/", "/admin/streams_app/consumergroup/"])
def test_the_admin_lists_only_user_streams(staff, keys, redis_client, page):
    for name in ["chennai", *INTERNAL]:
        redis_client.xgroup_create(name, "mygroup", id="0")
    html = staff.get(page).content.decode()
    assert "chennai" in html
    for name in INTERNAL:
        assert escape(name) not in html


# --- writes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", INTERNAL)
def test_no_reading_through_the_page(web, keys, redis_client, name):
    response = post(web, "/readings/add/", {"city": name, "temperature": "26", "humidity": "10"})

    assert response.status_code == 400
    assert escape(READING_REFUSAL) in error_text(response.content.decode())
    assert snapshot(redis_client) == keys


@pytest.mark.parametrize("name", INTERNAL)
def test_no_reading_through_the_api(api, keys, redis_client, name):
    response = api.post(
        f"/api/streams/{name}/readings",
        data=json.dumps({"temperature": 26, "humidity": 10}),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["error"].endswith(READING_REFUSAL)
    assert snapshot(redis_client) == keys


@pytest.mark.parametrize("name", INTERNAL)
def test_no_reading_through_the_admin(staff, keys, redis_client, name):
    response = post(staff, "/admin/streams_app/reading/add/", {"city": name, "temperature": "26", "humidity": "10"})

    assert response.status_code == 400
    assert escape(READING_REFUSAL) in response.content.decode()
    assert snapshot(redis_client) == keys


@pytest.mark.parametrize("name", INTERNAL)
def test_no_readings_through_the_produce_command(keys, redis_client, name):
    with pytest.raises(CommandError, match=READING_REFUSAL):
        call_command("produce", name, "--count=5", "--quiet", stdout=StringIO())
    assert snapshot(redis_client) == keys


@pytest.mark.parametrize("name", INTERNAL)
def test_no_simulated_day_through_the_job_form(web, keys, redis_client, name, queue_client):
    response = post(web, "/jobs/simulate/", {"city": name, "day": "2024-05-01"})

    assert response.status_code == 400
    assert escape(READING_REFUSAL) in response.content.decode()
    assert snapshot(redis_client) == keys
    assert queue_client.exists("weatherstreams:jobs") == 0


@pytest.mark.parametrize("name", INTERNAL)
def test_no_group_through_the_api(api, keys, redis_client, name):
    response = api.post(
        f"/api/streams/{name}/groups",
        data=json.dumps({"name": "mygroup", "start": "$"}),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["error"].startswith(f"“{name}” is ")
    assert response.json()["error"].endswith(GROUP_REFUSAL)
    assert snapshot(redis_client) == keys
    assert redis_client.xinfo_groups(name) == []


@pytest.mark.parametrize("name", INTERNAL)
def test_no_group_through_the_page(web, keys, redis_client, name):
    response = post(web, f"/streams/{name}/groups/", {"name": "mygroup", "start": "$"})

    assert response.status_code == 400
    assert escape(GROUP_REFUSAL) in response.content.decode()
    assert redis_client.xinfo_groups(name) == []
    assert snapshot(redis_client) == keys


@pytest.mark.parametrize("name", INTERNAL)
def test_no_group_through_the_admin(staff, keys, redis_client, name):
    response = post(staff, "/admin/streams_app/consumergroup/add/", {"stream": name, "name": "mygroup", "start": "$"})

    assert response.status_code == 400
    assert escape(GROUP_REFUSAL) in response.content.decode()
    assert redis_client.xinfo_groups(name) == []


def test_a_group_on_a_missing_internal_key_creates_no_stream(api, redis_client):
    response = api.post(
        "/api/streams/rq:results:new/groups",
        data=json.dumps({"name": "g", "start": "0"}),
        content_type="application/json",
    )

    assert response.status_code == 400 and response.json()["error"].endswith(GROUP_REFUSAL)
    assert redis_client.dbsize() == 0
