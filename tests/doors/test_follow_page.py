"""Pages that follow: the stream page offers its follow switch (and loads follow.js) exactly
when its window reaches the stream's newest entry (end `+`, nothing beyond it in the page's
direction), and says so when a filter keeps it from following; the group page's processed list
shows 20 rows with "show more"."""

from __future__ import annotations

import html
import re

import pytest

from tests.doors.test_pages import page, stream_url

MAX_PART = 2**64 - 1


def fill(redis_client, count: int, name: str = "chennai") -> list[str]:
    """`count` readings with IDs 1-0, 2-0, …; their IDs, oldest first."""
    pipe = redis_client.pipeline(transaction=False)
    for n in range(1, count + 1):
        pipe.xadd(name, {"temperature": str(20 + n % 10), "humidity": "50"}, id=f"{n}-0")
    pipe.execute()
    return [f"{n}-0" for n in range(1, count + 1)]


def follow_bar(body: str) -> dict[str, str] | None:
    """The follow bar's data attributes, or None when the page has no follow switch."""
    found = re.search(r"<div class=\"follow-bar\"([^>]*)>", body)
    if found is None:
        assert "data-follow-switch" not in body
        assert "follow.js" not in body
        return None
    assert "data-follow-switch" in body
    assert re.search(r"<input type=\"checkbox\" data-follow-switch checked", body), "on by default"
    assert re.search(r'<script src="[^"]*streams_app/follow\.js" defer></script>', body)
    return {name: html.unescape(value) for name, value in re.findall(r'data-([a-z-]+)="([^"]*)"', found.group(1))}


def test_newest_first_page_follows_at_the_top_from_its_newest_entry(web, redis_client, settings):
    settings.WEATHERSTREAMS_LIVE_ROWS = 70
    settings.WEATHERSTREAMS_LIVE_SNAPSHOT_ROWS = 40
    fill(redis_client, 120)
    bar = follow_bar(page(web, stream_url("chennai", order="desc", count=30)))
    assert bar is not None
    assert bar["follow"] == "top"
    assert bar["after"] == "120-0"
    assert bar["keep"] == str(30 + 70), "the page's rows plus the live tail's"
    assert bar["snapshot-rows"] == "40"
    assert bar["ws"] == "/ws/streams/chennai/tail/", "the live tail's own socket"
    assert bar["entry-url"] == "/streams/chennai/entries/__ID__/"


def test_oldest_first_page_follows_at_the_bottom_only_on_its_last_page(web, redis_client):
    ids = fill(redis_client, 70)
    assert follow_bar(page(web, stream_url("chennai"))) is None, "the first of two pages does not reach the end"
    assert follow_bar(page(web, stream_url("chennai", count=50, after=ids[9]))) is None

    last_page = follow_bar(page(web, stream_url("chennai", count=50, after=ids[49])))
    assert last_page is not None
    assert (last_page["follow"], last_page["after"]) == ("bottom", "70-0")
    whole = follow_bar(page(web, stream_url("chennai", count=100)))
    assert whole is not None and (whole["follow"], whole["after"]) == ("bottom", "70-0")


def test_pages_whose_window_does_not_reach_the_newest_entry_do_not_follow(web, redis_client):
    ids = fill(redis_client, 120)
    assert follow_bar(page(web, stream_url("chennai", order="desc", count=30, after=ids[-31]))) is None, "page 2"
    assert follow_bar(page(web, stream_url("chennai", order="desc", end="100"))) is None, "an end below +"
    assert follow_bar(page(web, stream_url("chennai", order="desc", start="-", end="120-0"))) is None, "end is an ID"
    # Back to the top by "previous": the window reaches the newest entry again.
    back = follow_bar(page(web, stream_url("chennai", order="desc", count=30, before=ids[-31])))
    assert back is not None and back["after"] == "120-0"


def test_an_empty_window_at_the_end_follows_from_its_start(web, redis_client):
    fill(redis_client, 10)
    body = page(web, stream_url("chennai", start="1000", order="desc"))
    bar = follow_bar(body)
    assert bar is not None
    assert bar["after"] == f"999-{MAX_PART}", "entries from the range's start on"
    assert "No entries in this range." in body
    assert re.search(r'<div class="table-wrap" data-follow-table hidden>', body), "a table waits for rows"

    redis_client.xgroup_create("empty-one", "mygroup", id="$", mkstream=True)  # a stream with no entries yet
    from_the_first = follow_bar(page(web, stream_url("empty-one", order="desc")))
    assert from_the_first is not None and from_the_first["after"] == "0-0"


def test_a_filtered_page_does_not_follow_and_says_so(web, redis_client):
    fill(redis_client, 10)
    body = page(web, stream_url("chennai", order="desc", filter="temperature > 25"))
    assert follow_bar(body) is None
    note = re.search(r'<p class="hint follow-off" data-follow-off>(.*?)</p>', body, re.S)
    assert note is not None
    assert "does not follow new entries while a filter is set" in note.group(1)
    assert 'href="/streams/chennai/live/"' in note.group(1)
    # Not at the end: nothing to say.
    assert "data-follow-off" not in page(web, stream_url("chennai", order="desc", filter="temperature > 25", end="5"))


def test_server_rows_and_the_followed_ones_share_the_table(web, redis_client):
    fill(redis_client, 3)
    body = page(web, stream_url("chennai", order="desc"))
    table = re.search(r'<div class="table-wrap" data-follow-table>\s*<table class="entries">(.*?)</table>', body, re.S)
    assert table is not None
    assert re.findall(r'<td data-label="ID"><code>([^<]*)</code></td>', table.group(1)) == ["3-0", "2-0", "1-0"]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_a_stream_that_fits_one_page_follows_in_either_order(web, redis_client, order):
    fill(redis_client, 5)
    bar = follow_bar(page(web, stream_url("chennai", order=order)))
    assert bar is not None
    assert bar["follow"] == {"asc": "bottom", "desc": "top"}[order]
    assert bar["after"] == "5-0"


def test_the_group_page_shows_20_processed_rows_and_keeps_more_behind_show_more(web, redis_client):
    fill(redis_client, 3)
    redis_client.xgroup_create("chennai", "mygroup", id="0")
    body = page(web, "/streams/chennai/groups/mygroup/")
    section = re.search(r'<section data-live="group"([^>]*)>', body).group(1)
    assert 'data-visible-rows="20"' in section
    assert 'data-max-rows="100"' in section
    assert re.search(r'<button type="button" class="button secondary" data-processed-more [^>]*hidden>', body)
