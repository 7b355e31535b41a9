"""The stream page's chart of the whole range: a full day written by the bulk path (as `produce`
writes it) is drawn in 1,440 one-minute buckets with time and value ticks, the rows on the page
are marked where they are, a filter or the scan limit is said, and odd ranges still get a page."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest

from streams_app.domain.ids import datetime_to_ms
from streams_app.domain.producer import produce_plan, produce_run
from streams_app.domain.readings import MEASUREMENTS
from streams_app.gateway.types import MAX_PART
from tests.doors.test_pages import page, stream_url, text_of

CITY = "chennai"
DAY = datetime(2026, 11, 30, tzinfo=UTC)
DAY_MS = datetime_to_ms(DAY)


def produce(*, count: int = 86_400, start: datetime = DAY, interval: float = 1.0) -> None:
    from streams_app.gateway.stores import stream_store

    plan = produce_plan(city=CITY, count=count, start=start, interval_seconds=interval, seed=5)
    produce_run(store=stream_store(), plan=plan)


def figure(body: str) -> str:
    found = re.search(r"<figure class=\"range-chart\".*?</figure>", body, re.S)
    assert found, "the page has a whole-range chart"
    return found.group(0)


def texts(fragment: str, css_class: str) -> list[str]:
    pattern = rf'<text class="[^"]*\b{css_class}\b[^"]*"[^>]*>(.*?)</text>'
    return [
        text_of(re.sub(r"<tspan.*?</tspan>", "", found, flags=re.S)) for found in re.findall(pattern, fragment, re.S)
    ]


def panels(fragment: str) -> dict[str, str]:
    return dict(re.findall(r'<g class="panel [^"]*" data-panel="([^"]+)">(.*?)</g>', fragment, re.S))


def shown_x(fragment: str) -> float:
    found = re.search(r'<rect class="shown" data-shown x="([0-9.]+)%" y="[0-9.]+" width="([0-9.]+)%"', fragment)
    assert found, "the rows shown are marked"
    return float(found.group(1))


@pytest.fixture
def day(redis_client):
    produce()
    assert redis_client.xlen(CITY) == 86_400


def test_a_full_day_is_drawn_per_minute_with_ticks_and_the_rows_shown(web, day):
    chart = figure(page(web, stream_url(CITY)))
    assert 'data-buckets="1440"' in chart
    assert "per minute, 2026-11-30 00:00 to 2026-12-01 00:00" in text_of(chart)
    assert "86,400 entries in 1,440 buckets of 1 minute" in text_of(chart)
    assert texts(chart, "time-tick") == ["00:00", "04:00", "08:00", "12:00", "16:00", "20:00", "00:00"]
    assert re.findall(r'<tspan class="tick-context"[^>]*>(.*?)</tspan>', chart) == ["30 Nov", "1 Dec"]
    drawn = panels(chart)
    assert list(drawn) == [m.name for m in MEASUREMENTS]
    for measurement in MEASUREMENTS:
        plot = drawn[measurement.name]
        assert measurement.label_with_unit in html.unescape(plot)
        values = texts(plot, "value-tick")
        assert len(values) >= 3, values
        numbers = [float(value.replace("−", "-")) for value in values]
        assert numbers == sorted(numbers)
        assert plot.count('class="grid"') == len(values) + 7  # a line per value tick and per time tick
        band = re.search(r'<path class="band [^"]*" d="([^"]+)"', plot).group(1)
        mean = re.search(r'<path class="mean [^"]*" d="([^"]+)"', plot).group(1)
        assert band.count("M") == mean.count("M") == 1  # a reading every second: no gap
        assert mean.count("l1 ") == 1439
        assert 'viewBox="0 0 1440 1000"' in plot
    assert shown_x(chart) == pytest.approx(1.0, abs=0.01)  # the first 50 rows: at 00:00
    assert "the 50 rows shown (2026-11-30 00:00:00 to 2026-11-30 00:00:49)" in text_of(chart)


def test_the_rows_of_a_later_page_are_marked_where_they_are(web, day):
    noon = f"{DAY_MS + 12 * 3_600_000 - 1000}-0"
    chart = figure(page(web, stream_url(CITY, after=noon)))
    assert shown_x(chart) == pytest.approx(50.0, abs=0.01)
    newest = figure(page(web, stream_url(CITY, order="desc")))
    assert shown_x(newest) == pytest.approx(99.0 - 98 * 50 / 86_400, abs=0.02)


def test_a_month_is_drawn_per_hour_with_daily_ticks(web, redis_client):
    produce(count=30 * 24 * 60, interval=60.0)  # a reading a minute for 30 days
    chart = figure(page(web, stream_url(CITY)))
    assert 'data-buckets="720"' in chart
    assert texts(chart, "time-tick") == ["30 Nov", "7 Dec", "14 Dec", "21 Dec", "28 Dec"]


def test_gaps_in_time_are_gaps_in_the_chart(web, redis_client):
    produce(count=6 * 3600)  # 00:00 to 06:00
    produce(count=6 * 3600, start=DAY.replace(hour=9))  # 09:00 to 15:00
    chart = figure(page(web, stream_url(CITY)))
    for plot in panels(chart).values():
        assert re.search(r'<path class="mean [^"]*" d="([^"]+)"', plot).group(1).count("M") == 2


def test_a_filtered_range_is_charted_and_says_so(web, day):
    body = page(web, stream_url(CITY, filter="temperature > 31"))
    chart = text_of(figure(body))
    assert "The whole range, matching the filter" in chart
    found = re.search(r"([0-9,]+) of 86,400 entries read match the filter temperature > 31", chart)
    assert found and 0 < int(found.group(1).replace(",", "")) < 86_400


def test_past_the_scan_limit_the_chart_says_how_far_it_covers(web, day, settings):
    settings.WEATHERSTREAMS_CHART_SCAN_LIMIT = 20_000
    chart = figure(page(web, stream_url(CITY)))
    assert "20,000 entries" in text_of(chart)
    assert "Covers only up to 2026-11-30 05:33:19" in text_of(chart)
    assert 'class="unread"' in chart
    rest = html.unescape(re.search(r'<a href="([^"]+)">Chart the rest</a>', chart).group(1))
    assert f"start=%28{DAY_MS + 19_999_000}-0" in rest
    following = figure(page(web, stream_url(CITY) + rest))
    assert "per minute, 2026-11-30 05:33 to" in text_of(following)
    assert "Covers only up to 2026-11-30 11:06:39" in text_of(following)


def test_non_numbers_are_said_and_a_stream_without_readings_gets_a_note(web, redis_client):
    redis_client.xadd(CITY, {"temperature": "n/a", "humidity": "50"}, id=f"{DAY_MS}-0")
    redis_client.xadd(CITY, {"temperature": "21", "humidity": "51"}, id=f"{DAY_MS + 1000}-0")
    assert "1 temperature value is not a number: left out." in text_of(figure(page(web, stream_url(CITY))))
    redis_client.xadd("notes", {"note": "storm"})
    assert "No temperature or humidity values to chart." in text_of(figure(page(web, stream_url("notes"))))


def test_ranges_at_the_edges_of_the_id_space_still_get_a_page(web, redis_client):
    redis_client.xadd(CITY, {"temperature": "21", "humidity": "50"}, id="1-0")
    redis_client.xadd(CITY, {"temperature": "22", "humidity": "50"}, id=f"{MAX_PART}-{MAX_PART}")
    chart = figure(page(web, stream_url(CITY)))
    assert texts(chart, "time-tick") == []  # the calendar ends long before the last ID
    assert "2 entries" in text_of(chart)
    body = page(web, stream_url(CITY, start="5", end="3"))
    assert 'class="range-chart"' not in body  # an empty range: no chart
