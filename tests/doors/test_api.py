"""The JSON API: shapes, paging by `next`, bounds, errors and authentication."""

from __future__ import annotations

import json
import re
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from streams_app.domain.names import key_bytes, url_token


@pytest.fixture
def anonymous(redis_client):
    return Client()


def entries_url(name: str, **params) -> str:
    path = f"/api/streams/{quote(url_token(name), safe='')}/entries"
    if params:
        from urllib.parse import urlencode

        path += "?" + urlencode(params)
    return path


def readings_url(name: str) -> str:
    return f"/api/streams/{quote(url_token(name), safe='')}/readings"


def add(r, name: str, entry_id: str, **fields) -> None:
    r.xadd(key_bytes(name), fields or {"temperature": "20", "humidity": "50"}, id=entry_id)


def get_json(client: Client, url: str, status: int = 200) -> dict:
    response = client.get(url)
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/json"
    return response.json()


def follow_entries(client: Client, url: str, limit: int = 10_000) -> tuple[list[str], int]:
    """Every entry ID reached by following `next` from `url`, and how many pages it took."""
    ids: list[str] = []
    pages = 0
    while url is not None:
        body = get_json(client, url)
        assert set(body) == {"entries", "next"}
        ids.extend(entry["id"] for entry in body["entries"])
        url = body["next"]
        pages += 1
        assert pages <= limit, "`next` never ends"
    return ids, pages


def redis_ids(r, name: str, *, reverse: bool = False, low="-", high="+") -> list[str]:
    rows = r.xrevrange(key_bytes(name), high, low) if reverse else r.xrange(key_bytes(name), low, high)
    return [raw_id.decode() for raw_id, _ in rows]


# --- GET /api/streams/ -----------------------------------------------------------------


def test_streams_list_shape(api, redis_client):
    for seq in range(3):
        add(redis_client, "chennai", f"1000-{seq}")
    add(redis_client, "coimbatore", "2000-0")
    redis_client.xgroup_create("coimbatore", "mygroup", id="0")
    redis_client.xgroup_create("coimbatore", "other", id="$")
    redis_client.set("a-string", "x")
    redis_client.hset("a-hash", mapping={"a": "b"})

    body = get_json(api, "/api/streams/")
    assert set(body) == {"streams", "next"}
    assert body["next"] is None
    by_name = {stream["name"]: stream for stream in body["streams"]}
    assert set(by_name) == {"chennai", "coimbatore"}
    chennai, coimbatore = by_name["chennai"], by_name["coimbatore"]
    assert {"name", "length", "first_id", "last_id", "groups"} <= set(chennai)
    assert (chennai["length"], chennai["first_id"], chennai["last_id"], chennai["groups"]) == (3, "1000-0", "1000-2", 0)
    assert (coimbatore["length"], coimbatore["first_id"], coimbatore["last_id"], coimbatore["groups"]) == (
        1,
        "2000-0",
        "2000-0",
        2,
    )
    assert chennai["memory_bytes"] == redis_client.memory_usage("chennai", samples=0)
    # Each stream links to its entries.
    ids, _ = follow_entries(api, chennai["url"])
    assert ids == ["1000-0", "1000-1", "1000-2"]


def test_empty_stream_has_no_first_or_last_entry(api, redis_client):
    add(redis_client, "chennai", "5-0")
    redis_client.xdel("chennai", "5-0")
    (stream,) = get_json(api, "/api/streams/")["streams"]
    assert (stream["name"], stream["length"], stream["first_id"], stream["last_id"]) == ("chennai", 0, None, None)


def test_streams_list_pages_reach_every_stream_among_many_other_keys(api, redis_client):
    pipe = redis_client.pipeline(transaction=False)
    for index in range(3000):
        kind = index % 3
        if kind == 0:
            pipe.set(f"other:string:{index}", "x")
        elif kind == 1:
            pipe.hset(f"other:hash:{index}", "f", "v")
        else:
            pipe.rpush(f"other:list:{index}", "v")
    streams = {f"city-{index:03d}" for index in range(120)}
    for name in streams:
        pipe.xadd(name, {"temperature": "1", "humidity": "2"}, id="1-1")
    pipe.execute()

    seen: list[str] = []
    url, pages = "/api/streams/", 0
    while url is not None:
        body = get_json(api, url)
        seen.extend(stream["name"] for stream in body["streams"])
        assert all(stream["length"] == 1 for stream in body["streams"])
        url = body["next"]
        if url is not None:  # a cluster's cursor is <primary>.<cursor>
            assert re.match(r"https?://testserver/api/streams/\?cursor=(\d+\.)?\d+$", url), url
        pages += 1
        assert pages < 200
    assert pages > 1, "a keyspace this size should take several pages"
    assert set(seen) == streams  # SCAN may repeat a key across pages, but never misses one


# --- GET /api/streams/<stream>/entries ----------------------------------------------------


def test_entries_shape_and_following_next(api, redis_client):
    for ms in range(1, 26):
        add(redis_client, "chennai", f"{ms}-0", temperature=str(ms), humidity="50")
    body = get_json(api, entries_url("chennai", count=10))
    assert set(body) == {"entries", "next"}
    assert body["entries"][0] == {"id": "1-0", "fields": {"temperature": "1", "humidity": "50"}}
    assert len(body["entries"]) == 10
    assert re.match(r"https?://testserver/api/streams/chennai/entries\?", body["next"])

    ids, pages = follow_entries(api, entries_url("chennai", count=10))
    assert ids == redis_ids(redis_client, "chennai")
    assert pages == 3
    ids, _ = follow_entries(api, entries_url("chennai", count=10, order="desc"))
    assert ids == redis_ids(redis_client, "chennai", reverse=True)


def test_last_page_has_no_next(api, redis_client):
    for ms in range(1, 11):
        add(redis_client, "chennai", f"{ms}-0")
    body = get_json(api, entries_url("chennai", count=10))
    assert len(body["entries"]) == 10
    assert body["next"] is None


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(("count", "per_ms"), [(1, 40), (17, 1000), (999, 1000), (1000, 1000)])
def test_paging_never_skips_or_repeats_within_a_millisecond(api, redis_client, order, count, per_ms):
    pipe = redis_client.pipeline(transaction=False)
    pipe.xadd("chennai", {"t": "a"}, id="4-0")
    for seq in range(per_ms):
        pipe.xadd("chennai", {"t": str(seq)}, id=f"5-{seq}")
    pipe.xadd("chennai", {"t": "z"}, id="6-0")
    pipe.execute()
    ids, _ = follow_entries(api, entries_url("chennai", count=count, order=order))
    assert ids == redis_ids(redis_client, "chennai", reverse=order == "desc")
    # Bounds given as a bare millisecond cover every entry of that millisecond.
    ids, _ = follow_entries(api, entries_url("chennai", start="5", end="5", count=count, order=order))
    assert ids == redis_ids(redis_client, "chennai", reverse=order == "desc", low="5", high="5")
    assert len(ids) == per_ms


def test_bounds_as_ids(api, redis_client):
    for ms in range(1, 6):
        for seq in range(3):
            add(redis_client, "chennai", f"{ms}-{seq}")
    ids, _ = follow_entries(api, entries_url("chennai", start="2-1", end="4", count=4))
    assert ids == redis_ids(redis_client, "chennai", low="2-1", high="4")
    ids, _ = follow_entries(api, entries_url("chennai", start="-", end="+", order="desc", count=4))
    assert ids == redis_ids(redis_client, "chennai", reverse=True)
    ids, _ = follow_entries(api, entries_url("chennai", start="3-2", end="3-2"))
    assert ids == ["3-2"]


def test_count_defaults_to_50_and_is_clamped_to_1000(api, redis_client):
    pipe = redis_client.pipeline(transaction=False)
    for seq in range(1200):
        pipe.xadd("chennai", {"t": "1"}, id=f"9-{seq}")
    pipe.execute()
    assert len(get_json(api, entries_url("chennai"))["entries"]) == 50
    body = get_json(api, entries_url("chennai", count="1000000000000"))
    assert len(body["entries"]) == 1000
    assert body["next"] is not None
    assert len(get_json(api, body["next"])["entries"]) == 200


@pytest.mark.parametrize(
    ("count", "words"),
    [
        ("0", "at least 1"),
        ("-5", "at least 1"),
        ("abc", "whole number"),
        ("1.5", "whole number"),
        ("1e3", "whole number"),
    ],
)
def test_bad_count_is_400_with_a_message(api, redis_client, count, words):
    add(redis_client, "chennai", "1-0")
    body = get_json(api, entries_url("chennai", count=count), status=400)
    assert words in body["error"]
    assert count in body["error"]


def test_bad_order_is_400(api, redis_client):
    add(redis_client, "chennai", "1-0")
    body = get_json(api, entries_url("chennai", order="sideways"), status=400)
    assert "asc" in body["error"] and "desc" in body["error"]


@pytest.mark.parametrize(("start", "end"), [("10", "5"), ("5-3", "5-2"), ("+", "-"), ("2024-05-02", "2024-05-01")])
def test_start_after_end_is_an_empty_page(api, redis_client, start, end):
    for ms in range(1, 12):
        add(redis_client, "chennai", f"{ms}-0")
    body = get_json(api, entries_url("chennai", start=start, end=end))
    assert body == {"entries": [], "next": None}


@pytest.mark.parametrize(
    ("field", "value"),
    [("start", "yesterday"), ("end", "2024-13-45"), ("start", "12:30"), ("end", "1-2-3"), ("start", "(abc")],
)
def test_bounds_that_do_not_parse_are_400(api, redis_client, field, value):
    add(redis_client, "chennai", "1-0")
    body = get_json(api, entries_url("chennai", **{field: value}), status=400)
    assert value.lstrip("(") in body["error"]


def test_date_time_bounds_are_read_in_the_site_time_zone(api, redis_client, settings):
    settings.TIME_ZONE = "Asia/Kolkata"
    india = ZoneInfo("Asia/Kolkata")

    def ms(*parts, micro=0):
        return int(datetime(*parts, microsecond=micro, tzinfo=india).timestamp() * 1000)

    moments = {
        "before": ms(2024, 5, 1, 13, 29, 59, micro=999_000),
        "start": ms(2024, 5, 1, 13, 30),
        "inside": ms(2024, 5, 1, 13, 30, 30),
        "end": ms(2024, 5, 1, 13, 31),
        "after": ms(2024, 5, 1, 13, 31, micro=1000),
        "day-start": ms(2024, 5, 1, 0, 0),
        "day-end": ms(2024, 5, 1, 23, 59, 59, micro=999_000),
        "next-day": ms(2024, 5, 2, 0, 0),
        "previous-day": ms(2024, 4, 30, 23, 59, 59, micro=999_000),
    }
    for moment in sorted(moments.values()):
        add(redis_client, "chennai", f"{moment}-0")
        add(redis_client, "chennai", f"{moment}-1")

    def ids_between(start, end):
        return follow_entries(api, entries_url("chennai", start=start, end=end, count=3))[0]

    expected = [f"{moments[key]}-{seq}" for key in ("start", "inside", "end") for seq in (0, 1)]
    assert ids_between("2024-05-01 13:30", "2024-05-01 13:31") == expected
    assert ids_between("2024-05-01T13:30:00+05:30", "2024-05-01T08:01:00Z") == expected
    # A bare date as the end means the whole day, in the site's time zone.
    whole_day = ids_between("2024-05-01", "2024-05-01")
    assert whole_day[0] == f"{moments['day-start']}-0"
    assert whole_day[-1] == f"{moments['day-end']}-1"
    assert f"{moments['next-day']}-0" not in whole_day
    assert f"{moments['previous-day']}-1" not in whole_day


def test_no_such_stream_is_404(api, redis_client):
    body = get_json(api, entries_url("nowhere"), status=404)
    assert "nowhere" in body["error"]


def test_key_that_is_not_a_stream_is_409(api, redis_client):
    redis_client.set("chennai", "hello")
    body = get_json(api, entries_url("chennai"), status=409)
    assert "not a stream" in body["error"]
    # Even when the range is empty, a string is not reported as an empty stream.
    body = get_json(api, entries_url("chennai", start="10", end="5"), status=409)
    assert "not a stream" in body["error"]


def test_field_values_that_are_not_utf8_are_escaped(api, redis_client):
    redis_client.xadd("chennai", {b"note": b"caf\xff", b"\xfe": b"x"}, id="1-0")
    (entry,) = get_json(api, entries_url("chennai"))["entries"]
    assert entry == {"id": "1-0", "fields": {"note": "caf\\xff", "\\xfe": "x"}}


ODD_NAMES = [
    "new york",
    "a/b",
    "münchen",
    "東京",
    "what?",
    "100%",
    "100%41",
    "a#b",
    "~tilde",
    "caf\udce9",
    "line\nbreak",
    "+",
]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_next_links_of_odd_stream_names_stay_on_the_stream(api, redis_client, name):
    for seq in range(3):
        redis_client.xadd(key_bytes(name), {"n": str(seq)}, id=f"1-{seq}")
    ids, pages = follow_entries(api, entries_url(name, count=1))
    assert ids == ["1-0", "1-1", "1-2"]
    assert pages == 3


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_stream_names_are_reachable_through_their_listed_urls(api, redis_client, name):
    for seq in range(3):
        redis_client.xadd(key_bytes(name), {"n": str(seq)}, id=f"1-{seq}")
    redis_client.xadd("plain", {"n": "0"}, id="1-0")
    streams = get_json(api, "/api/streams/")["streams"]
    (stream,) = [stream for stream in streams if stream["name"] != "plain"]
    # The `url` of the listing leads to this stream, and its `next` links stay on it.
    ids, pages = follow_entries(api, stream["url"] + "?count=1")
    assert ids == ["1-0", "1-1", "1-2"]
    assert pages == 3


# --- POST /api/streams/<city>/readings ---------------------------------------------------


def test_post_reading_returns_201_and_the_id(api, redis_client):
    response = api.post(readings_url("chennai"), {"temperature": 26, "humidity": 10.5}, content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id"}
    ((raw_id, fields),) = redis_client.xrange("chennai")
    assert body["id"] == raw_id.decode()
    assert fields == {b"temperature": b"26", b"humidity": b"10.5"}


def test_post_reading_with_explicit_id(api, redis_client):
    response = api.post(
        readings_url("chennai"),
        {"temperature": "21.50", "humidity": "60", "id": "1534866436902-5"},
        content_type="application/json",
    )
    assert (response.status_code, response.json()) == (201, {"id": "1534866436902-5"})
    assert redis_client.xrange("chennai") == [(b"1534866436902-5", {b"temperature": b"21.5", b"humidity": b"60"})]


def test_json_numbers_and_strings_are_stored_alike(api, redis_client):
    api.post(readings_url("a"), {"temperature": 21.5, "humidity": 1e1}, content_type="application/json")
    api.post(readings_url("b"), {"temperature": "21.5", "humidity": "10"}, content_type="application/json")
    ((_, fields_a),) = redis_client.xrange("a")
    ((_, fields_b),) = redis_client.xrange("b")
    assert fields_a == fields_b == {b"temperature": b"21.5", b"humidity": b"10"}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"not json", "JSON object"),
        (b"[1, 2]", "JSON object"),
        (b"", "JSON object"),
        (b'"text"', "JSON object"),
        (b'{"temperature": true, "humidity": 5}', "Temperature must be a number"),
        (b'{"temperature": [1], "humidity": 5}', "Temperature must be a number"),
        (b'{"temperature": {"v": 1}, "humidity": 5}', "Temperature must be a number"),
        (b'{"temperature": null, "humidity": 5}', "Temperature is required"),
        (b'{"temperature": NaN, "humidity": 5}', "finite"),
        (b'{"temperature": Infinity, "humidity": 5}', "finite"),
        (b'{"temperature": 5, "humidity": -Infinity}', "finite"),
        (b'{"temperature": 1e400, "humidity": 5}', "finite"),
        (b'{"temperature": 61, "humidity": 5}', "between -90 and 60"),
        (b'{"temperature": 5, "humidity": 100.01}', "between 0 and 100"),
        (b'{"temperature": 5, "humidity": 5, "id": 7}', "The ID must be text"),
        (b'{"temperature": 5, "humidity": 5, "id": "abc"}', "not a valid entry ID"),
        (b"\xff\xfe", "JSON object"),
    ],
)
def test_bad_bodies_are_400_and_write_nothing(api, redis_client, body, words):
    response = api.post(readings_url("chennai"), data=body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert words in response.json()["error"]
    assert redis_client.dbsize() == 0


def test_id_not_above_the_last_is_409(api, redis_client):
    add(redis_client, "chennai", "5-5")
    response = api.post(
        readings_url("chennai"), {"temperature": 1, "humidity": 2, "id": "5-5"}, content_type="application/json"
    )
    assert response.status_code == 409
    assert "5-5" in response.json()["error"]
    assert redis_client.xlen("chennai") == 1


def test_posting_to_a_key_that_is_not_a_stream_is_409(api, redis_client):
    redis_client.set("chennai", "hello")
    response = api.post(readings_url("chennai"), {"temperature": 1, "humidity": 2}, content_type="application/json")
    assert response.status_code == 409
    assert "not a stream" in response.json()["error"]
    assert redis_client.get("chennai") == b"hello"


# --- authentication, methods, CSRF ------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/streams/", "/api/streams/chennai/entries"])
def test_anonymous_reads_are_401(anonymous, redis_client, path):
    add(redis_client, "chennai", "1-0")
    body = get_json(anonymous, path, status=401)
    assert "Authentication required" in body["error"]


def test_anonymous_write_is_401_and_writes_nothing(anonymous, redis_client):
    response = anonymous.post(
        readings_url("chennai"), {"temperature": 1, "humidity": 2}, content_type="application/json"
    )
    assert response.status_code == 401
    assert "error" in response.json()
    assert redis_client.dbsize() == 0


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("post", "/api/streams/", "GET"),
        ("delete", "/api/streams/", "GET"),
        ("put", "/api/streams/chennai/entries", "GET, POST"),
        ("get", "/api/streams/chennai/readings", "POST"),
        ("delete", "/api/streams/chennai/readings", "POST"),
        ("patch", "/api/streams/chennai/readings", "POST"),
    ],
)
def test_wrong_method_is_405_json(api, redis_client, method, path, allowed):
    response = getattr(api, method)(path)
    assert response.status_code == 405
    assert method.upper() in response.json()["error"]
    assert response["Allow"] == allowed
    assert redis_client.dbsize() == 0


def test_unknown_api_address_is_404_json(api, redis_client):
    body = get_json(api, "/api/nothing-here", status=404)
    assert "error" in body


def test_session_post_without_csrf_token_is_403_json(web, redis_client):
    response = web.post(readings_url("chennai"), {"temperature": 1, "humidity": 2}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    assert redis_client.dbsize() == 0


def test_session_post_with_csrf_token_works(web, redis_client):
    web.get("/readings/add/")  # a page with a form sets the CSRF cookie
    token = web.cookies["csrftoken"].value
    response = web.post(
        readings_url("chennai"),
        {"temperature": 1, "humidity": 2},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 201, response.content
    assert redis_client.xlen("chennai") == 1


def test_session_reads_work(web, redis_client):
    add(redis_client, "chennai", "1-0")
    assert [s["name"] for s in get_json(web, "/api/streams/")["streams"]] == ["chennai"]


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "token"])
def test_token_auth_needs_no_csrf(api_token, redis_client, scheme):
    script = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"{scheme} {api_token}")
    response = script.post(readings_url("chennai"), {"temperature": 1, "humidity": 2}, content_type="application/json")
    assert response.status_code == 201, response.content
    assert get_json(script, entries_url("chennai"))["entries"][0]["id"] == response.json()["id"]


@pytest.mark.parametrize("key", ["wst_not-a-real-key", "", "x" * 200])
def test_invalid_token_is_401(api_token, redis_client, key):
    script = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Token {key}")
    body = get_json(script, "/api/streams/", status=401)
    assert "not valid" in body["error"]
    response = script.post(readings_url("chennai"), {"temperature": 1, "humidity": 2}, content_type="application/json")
    assert response.status_code == 401
    assert redis_client.dbsize() == 0


def test_invalid_token_wins_over_a_session(web, redis_client):
    response = web.get("/api/streams/", HTTP_AUTHORIZATION="Token wst_wrong")
    assert response.status_code == 401


def test_inactive_users_token_is_401(api_token, user, redis_client):
    user.is_active = False
    user.save()
    script = Client(HTTP_AUTHORIZATION=f"Token {api_token}")
    assert script.get("/api/streams/").status_code == 401


def test_reading_posted_by_api_is_readable_by_api(api, redis_client):
    ids = []
    for temperature in ("20", "21", "22"):
        response = api.post(
            readings_url("chennai"),
            json.dumps({"temperature": temperature, "humidity": "40"}),
            content_type="application/json",
        )
        ids.append(response.json()["id"])
    body = get_json(api, entries_url("chennai", order="desc"))
    assert [entry["id"] for entry in body["entries"]] == ids[::-1]
    assert [entry["fields"]["temperature"] for entry in body["entries"]] == ["22", "21", "20"]
