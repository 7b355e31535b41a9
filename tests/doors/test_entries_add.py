"""Adding entries with any fields: `POST /api/streams/<stream>/entries`, the add-entry page and
the entry page's "add again". Rules and messages (domain/entries.py), roles (operators may,
viewers get 403), the audit trail, internal streams, and that a refusal writes nothing.
(The ID rules are the readings' own: tests/doors/test_ingest_contract.py runs its cases
through these doors too.)"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils.html import escape

from streams_app.domain.entries import MAX_FIELDS, MAX_NAME_CHARS, MAX_TOTAL_CHARS, MAX_VALUE_CHARS
from streams_app.domain.names import key_bytes, url_token
from streams_app.gateway.keys import dead_letter_key
from streams_app.gateway.types import MAX_PART
from streams_app.models import AuditEvent
from streams_app.team.roles import OPERATORS


def entries_url(stream: str) -> str:
    return f"/api/streams/{quote(url_token(stream), safe='')}/entries"


def add_page(stream: str) -> str:
    return f"/streams/{quote(url_token(stream), safe='')}/entries/add/"


def again_url(stream: str, entry_id: str) -> str:
    return f"/streams/{quote(url_token(stream), safe='')}/entries/{entry_id}/again/"


def post_json(client: Client, path: str, body, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data, content_type="application/json", **extra)


def snapshot(r) -> dict:
    return {key: (r.type(key), r.xrange(key) if r.type(key) == b"stream" else None) for key in r.keys("*")}


def csrf(client: Client) -> str:
    client.get("/streams/")  # any page with a form sets the cookie
    return client.cookies["csrftoken"].value


@pytest.fixture
def operator(role_client):
    return role_client(OPERATORS)


@pytest.fixture
def viewer(role_client):
    return role_client(None)


def api_client_of(browser: Client) -> Client:
    """A token client for the user of a role_client browser."""
    from streams_app.models import ApiToken

    _, key = ApiToken.objects.issue(user=browser.user, name="tests")
    return Client(HTTP_AUTHORIZATION=f"Token {key}")


# --- the API ---------------------------------------------------------------------------------


def test_post_an_entry_with_any_fields(api, redis_client):
    body = {"fields": {"note": "storm <b>", "temperature": 26, "ratio": 0.5, "ok": True, "off": False, "empty": ""}}
    response = post_json(api, entries_url("weather-notes"), body)
    assert response.status_code == 201, response.content
    new_id = response.json()["id"]
    assert set(response.json()) == {"id"}
    [(raw_id, fields)] = redis_client.xrange("weather-notes")
    assert raw_id.decode() == new_id
    assert list(fields.items()) == [
        (b"note", b"storm <b>"),
        (b"temperature", b"26"),
        (b"ratio", b"0.5"),
        (b"ok", b"true"),
        (b"off", b"false"),
        (b"empty", b""),
    ]


def test_post_an_entry_with_an_explicit_id_and_one_that_does_not_grow(api, redis_client):
    response = post_json(api, entries_url("notes"), {"fields": {"a": "1"}, "id": "5-1"})
    assert (response.status_code, response.json()) == (201, {"id": "5-1"})
    response = post_json(api, entries_url("notes"), {"fields": {"a": "2"}, "id": "5"})
    assert response.status_code == 409
    assert (
        response.json()["error"]
        == "The ID 5-0 is not greater than the last ID of “notes” (5-1): IDs in a stream must grow."
    )
    assert redis_client.xlen("notes") == 1


def test_any_stream_name_a_url_can_carry(api, redis_client):
    for name in ("new york", "a/b", "ünï", "~tilde", "."):
        response = post_json(api, entries_url(name), {"fields": {"n": name}})
        assert response.status_code == 201, (name, response.content)
        assert redis_client.xrange(key_bytes(name))[0][1] == {b"n": name.encode()}


def test_the_get_still_reads_a_range(api, redis_client):
    redis_client.xadd("chennai", {"temperature": "20"}, id="1-0")
    body = api.get("/api/streams/chennai/entries").json()
    assert body["entries"] == [{"id": "1-0", "fields": {"temperature": "20"}}]


@pytest.mark.parametrize(("method", "allowed"), [("put", "GET, POST"), ("delete", "GET, POST"), ("patch", "GET, POST")])
def test_other_methods_are_405(api, redis_client, method, allowed):
    response = getattr(api, method)("/api/streams/chennai/entries")
    assert response.status_code == 405
    assert response["Allow"] == allowed
    assert method.upper() in response.json()["error"]


def test_anonymous_is_401_and_a_session_needs_its_csrf_token(web, redis_client, db):
    response = post_json(Client(), entries_url("notes"), {"fields": {"a": "1"}})
    assert response.status_code == 401 and "Authentication required" in response.json()["error"]
    response = post_json(web, entries_url("notes"), {"fields": {"a": "1"}})
    assert response.status_code == 403 and "CSRF" in response.json()["error"]
    response = post_json(web, entries_url("notes"), {"fields": {"a": "1"}}, HTTP_X_CSRFTOKEN=csrf(web))
    assert response.status_code == 201
    assert redis_client.xlen("notes") == 1


BAD_BODIES = [
    ("not-json", "{fields", "The request body must be a JSON object."),
    ("array-body", [], "The request body must be a JSON object."),
    (
        "no-fields",
        {},
        'The entry needs fields: an object of names to values, like {"note": "storm", "temperature": 26}.',
    ),
    ("null-fields", {"fields": None}, "The entry needs fields"),
    ("fields-array", {"fields": [["a", "1"]]}, "The fields must be an object of names to values"),
    ("fields-text", {"fields": "a=1"}, "The fields must be an object of names to values"),
    ("empty-fields", {"fields": {}}, "An entry needs at least one field."),
    (
        "null-value",
        {"fields": {"a": "1", "b": None}},
        "The value of “b” must be text, a number or true/false; got null.",
    ),
    (
        "object-value",
        {"fields": {"nested": {"x": 1}}},
        "The value of “nested” must be text, a number or true/false; got an object.",
    ),
    (
        "array-value",
        {"fields": {"list": [1]}},
        "The value of “list” must be text, a number or true/false; got an array.",
    ),
    ("infinite-value", '{"fields": {"t": 1e400}}', "The value of “t” must be a finite number, not inf."),
    ("empty-name", {"fields": {"": "x"}}, "A field name cannot be empty."),
    (
        "newline-name",
        {"fields": {"a\nb": "x"}},
        "The field name “a\\x0ab” holds \\x0a, a control or invisible character",
    ),
    (
        "long-name",
        {"fields": {"n" * (MAX_NAME_CHARS + 1): "x"}},
        f"characters long; at most {MAX_NAME_CHARS} are allowed.",
    ),
    (
        "long-value",
        {"fields": {"v": "x" * (MAX_VALUE_CHARS + 1)}},
        "The value of “v” is 65,537 characters long; at most 65,536 are allowed.",
    ),
    (
        "too-many",
        {"fields": {f"f{index}": "x" for index in range(MAX_FIELDS + 1)}},
        "An entry has at most 100 fields; got 101.",
    ),
    (
        "too-much",
        {"fields": {f"f{index}": "x" * 60_000 for index in range(5)}},
        f"at most {MAX_TOTAL_CHARS:,} are allowed.",
    ),
    ("surrogate-value", {"fields": {"a": "\ud800"}}, "The value of “a” holds a lone surrogate, which is not text."),
    ("surrogate-name", {"fields": {"\udcff": "x"}}, "holds a lone surrogate, which is not text."),
    ("id-number", {"fields": {"a": "1"}, "id": 5}, "The ID must be text, like 1534866436902-0."),
    ("id-text", {"fields": {"a": "1"}, "id": "abc"}, "“abc” is not a valid entry ID"),
    ("id-zero", {"fields": {"a": "1"}, "id": "0-0"}, "The ID must be greater than 0-0."),
    ("fields-and-id-bad", {"fields": {"a": None}, "id": "abc"}, "The value of “a”"),  # fields first, as readings
]


@pytest.mark.parametrize(("body", "words"), [case[1:] for case in BAD_BODIES], ids=[case[0] for case in BAD_BODIES])
def test_bad_bodies_are_400_with_their_message_and_write_nothing(api, redis_client, body, words):
    redis_client.xadd("notes", {"a": "0"}, id="1-0")
    before = snapshot(redis_client)
    response = post_json(api, entries_url("notes"), body)
    assert response.status_code == 400, response.content[:300]
    assert words in response.json()["error"]
    assert snapshot(redis_client) == before


@pytest.mark.parametrize("stream", ["weatherstreams:heartbeats", "rq:queue:default", "{chennai}:dead"])
def test_internal_streams_are_refused(api, operator, redis_client, stream):
    redis_client.xadd(key_bytes(stream), {"a": "0"}, id="1-0")
    before = snapshot(redis_client)
    response = post_json(api, entries_url(stream), {"fields": {"a": "1"}})
    assert response.status_code == 400
    assert "not a user stream: entries cannot be added to it." in response.json()["error"]
    response = operator.post(add_page(stream), {"field_lines": "a=1", "csrfmiddlewaretoken": csrf(operator)})
    assert response.status_code == 400
    assert "not a user stream: entries cannot be added to it." in response.content.decode()
    response = operator.post(again_url(stream, "1-0"), {"csrfmiddlewaretoken": csrf(operator)})
    assert response.status_code == 302
    assert "not a user stream" in " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert snapshot(redis_client) == before


@pytest.mark.parametrize("entry_id", [None, "7-0", f"{MAX_PART}-{MAX_PART}"])
def test_a_stream_at_the_top_of_the_id_space_is_409(api, redis_client, entry_id):
    redis_client.xadd("notes", {"a": "0"}, id=f"{MAX_PART}-{MAX_PART}")
    body = {"fields": {"a": "1"}} | ({} if entry_id is None else {"id": entry_id})
    response = post_json(api, entries_url("notes"), body)
    assert response.status_code == 409
    assert "has used the last possible ID" in response.json()["error"]
    assert redis_client.xlen("notes") == 1


def test_a_key_that_is_not_a_stream_is_409(api, redis_client):
    redis_client.set("word", "x")
    response = post_json(api, entries_url("word"), {"fields": {"a": "1"}})
    assert response.status_code == 409
    assert response.json()["error"] == "The key “word” holds a string, not a stream."
    assert redis_client.get("word") == b"x"


# --- roles and the audit trail ---------------------------------------------------------------


def test_a_viewer_is_refused_everywhere_and_the_refusals_are_recorded(viewer, redis_client):
    redis_client.xadd("notes", {"a": "0"}, id="1-0")
    before = snapshot(redis_client)
    token = csrf(viewer)
    answers = [
        post_json(api_client_of(viewer), entries_url("notes"), {"fields": {"a": "1"}}),
        viewer.post(add_page("notes"), {"field_lines": "a=1", "csrfmiddlewaretoken": token}),
        viewer.post(again_url("notes", "1-0"), {"csrfmiddlewaretoken": token}),
    ]
    for response in answers:
        assert response.status_code == 403
        assert "You are not allowed to add entries: that needs the operators role" in response.content.decode()
    assert snapshot(redis_client) == before
    refused = AuditEvent.objects.filter(username=viewer.user.username, action="add_entry")
    assert sorted(refused.values_list("door", flat=True)) == ["api", "page", "page"]
    assert all(not event.succeeded and event.outcome.startswith("refused:") for event in refused)


def test_a_viewer_sees_the_buttons_disabled_with_the_reason(viewer, redis_client):
    redis_client.xadd("notes", {"a": "0"}, id="1-0")
    body = viewer.get("/streams/notes/entries/1-0/").content.decode()
    assert re.search(
        r'<button type="submit" class="secondary" disabled title="needs the operators role">Add again', body
    )
    body = viewer.get(add_page("notes")).content.decode()
    assert re.search(r'<button type="submit" disabled title="needs the operators role">Add entry', body)


def test_an_operator_adds_and_each_addition_is_recorded(operator, redis_client):
    response = post_json(api_client_of(operator), entries_url("notes"), {"fields": {"a": "1"}, "id": "7-0"})
    assert response.status_code == 201
    response = operator.post(add_page("notes"), {"field_lines": "b=2", "csrfmiddlewaretoken": csrf(operator)})
    assert response.status_code == 302
    response = post_json(api_client_of(operator), entries_url("notes"), {"fields": {"a": "1"}, "id": "7-0"})
    assert response.status_code == 409
    events = list(AuditEvent.objects.filter(username=operator.user.username, action="add_entry").order_by("id"))
    assert [(e.door, e.stream, e.succeeded) for e in events] == [
        ("api", "notes", True),
        ("page", "notes", True),
        ("api", "notes", False),
    ]
    assert events[0].outcome == "added 7-0" and events[0].detail == {"id": "7-0"}
    assert events[1].outcome.startswith("added ") and events[1].detail == {"id": "*"}
    assert events[2].outcome.startswith("failed: The ID 7-0 is not greater")


# --- the add-entry page ----------------------------------------------------------------------


def test_the_page_adds_name_value_lines_and_opens_the_new_entry(operator, redis_client):
    redis_client.xadd("notes", {"a": "0"}, id="1-0")
    lines = "note=storm = big\r\n\r\n  temperature =26\nspaced=  kept  \nempty=\n"
    response = operator.post(add_page("notes"), {"field_lines": lines, "id": "", "csrfmiddlewaretoken": csrf(operator)})
    assert response.status_code == 302
    [(raw_id, fields)] = redis_client.xrevrange("notes", count=1)
    assert response["Location"] == f"/streams/notes/entries/{raw_id.decode()}/"
    assert list(fields.items()) == [
        (b"note", b"storm = big"),
        (b"temperature", b"26"),
        (b"spaced", b"  kept  "),
        (b"empty", b""),
    ]
    assert [str(m) for m in get_messages(response.wsgi_request)] == [f"Added entry {raw_id.decode()} to notes."]


def test_the_page_creates_a_stream_and_says_it_will(operator, redis_client):
    body = operator.get(add_page("brand-new")).content.decode()
    assert "There is no stream called “brand-new” yet: adding an entry creates it." in body
    assert 'name="field_lines"' in body and 'name="id"' in body
    response = operator.post(
        add_page("brand-new"), {"field_lines": "a=1", "id": "3-0", "csrfmiddlewaretoken": csrf(operator)}
    )
    assert response["Location"] == "/streams/brand-new/entries/3-0/"
    assert redis_client.xrange("brand-new") == [(b"3-0", {b"a": b"1"})]


@pytest.mark.parametrize(
    ("lines", "entry_id", "status", "words"),
    [
        ("", "", 400, "An entry needs at least one field."),
        ("a=1\nno equals here", "", 400, "Line 2 has no “=”: write each field as name=value, like note=storm."),
        ("a=1\nb=2\na=3", "", 400, "The field “a” is given twice (again on line 3)."),
        ("=value", "", 400, "A field name cannot be empty."),
        ("a=1", "abc", 400, "“abc” is not a valid entry ID"),
        ("a=1", "1-0", 409, "The ID 1-0 is not greater than the last ID of “notes” (1-0): IDs in a stream must grow."),
    ],
)
def test_the_page_shows_what_is_wrong_and_writes_nothing(operator, redis_client, lines, entry_id, status, words):
    redis_client.xadd("notes", {"a": "0"}, id="1-0")
    before = snapshot(redis_client)
    response = operator.post(
        add_page("notes"), {"field_lines": lines, "id": entry_id, "csrfmiddlewaretoken": csrf(operator)}
    )
    assert response.status_code == status
    body = response.content.decode()
    alerts = " ".join(re.findall(r'role="alert">(.*?)</div>', body, re.S))
    assert escape(words) in alerts, alerts
    assert escape(lines) in body  # what was typed is kept in the form
    assert snapshot(redis_client) == before


# --- add again -------------------------------------------------------------------------------


def test_add_again_copies_the_entry_byte_for_byte_with_a_new_id(operator, redis_client):
    original = {
        b"temperature": b"26",
        b"blob": b"\xff\x00\xfe",
        b"literal": b"\\xff",
        b"\xfe\xfd": b"caf\xe9",
        b"j": b'{"a": 1}',
    }
    redis_client.xadd("notes", original, id="1-0")
    response = operator.post(again_url("notes", "1-0"), {"csrfmiddlewaretoken": csrf(operator)})
    assert response.status_code == 302
    [(_, first), (new_id, copy)] = redis_client.xrange("notes")
    assert new_id != b"1-0"
    assert copy == first == original
    assert list(copy) == list(original)
    assert response["Location"] == f"/streams/notes/entries/{new_id.decode()}/"
    assert f"Added entry {new_id.decode()} to notes, a copy of 1-0." in [
        str(m) for m in get_messages(response.wsgi_request)
    ]
    event = AuditEvent.objects.get(action="add_entry")
    assert (event.door, event.stream, event.detail, event.succeeded) == ("page", "notes", {"copy_of": "1-0"}, True)
    assert event.outcome == f"added {new_id.decode()}, a copy of 1-0"


def test_add_again_of_a_missing_entry_is_404_and_only_post_is_allowed(operator, redis_client):
    redis_client.xadd("notes", {"a": "0"}, id="1-0")
    response = operator.post(again_url("notes", "2-0"), {"csrfmiddlewaretoken": csrf(operator)})
    assert response.status_code == 404
    assert "“notes” has no entry 2-0" in response.content.decode()
    assert operator.get(again_url("notes", "1-0")).status_code == 405
    assert redis_client.xlen("notes") == 1


def test_add_again_on_an_exhausted_stream_says_why_on_the_entry_page(operator, redis_client):
    top = f"{MAX_PART}-{MAX_PART}"
    redis_client.xadd("notes", {"a": "0"}, id=top)
    response = operator.post(again_url("notes", top), {"csrfmiddlewaretoken": csrf(operator)})
    assert response.status_code == 302
    assert response["Location"] == f"/streams/notes/entries/{top}/"
    assert any("has used the last possible ID" in str(m) for m in get_messages(response.wsgi_request))
    assert redis_client.xlen("notes") == 1


def test_add_again_of_a_dead_letter_is_refused(operator, redis_client):
    dead = dead_letter_key("chennai")
    redis_client.xadd(dead, {"stream": "chennai"}, id="1-0")
    body = operator.get(f"/streams/{quote(url_token(dead), safe='')}/entries/1-0/").content.decode()
    assert "Add again" not in body  # internal: the page offers no additions
    response = operator.post(again_url(dead, "1-0"), {"csrfmiddlewaretoken": csrf(operator)})
    assert response.status_code == 302
    assert redis_client.xlen(dead) == 1
