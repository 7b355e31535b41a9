"""Pages for people: the streams list (SCAN by type, cursor paging), the range browser,
entry pages, escaping, odd key names and the add-reading form."""

from __future__ import annotations

import html
import re
from urllib.parse import quote

import pytest
from django.template.defaultfilters import filesizeformat
from django.test import Client

from streams_app.domain.names import display_name, key_bytes, url_token

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def staff(staff_user, redis_client):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff_user)
    return browser


# --- reading pages -----------------------------------------------------------------------


def page(client: Client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.content[:1000])
    return response.content.decode()


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def stream_rows(body: str) -> dict[str, dict]:
    """The streams table: display name -> its cells and link."""
    tbody = re.search(r'<table class="streams">.*?<tbody>(.*?)</tbody>', body, re.S)
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", tbody.group(1) if tbody else "", re.S):
        cells = re.findall(r'<td data-label="([^"]+)"[^>]*>(.*?)</td>', row, re.S)
        values = {label: text_of(cell) for label, cell in cells}
        href = re.search(r'<a href="([^"]+)"', row).group(1)
        values["href"] = html.unescape(href)
        rows[values["Stream"]] = values
    return rows


def link(body: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]*)" rel="{rel}">', body)
    return html.unescape(found.group(1)) if found else None


def entry_ids(body: str) -> list[str]:
    return re.findall(r'<td data-label="ID"><code>([^<]*)</code></td>', body)


def errors(body: str) -> str:
    return " | ".join(text_of(e) for e in re.findall(r'role="alert">(.*?)</(?:div|section)>', body, re.S))


def stream_url(name: str, **params) -> str:
    url = f"/streams/{quote(url_token(name), safe='')}/"
    if params:
        from urllib.parse import urlencode

        url += "?" + urlencode(params)
    return url


# --- /streams/ -----------------------------------------------------------------------------


def test_streams_are_listed_with_length_ids_groups_and_memory(web, redis_client, settings):
    settings.TIME_ZONE = "UTC"
    for seq in range(3):
        redis_client.xadd("chennai", {"temperature": "20", "humidity": "50"}, id=f"1714550400000-{seq}")
    redis_client.xadd("coimbatore", {"temperature": "20"}, id="1714550401000-0")
    redis_client.xgroup_create("chennai", "mygroup", id="0")
    redis_client.set("not-a-stream", "x")
    redis_client.hset("neither", mapping={"a": "b"})
    body = page(web, "/streams/")
    rows = stream_rows(body)
    assert set(rows) == {"chennai", "coimbatore"}
    chennai = rows["chennai"]
    assert chennai["Length"] == "3"
    assert chennai["First entry"].startswith("1714550400000-0")
    assert "2024-05-01 08:00:00.000" in chennai["First entry"]  # its time, in TIME_ZONE
    assert chennai["Last entry"].startswith("1714550400000-2")
    assert chennai["Groups"] == "1"
    assert chennai["Memory"] == text_of(filesizeformat(redis_client.memory_usage("chennai", samples=0)))
    assert rows["coimbatore"]["Groups"] == "0"
    assert chennai["href"] == "/streams/chennai/?order=desc"  # newest first: the page follows new entries
    assert "not-a-stream" not in body and "neither" not in body


def test_streams_list_without_streams(web, redis_client):
    redis_client.set("just-a-string", "x")
    body = page(web, "/streams/")
    assert "No streams yet" in body
    assert link(body, "next") is None


def test_every_stream_appears_across_pages_among_thousands_of_other_keys(web, redis_client):
    pipe = redis_client.pipeline(transaction=False)
    for index in range(3000):
        kind = index % 4
        if kind == 0:
            pipe.set(f"other:string:{index}", "x")
        elif kind == 1:
            pipe.hset(f"other:hash:{index}", "f", "v")
        elif kind == 2:
            pipe.sadd(f"other:set:{index}", "v")
        else:
            pipe.zadd(f"other:zset:{index}", {"v": 1})
    streams = {f"city-{index:03d}" for index in range(120)}
    for name in streams:
        pipe.xadd(name, {"temperature": "1", "humidity": "2"}, id="1-1")
    pipe.execute()

    seen: set[str] = set()
    url, pages = "/streams/", 0
    while url is not None:
        body = page(web, url)
        rows = stream_rows(body)
        assert all(row["Length"] == "1" for row in rows.values())
        seen |= set(rows)
        url = link(body, "next")
        pages += 1
        assert pages < 200
        if url is not None:
            assert re.fullmatch(r"/streams/\?cursor=(\d+\.)?\d+", url)  # a cluster's: <primary>.<cursor>
    assert pages > 1
    assert seen == streams


@pytest.mark.parametrize("cursor", ["abc", "-1", str(2**64)])
def test_bad_cursor_is_400(web, redis_client, cursor):
    body = page(web, f"/streams/?cursor={quote(cursor)}", status=400)
    assert "not a valid page cursor" in body


def test_pages_need_a_login(redis_client, db):
    anonymous = Client()
    for url in ("/streams/", "/streams/chennai/", "/streams/chennai/entries/1-0/", "/readings/add/"):
        response = anonymous.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


# --- /streams/<token>/ ---------------------------------------------------------------------


def test_field_values_and_names_are_html_escaped(web, redis_client):
    redis_client.xadd("chennai", {"temperature": XSS, XSS: "1", "humidity": "<script>alert(2)</script>"}, id="1-0")
    for url in ("/streams/chennai/", "/streams/chennai/entries/1-0/"):
        body = page(web, url)
        assert XSS not in body
        assert "<script>alert(2)" not in body
        assert html.escape(XSS, quote=False) in body or html.escape(XSS) in body


def test_stream_names_are_html_escaped(web, redis_client):
    name = "<b onmouseover=alert(1)>x</b>"
    redis_client.xadd(name, {"temperature": "1"}, id="1-0")
    for url in ("/streams/", stream_url(name), stream_url(name) + "entries/1-0/"):
        body = page(web, url)
        assert "<b onmouseover" not in body
        assert "&lt;b onmouseover=alert(1)&gt;x&lt;/b&gt;" in body


def test_values_that_are_not_utf8_show_as_escapes(web, redis_client):
    redis_client.xadd("chennai", {b"note": b"caf\xff", b"\xfe\xfd": b"ok"}, id="1-0")
    for url in ("/streams/chennai/", "/streams/chennai/entries/1-0/"):
        body = page(web, url)
        assert r"caf\xff" in body
        assert r"\xfe\xfd" in body


def test_long_values_are_cut_with_a_link_to_the_whole_entry(web, redis_client):
    long_value = "".join(chr(ord("a") + index % 26) for index in range(5000))
    redis_client.xadd("chennai", {"note": long_value, "temperature": "20"}, id="7-3")
    body = page(web, "/streams/chennai/")
    assert long_value not in body
    assert long_value[:100] in body
    row = re.search(r"<tr>\s*<td data-label=\"ID\"><code>7-3</code>.*?</tr>", body, re.S).group(0)
    assert len(text_of(row)) < 1000
    entry_link = re.search(r'<a class="whole" href="([^"]+)">', row).group(1)
    assert entry_link == "/streams/chennai/entries/7-3/"
    whole = page(web, entry_link)
    assert long_value in whole
    assert "temperature" in whole


def test_short_values_have_no_whole_value_link(web, redis_client):
    redis_client.xadd("chennai", {"temperature": "20", "humidity": "50"}, id="1-0")
    body = page(web, "/streams/chennai/")
    assert 'class="whole"' not in body
    assert "temperature" in body and "50" in body


def test_entry_page_of_missing_entry_is_404(web, redis_client):
    redis_client.xadd("chennai", {"temperature": "20"}, id="1-0")
    body = page(web, "/streams/chennai/entries/2-0/", status=404)
    assert "has no entry 2-0" in body


def test_entry_page_with_bad_id_is_400(web, redis_client):
    redis_client.xadd("chennai", {"temperature": "20"}, id="1-0")
    body = page(web, "/streams/chennai/entries/abc/", status=400)
    assert "not a valid entry ID" in body


def test_missing_stream_is_404_and_string_key_is_409(web, redis_client):
    body = page(web, "/streams/nowhere/", status=404)
    assert "There is no stream called “nowhere”" in body
    redis_client.set("word", "x")
    body = page(web, "/streams/word/", status=409)
    assert "holds a string, not a stream" in body
    body = page(web, "/streams/word/entries/1-0/", status=409)
    assert "holds a string, not a stream" in body


def fill_one_millisecond(redis_client, name="chennai", per_ms=1000):
    pipe = redis_client.pipeline(transaction=False)
    pipe.xadd(name, {"temperature": "1"}, id="4-0")
    for seq in range(per_ms):
        pipe.xadd(name, {"temperature": str(seq % 50)}, id=f"5-{seq}")
    pipe.xadd(name, {"temperature": "2"}, id="6-0")
    pipe.execute()


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_next_and_previous_links_never_skip_or_repeat(web, redis_client, order):
    fill_one_millisecond(redis_client)
    expected = [
        raw.decode()
        for raw, _ in (redis_client.xrange("chennai") if order == "asc" else redis_client.xrevrange("chennai"))
    ]
    pages: list[list[str]] = []
    url = stream_url("chennai", order=order, count=150)
    while url is not None:
        body = page(web, url)
        pages.append(entry_ids(body))
        url = link(body, "next")
        assert len(pages) < 50
    assert [entry for one in pages for entry in one] == expected
    assert len(pages) == 7
    # And back: previous from the last page gives the same pages, in reverse.
    back = [entry_ids(body)]
    url = link(body, "prev")
    while url is not None:
        body = page(web, url)
        back.append(entry_ids(body))
        url = link(body, "prev")
        assert len(back) < 50
    assert back == pages[::-1]


def test_range_browser_bounds_and_order(web, redis_client):
    for ms in range(1, 10):
        redis_client.xadd("chennai", {"temperature": str(ms)}, id=f"{ms}-0")
    body = page(web, stream_url("chennai", start="3", end="5-0", order="desc"))
    assert entry_ids(body) == ["5-0", "4-0", "3-0"]
    body = page(web, stream_url("chennai", start="7", end="2"))
    assert entry_ids(body) == []
    assert "No entries in this range." in body


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"count": "0"}, "at least 1"),
        ({"count": "-3"}, "at least 1"),
        ({"count": "lots"}, "whole number"),
        ({"start": "tomorrow"}, "neither a stream ID"),
        ({"end": "2024-02-30"}, "neither a stream ID"),
        ({"order": "random"}, "The order must be asc"),
    ],
)
def test_range_browser_bad_parameters_are_400_with_a_message(web, redis_client, params, words):
    redis_client.xadd("chennai", {"temperature": "20"}, id="1-0")
    body = page(web, stream_url("chennai", **params), status=400)
    assert words in errors(body)
    assert "Traceback" not in body


def test_range_browser_clamps_huge_page_sizes(web, redis_client):
    pipe = redis_client.pipeline(transaction=False)
    for seq in range(1005):
        pipe.xadd("chennai", {"temperature": "1"}, id=f"9-{seq}")
    pipe.execute()
    body = page(web, stream_url("chennai", count="99999999999"))
    assert len(entry_ids(body)) == 1000
    assert link(body, "next") is not None


def test_range_browser_reads_date_times_in_the_site_time_zone(web, redis_client, settings):
    settings.TIME_ZONE = "Asia/Kolkata"
    # 2024-05-01 13:30 in India is 08:00 UTC: 1714550400000.
    for ms in (1714550399999, 1714550400000, 1714550460000, 1714550460001):
        redis_client.xadd("chennai", {"temperature": "20"}, id=f"{ms}-0")
    body = page(web, stream_url("chennai", start="2024-05-01 13:30", end="2024-05-01 13:31"))
    assert entry_ids(body) == ["1714550400000-0", "1714550460000-0"]
    assert "2024-05-01 13:30:00.000" in body  # times are shown in the same zone


ODD_NAMES = ["new york", "a/b", "münchen", "東京", "caf\udce9", "what?", "100%41", "a#b", "~x", "tab\there", "."]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_names_are_listed_and_browsable_through_their_links(web, redis_client, name):
    for seq in range(3):
        redis_client.xadd(key_bytes(name), {"temperature": str(seq)}, id=f"1-{seq}")
    body = page(web, "/streams/")
    rows = stream_rows(body)
    assert list(rows) == [display_name(name)]
    link_to_stream = rows[display_name(name)]["href"]
    # Newest first, so the page a user reaches follows new entries (the order is the only parameter).
    href, order = link_to_stream.split("?")
    assert order == "order=desc"
    detail = page(web, link_to_stream)
    assert html.escape(display_name(name)) in detail
    assert entry_ids(detail) == ["1-2", "1-1", "1-0"]
    # The entry page and the pager stay on the same stream.
    entry_link = href + "entries/1-1/"
    assert "1-1" in page(web, entry_link)
    seen, url = [], href + "?count=1"
    while url is not None:
        body = page(web, url)
        seen.extend(entry_ids(body))
        url = link(body, "next")
        assert len(seen) < 10
    assert seen == ["1-0", "1-1", "1-2"]


def test_admin_reading_list_shows_odd_names(staff, redis_client):
    for name in ("chennai", "caf\udce9", "new york"):
        redis_client.xadd(key_bytes(name), {"temperature": "1"}, id="1-0")
    body = page(staff, "/admin/streams_app/reading/")
    for name in ("chennai", "caf\udce9", "new york"):
        assert html.escape(display_name(name)) in body


# --- /readings/add/ ------------------------------------------------------------------------


def csrf(client: Client, url: str) -> str:
    client.get(url)
    return client.cookies["csrftoken"].value


def test_add_reading_form_adds_and_redirects_to_the_stream(web, redis_client):
    token = csrf(web, "/readings/add/")
    response = web.post(
        "/readings/add/",
        {"csrfmiddlewaretoken": token, "city": "chennai", "temperature": "26", "humidity": "10", "id": ""},
    )
    assert response.status_code == 302
    assert response["Location"] == "/streams/chennai/?order=desc"
    ((raw_id, fields),) = redis_client.xrange("chennai")
    assert fields == {b"temperature": b"26", b"humidity": b"10"}
    body = page(web, response["Location"])
    assert f"Added reading {raw_id.decode()} to chennai." in body
    assert entry_ids(body) == [raw_id.decode()]


def test_add_reading_form_keeps_the_input_and_shows_the_error(web, redis_client):
    token = csrf(web, "/readings/add/")
    response = web.post(
        "/readings/add/",
        {"csrfmiddlewaretoken": token, "city": "chennai", "temperature": "99", "humidity": "10", "id": ""},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "Temperature must be between -90 and 60 °C; got 99." in errors(body)
    assert 'value="99"' in body and 'value="chennai"' in body
    assert redis_client.dbsize() == 0


def test_add_reading_form_without_csrf_token_is_refused(web, redis_client):
    response = web.post("/readings/add/", {"city": "chennai", "temperature": "26", "humidity": "10"})
    assert response.status_code == 403
    assert "CSRF" in response.content.decode()
    assert redis_client.dbsize() == 0


def test_add_reading_form_prefills_the_city_and_suggests_streams(web, redis_client):
    redis_client.xadd("madurai", {"temperature": "1"}, id="1-0")
    body = page(web, "/readings/add/?city=" + quote("<x>"))
    assert 'value="&lt;x&gt;"' in body
    assert '<option value="madurai">' in body


def test_stream_page_shows_the_weather_processors_minutes_newest_first(web, redis_client):
    from streams_app.gateway.stats import MinuteAggregate, StatsStore

    redis_client.xadd("chennai", {"temperature": "1", "humidity": "2"}, id="1-0")
    older, newer = MinuteAggregate("chennai", 29_000_000), MinuteAggregate("chennai", 29_000_001)
    for temperature, humidity in ((20.0, 50.0), (22.0, 70.0)):
        older.add({"temperature": temperature, "humidity": humidity})
    newer.add({"temperature": 30.0, "humidity": 10.0})
    StatsStore(redis_client).merge([older, newer])

    body = page(web, "/streams/chennai/")
    table = body[body.index('<table class="stats">') :]
    rows = [text_of(row) for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)][1:]  # after the header
    assert rows[0].split()[-7:] == ["1", "30.0", "30.0", "30.0", "10.0", "10", "10"]
    assert rows[1].split()[-7:] == ["2", "21.0", "20.0", "22.0", "60.0", "50", "70"]
    assert "Temperature mean" in table and "Humidity mean" in table


def test_a_long_name_may_wrap_at_its_joints_and_stays_escaped(web, redis_client):
    name = "thiruvananthapuram_international.airport:<b>north</b>"
    redis_client.xadd(name, {"temperature": "30"})
    from streams_app.domain.names import url_token

    body = page(web, f"/streams/{url_token(name)}/")
    h1 = body[body.index("<h1>") : body.index("</h1>")]
    assert h1.endswith("thiruvananthapuram_<wbr>international.<wbr>airport:<wbr>&lt;b&gt;north&lt;/<wbr>b&gt;"), h1
    assert "<b>north</b>" not in body
