"""Search inside a range: `filter=` on the entries API and on the stream page. Only the
matching entries, how far a page scanned (`scanned_to`), a 400 that names the position of a
bad filter, and `next` followed until null giving exactly the matches, once each, in order."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.doors.test_api import entries_url, get_json
from tests.doors.test_pages import entry_ids, errors, link, page, stream_url, text_of

HOT = "temperature > 40 and humidity < 20"


def fill(redis_client, name: str = "chennai", count: int = 300) -> list[str]:
    """`count` readings, one a millisecond; every 7th is hot and dry, every 11th has a note.
    Returns the IDs that HOT matches, oldest first."""
    pipe = redis_client.pipeline(transaction=False)
    hot = []
    for n in range(1, count + 1):
        fields = {"temperature": "41.5" if n % 7 == 0 else "25", "humidity": "12" if n % 7 == 0 else "60"}
        if n % 11 == 0:
            fields = {"note": "Storm warning" if n % 22 == 0 else "calm", "wind speed": str(n)}
        elif n % 7 == 0:
            hot.append(f"{n}-0")
        pipe.xadd(name, fields, id=f"{n}-0")
    pipe.execute()
    return hot


def follow(api, url: str) -> tuple[list[str], list[dict]]:
    ids, bodies = [], []
    while url is not None:
        body = get_json(api, url)
        bodies.append(body)
        ids.extend(entry["id"] for entry in body["entries"])
        url = body["next"]
        assert len(bodies) < 500, "`next` never ends"
    return ids, bodies


# --- the API -------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_following_next_gives_exactly_the_matching_entries(api, redis_client, order):
    hot = fill(redis_client)
    ids, bodies = follow(api, entries_url("chennai", filter=HOT, count=5, order=order))
    assert ids == (hot if order == "asc" else hot[::-1])
    assert all(set(body) == {"entries", "next", "scanned", "scanned_to"} for body in bodies)
    for body in bodies:
        for entry in body["entries"]:
            assert float(entry["fields"]["temperature"]) > 40 and float(entry["fields"]["humidity"]) < 20
        if body["next"] is not None:
            # The next page continues after where this one's scan stopped, with the same filter.
            query = parse_qs(urlsplit(body["next"]).query)
            assert query["after"] == [body["scanned_to"]] and query["filter"] == [HOT]
        else:
            assert body["scanned_to"] is None
    assert bodies[0]["scanned"] > 5  # it read past the entries that do not match


def test_a_page_stops_at_its_scan_budget_and_says_where(api, redis_client, settings):
    settings.WEATHERSTREAMS_FILTER_SCAN_BUDGET = 40
    hot = fill(redis_client)
    body = get_json(api, entries_url("chennai", filter="temperature > 40", count=50))
    assert [entry["id"] for entry in body["entries"]] == [f"{n}-0" for n in range(7, 41, 7) if n % 11]
    assert body["scanned"] == 40 and body["scanned_to"] == "40-0"
    assert parse_qs(urlsplit(body["next"]).query)["after"] == ["40-0"]
    ids, bodies = follow(api, entries_url("chennai", filter="temperature > 40", count=50))
    assert ids == hot
    assert all(body["scanned"] <= 40 for body in bodies)
    assert len(bodies) == 8  # 300 entries, 40 a page


def test_a_filter_that_matches_nothing_answers_quickly_with_a_way_on(api, redis_client, settings):
    settings.WEATHERSTREAMS_FILTER_SCAN_BUDGET = 100
    fill(redis_client)
    body = get_json(api, entries_url("chennai", filter="temperature > 99"))
    assert body["entries"] == [] and body["scanned"] == 100 and body["scanned_to"] == "100-0"
    ids, bodies = follow(api, body["next"])
    assert ids == [] and bodies[-1]["next"] is None and bodies[-1]["scanned_to"] is None


def test_text_quoting_and_missing_fields(api, redis_client):
    fill(redis_client, count=44)
    storms = get_json(api, entries_url("chennai", filter='note ~ "STORM"'))
    assert [entry["id"] for entry in storms["entries"]] == ["22-0", "44-0"]
    windy = get_json(api, entries_url("chennai", filter='"wind speed" >= 33'))
    assert [entry["id"] for entry in windy["entries"]] == ["33-0", "44-0"]
    # The entries with a note have no temperature: `not` takes them in, a comparison does not.
    without = get_json(api, entries_url("chennai", filter="not temperature > 0"))
    assert [entry["id"] for entry in without["entries"]] == ["11-0", "22-0", "33-0", "44-0"]
    assert get_json(api, entries_url("chennai", filter="temperature <= 0"))["entries"] == []


def test_the_filter_works_with_bounds_and_cursors(api, redis_client):
    hot = fill(redis_client)
    ids, _ = follow(api, entries_url("chennai", filter=HOT, start="50", end="150", count=3))
    assert ids == [entry for entry in hot if 50 <= int(entry.split("-")[0]) <= 150]
    after = get_json(api, entries_url("chennai", filter=HOT, after="280-0"))
    assert [entry["id"] for entry in after["entries"]] == [entry for entry in hot if int(entry.split("-")[0]) > 280]


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("temperature > warm", 14, 'quote text, as in "warm"'),
        ("temperature > 40 and", 20, "Expected a field name"),
        ("(temperature > 40", 17, "Expected “)”"),
        ('note ~ "storm', 7, "never closed"),
        ("temperature == 40", 12, "write = to compare"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_position(api, redis_client, text, position, words):
    fill(redis_client, count=3)
    body = get_json(api, entries_url("chennai", filter=text), status=400)
    assert set(body) == {"error", "field", "position"}
    assert body["field"] == "filter" and body["position"] == position
    assert words in body["error"] and f"position {position}" in body["error"]


def test_other_bad_input_is_answered_as_before(api, redis_client):
    fill(redis_client, count=3)
    assert set(get_json(api, entries_url("chennai", count="lots", filter=HOT), status=400)) == {"error"}


def test_unfiltered_answers_are_unchanged(api, redis_client):
    fill(redis_client, count=3)
    for params in ({}, {"filter": ""}, {"filter": "   "}):
        body = get_json(api, entries_url("chennai", **params))
        assert set(body) == {"entries", "next"} and len(body["entries"]) == 3


def test_a_filtered_missing_stream_is_404(api, redis_client):
    assert "no stream called" in get_json(api, entries_url("nowhere", filter=HOT), status=404)["error"]


# --- the stream page -------------------------------------------------------------------------


def test_the_stream_page_searches_and_pages_through_the_matches(web, redis_client):
    hot = fill(redis_client)
    first = page(web, stream_url("chennai", filter=HOT, count=10))
    assert 'name="filter"' in first and html.escape(HOT, quote=True) in first
    shown, url, body = [], stream_url("chennai", filter=HOT, count=10), first
    while url is not None:
        body = page(web, url)
        shown.extend(entry_ids(body))
        url = link(body, "next")
        assert len(shown) <= len(hot)
    assert shown == hot
    assert "Scanned" in text_of(body) and "to the end of the range" in text_of(body)
    # The export link carries the range and the filter to the export form.
    export = html.unescape(re.search(r'href="(/jobs/\?[^"]+)"', first).group(1))
    assert parse_qs(urlsplit(export).query)["filter"] == [HOT]
    form = page(web, export)
    assert html.escape(HOT, quote=True) in form


def test_the_stream_page_shows_its_progress_and_continues(web, redis_client, settings):
    settings.WEATHERSTREAMS_FILTER_SCAN_BUDGET = 100
    fill(redis_client)
    body = page(web, stream_url("chennai", filter="temperature > 99"))
    progress = text_of(re.search(r'<p class="scan-progress"[^>]*>(.*?)</p>', body, re.S).group(1))
    assert "Scanned 100 entries up to 100-0" in progress and "at most 100 entries" in progress
    assert "No matching entries in the part of the range scanned so far." in body
    continue_url = html.unescape(re.search(r'<a href="([^"]+)">Continue scanning</a>', body).group(1))
    assert continue_url == link(body, "next")
    assert parse_qs(urlsplit(continue_url).query)["after"] == ["100-0"]
    last = page(web, link(page(web, continue_url), "next"))
    assert "No entries in this range match the filter." in last and link(last, "next") is None


def test_a_bad_filter_on_the_page_is_a_400_on_the_filter_field(web, redis_client):
    fill(redis_client, count=3)
    body = page(web, stream_url("chennai", filter="temperature > warm"), status=400)
    assert "at position 14 of the filter" in errors(body)
    field = re.search(r'<div class="field filter-field has-error">(.*?)</div>\s*<div class="field">', body, re.S)
    assert field is not None and "at position 14" in text_of(field.group(1))
