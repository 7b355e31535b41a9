"""Names no key can have, and names other programs gave: lone surrogates (JSON can carry them),
NUL and control characters in every name field (city, group, consumer, the stream of a job
form) are a clear 4xx, quoted with escapes, with Redis unchanged; groups whose names are not
UTF-8 (made by redis-cli) open from the links the pages show, and answer the API."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.utils.html import escape

from streams_app.domain.names import name_from_token, url_token
from tests.doors.test_ingest_contract import csrf_token, error_text, snapshot

pytestmark = pytest.mark.django_db

LONE = "\ud800"
HOSTILE_NAMES = [LONE, f"mine{LONE}", "a\x00b", "bell\x07", "new\nline", "\udcff", ""]


@pytest.fixture
def chennai(redis_client) -> dict:
    for n in range(1, 4):
        redis_client.xadd("chennai", {"temperature": "26", "humidity": "10"}, id=f"{n}-0")
    redis_client.xgroup_create("chennai", "mygroup", id="0")
    redis_client.xreadgroup("mygroup", "alice", {"chennai": ">"}, count=2)
    return snapshot(redis_client)


def post_json(api, path: str, body: dict):
    return api.post(path, data=json.dumps(body), content_type="application/json")


def post(client, url: str, data: dict):
    return client.post(url, {**data, "csrfmiddlewaretoken": csrf_token(client)})


# --- the API: JSON carries anything -------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_a_group_name_that_is_not_allowed_is_400_through_the_api(api, chennai, redis_client, name):
    response = post_json(api, "/api/streams/chennai/groups", {"name": name, "start": "$"})

    assert response.status_code == 400
    message = response.json()["error"]
    assert "group name" in message
    assert LONE not in message and "\x00" not in message  # quoted as escapes
    assert snapshot(redis_client) == chennai


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_a_consumer_name_that_is_not_allowed_is_400_when_claiming(api, chennai, redis_client, name):
    response = post_json(api, "/api/streams/chennai/groups/mygroup/claim", {"ids": ["1-0"], "consumer": name})

    assert response.status_code == 400
    assert "consumer name" in response.json()["error"]
    assert snapshot(redis_client) == chennai


@pytest.mark.parametrize(
    ("path", "body", "field_words"),
    [
        ("/api/streams/chennai/groups/mygroup/ack", {"ids": [LONE]}, "not a valid entry ID"),
        ("/api/streams/chennai/groups/mygroup/claim", {"ids": ["1-0\x00"], "consumer": "bob"}, "not a valid entry ID"),
        ("/api/streams/chennai/groups/mygroup/setid", {"id": LONE}, "neither a stream ID"),
        ("/api/streams/chennai/groups/mygroup/setid", {"id": "\x00"}, "neither a stream ID"),
        ("/api/streams/chennai/groups", {"name": "g", "start": f"2024{LONE}"}, "neither a stream ID"),
        ("/api/streams/chennai/readings", {"temperature": LONE, "humidity": 10}, "Temperature"),
        ("/api/streams/chennai/readings", {"temperature": 26, "humidity": 10, "id": LONE}, "not a valid entry ID"),
    ],
    ids=["ack-id", "claim-id-nul", "setid-lone", "setid-nul", "group-start", "reading-value", "reading-id"],
)
def test_other_text_fields_with_a_lone_surrogate_or_nul_are_400(api, chennai, redis_client, path, body, field_words):
    response = post_json(api, path, body)

    assert response.status_code == 400
    assert field_words in response.json()["error"]
    assert snapshot(redis_client) == chennai


@pytest.mark.parametrize("consumer", ["%ED%A0%80", "%00", "a%07b", "%FF"])
def test_a_pending_filter_by_a_consumer_no_one_can_be_called_is_400(api, chennai, consumer):
    response = api.get(f"/api/streams/chennai/groups/mygroup/pending?consumer={consumer}")

    assert response.status_code == 400
    assert "consumer name" in response.json()["error"]


@pytest.mark.parametrize("token", ["%00", "a%07b", "%ED%A0%80", "~_w", "~7aCA"])
def test_addresses_of_keys_that_do_not_exist_are_404_or_400_never_500(api, web, chennai, token):
    for client, path in [
        (api, f"/api/streams/{token}/entries"),
        (api, f"/api/streams/chennai/groups/{token}"),
        (web, f"/streams/{token}/"),
        (web, f"/streams/chennai/groups/{token}/"),
    ]:
        assert client.get(path).status_code in (400, 404), path


# --- the pages: forms carry NUL and control characters --------------------------------------------


@pytest.mark.parametrize("name", ["a\x00b", "bell\x07", "new\nline", "tab\there"], ids=repr)
def test_a_group_name_with_control_characters_is_a_form_error(web, chennai, redis_client, name):
    response = post(web, "/streams/chennai/groups/", {"name": name, "start": "$"})

    assert response.status_code == 400
    assert "is not a valid group name" in unescape(error_text(response.content.decode()))
    assert snapshot(redis_client) == chennai


@pytest.mark.parametrize("name", ["a\x00b", "bell\x07"], ids=repr)
def test_a_consumer_name_with_control_characters_is_refused_when_claiming(web, chennai, redis_client, name):
    response = post(
        web, "/streams/chennai/groups/mygroup/pending/", {"action": "claim", "ids": ["1-0"], "consumer": name}
    )

    assert response.status_code == 302
    followed = web.get(response["Location"]).content.decode()
    assert "is not a valid consumer name" in unescape(followed)
    assert snapshot(redis_client) == chennai


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("simulate", {"city": "a\x00b", "day": "2024-05-01"}),
        ("simulate", {"city": "bell\x07", "day": "2024-05-01"}),
        ("export", {"stream": "a\x00b", "start": "-", "end": "+", "format": "csv"}),
        ("trim", {"stream": "bell\x07", "strategy": "maxlen", "threshold": "10"}),
    ],
    ids=["simulate-nul", "simulate-bell", "export-nul", "trim-bell"],
)
def test_a_job_forms_stream_with_control_characters_is_refused_with_the_domains_words(
    web, chennai, redis_client, kind, data, queue_client
):
    response = post(web, f"/jobs/{kind}/", data)

    assert response.status_code in (400, 404)
    shown = unescape(error_text(response.content.decode()))
    assert "\\x00" in shown or "\\x07" in shown  # the name, quoted with escapes
    assert snapshot(redis_client) == chennai
    assert queue_client.exists("weatherstreams:jobs") == 0


# --- groups whose names are not UTF-8 ------------------------------------------------------------


@pytest.fixture
def odd_group(redis_client) -> str:
    """A group created by redis-cli as `XGROUP CREATE chennai "\\xff" 0`, with two pending entries."""
    for n in range(1, 4):
        redis_client.xadd("chennai", {"temperature": "26", "humidity": "10"}, id=f"{n}-0")
    redis_client.xgroup_create("chennai", b"\xff", id="0")
    redis_client.xreadgroup(b"\xff", "alice", {"chennai": ">"}, count=2)
    return "\udcff"


def group_link(web) -> str:
    listing = web.get("/streams/chennai/groups/").content.decode()
    assert "\\xff" in listing  # the name, shown as an escape
    [link] = re.findall(r'href="(/streams/chennai/groups/[^"/]+/)"', listing)
    return link


def test_the_groups_page_links_a_non_utf8_group_by_a_token_that_names_it_exactly(web, odd_group):
    assert group_link(web) == f"/streams/chennai/groups/{url_token(odd_group)}/"
    assert name_from_token(url_token(odd_group)) == odd_group


def test_a_non_utf8_group_opens_from_the_link_the_groups_page_shows(web, odd_group):
    page = web.get(group_link(web))

    assert page.status_code == 200
    assert escape("\\xff") in page.content.decode()


def test_the_api_answers_for_a_non_utf8_group_at_its_token(api, odd_group, redis_client):
    token = url_token(odd_group)

    assert api.get(f"/api/streams/chennai/groups/{token}").status_code == 200
    assert [c["pending"] for c in api.get(f"/api/streams/chennai/groups/{token}/consumers").json()["consumers"]] == [2]
    pending = api.get(f"/api/streams/chennai/groups/{token}/pending").json()["pending"]
    assert [entry["id"] for entry in pending] == ["1-0", "2-0"]
    assert post_json(api, f"/api/streams/chennai/groups/{token}/ack", {"ids": ["1-0"]}).json() == {"acked": 1}
    claimed = post_json(api, f"/api/streams/chennai/groups/{token}/claim", {"ids": ["2-0"], "consumer": "bob"})
    assert claimed.json() == {"claimed": ["2-0"]}
    assert post_json(api, f"/api/streams/chennai/groups/{token}/setid", {"id": "0"}).status_code == 200
    assert api.delete(f"/api/streams/chennai/groups/{token}").status_code == 200
    assert redis_client.xinfo_groups("chennai") == []
