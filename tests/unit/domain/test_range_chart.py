"""The whole-range chart's numbers, on a real Redis: the bucket it picks, the lowest, mean and
highest value of each bucket (checked against a brute-force pass over one XRANGE of the range),
gaps, the scan limit and what the chart says about it, values that are not numbers, and a
filtered range; and the axes the charts share (charts.py)."""

from __future__ import annotations

import math
import random
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from streams_app.domain import range_chart as range_chart_module
from streams_app.domain.browsing import RangeRequest
from streams_app.domain.charts import chart_number, time_ticks, value_scale
from streams_app.domain.filters import parse_filter
from streams_app.domain.ids import FIRST_ID, LAST_ID, datetime_to_ms
from streams_app.domain.range_chart import (
    DAY_MS,
    HOUR_MS,
    MAX_BUCKETS,
    MINUTE_MS,
    bucketing_for,
    range_aggregate,
    range_chart,
)
from streams_app.domain.readings import MEASUREMENTS
from streams_app.gateway import Entry
from streams_app.gateway.types import MAX_PART

KEY = "chennai"
START = datetime(2026, 11, 30, tzinfo=UTC)
START_MS = datetime_to_ms(START)
FIELDS = [m.name for m in MEASUREMENTS]


# --- the bucket ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span_ms", "size_ms", "count"),
    [
        (0, MINUTE_MS, 1),
        (DAY_MS - 1000, MINUTE_MS, 1440),  # a day of readings a second apart
        (MAX_BUCKETS * MINUTE_MS - 1, MINUTE_MS, MAX_BUCKETS),
        (MAX_BUCKETS * MINUTE_MS, 5 * MINUTE_MS, 301),
        (7 * DAY_MS, 15 * MINUTE_MS, 673),
        (30 * DAY_MS, HOUR_MS, 721),  # a month
        (365 * DAY_MS, 6 * HOUR_MS, 1461),
        (3 * 365 * DAY_MS, DAY_MS, 1096),
        (10 * 365 * DAY_MS, 3 * DAY_MS, 1217),  # beyond the sizes: whole days
    ],
)
def test_the_bucket_is_the_finest_that_keeps_the_chart_within_its_buckets(span_ms, size_ms, count):
    bucketing = bucketing_for(START_MS, START_MS + span_ms, tz=UTC)
    assert (bucketing.size_ms, bucketing.count) == (size_ms, count)
    assert bucketing.count <= MAX_BUCKETS
    assert bucketing.origin_ms <= START_MS < bucketing.origin_ms + bucketing.size_ms
    assert START_MS + span_ms < bucketing.end_ms


def test_buckets_start_on_the_wall_clock_of_the_site_time_zone():
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30: its hours and days start at :30 UTC
    at = datetime(2026, 11, 30, 10, 47, 12, tzinfo=kolkata)
    hourly = bucketing_for(datetime_to_ms(at), datetime_to_ms(at + timedelta(days=30)), tz=kolkata)
    assert hourly.size_ms == HOUR_MS
    assert datetime.fromtimestamp(hourly.origin_ms / 1000, tz=kolkata) == at.replace(minute=0, second=0)
    daily = bucketing_for(datetime_to_ms(at), datetime_to_ms(at + timedelta(days=1000)), tz=kolkata)
    assert daily.size_ms == DAY_MS
    assert datetime.fromtimestamp(daily.origin_ms / 1000, tz=kolkata) == at.replace(hour=0, minute=0, second=0)


def test_the_whole_id_space_gets_few_buckets_and_no_ticks_beyond_the_calendar():
    bucketing = bucketing_for(0, MAX_PART, tz=UTC)
    assert bucketing.count <= MAX_BUCKETS and bucketing.size_ms % DAY_MS == 0
    assert time_ticks(2**63, MAX_PART, tz=UTC) == []


# --- the numbers, against a brute-force pass --------------------------------------------------


def write(redis_client, rows: list[tuple[int, dict[str, str]]], key: str = KEY) -> None:
    pipe = redis_client.pipeline(transaction=False)
    for ms, fields in rows:
        pipe.xadd(key, fields, id=f"{ms}-*")
    pipe.execute()


def brute_force(redis_client, bucketing, *, keep=None, key: str = KEY, upto: str = "+"):
    """Per measurement: bucket index -> (count, min, mean, max), from one XRANGE of everything."""
    found: dict[str, dict[int, list[float]]] = {field: defaultdict(list) for field in FIELDS}
    for raw_id, raw_fields in redis_client.xrange(key, min="-", max=upto):
        fields = {name.decode(): value.decode("utf-8", "backslashreplace") for name, value in raw_fields.items()}
        if keep is not None and not keep(fields):
            continue
        index = bucketing.index(int(raw_id.decode().split("-")[0]))
        for field in FIELDS:
            number = chart_number(fields.get(field))
            if number is not None:
                found[field][index].append(number)
    return {
        field: {index: (len(v), min(v), sum(v) / len(v), max(v)) for index, v in sorted(buckets.items())}
        for field, buckets in found.items()
    }


def as_table(aggregate):
    return {
        found.measurement.name: {b.index: (b.count, b.low, b.mean, b.high) for b in found.buckets}
        for found in aggregate.measurements
    }


def assert_same(table, expected):
    assert table.keys() == expected.keys()
    for field in table:
        assert table[field].keys() == expected[field].keys(), field
        for index, (count, low, mean, high) in table[field].items():
            want = expected[field][index]
            assert (count, low, high) == (want[0], want[1], want[3]), (field, index)
            assert math.isclose(mean, want[2], rel_tol=1e-9, abs_tol=1e-9), (field, index)


def irregular_day(seed: int = 3) -> list[tuple[int, dict[str, str]]]:
    """About a day of readings at uneven times (several in one millisecond now and then), with
    two quiet hours, values with decimals, and now and then only one of the measurements."""
    rng = random.Random(seed)
    rows, ms = [], START_MS
    while ms < START_MS + DAY_MS:
        fields = {"temperature": f"{rng.uniform(18, 41):.1f}", "humidity": str(rng.randint(5, 100))}
        if rng.random() < 0.05:
            fields.pop(rng.choice(FIELDS))
        rows.append((ms, fields))
        hour = (ms - START_MS) // HOUR_MS
        ms += HOUR_MS * 2 if hour in (5, 17) and rng.random() < 0.02 else rng.choice([0, 1, 7, 30_000, 95_000])
    return rows


def test_min_mean_max_per_bucket_are_those_of_every_entry_in_it(store, redis_client, monkeypatch):
    rows = irregular_day()
    write(redis_client, rows)
    monkeypatch.setattr(range_chart_module, "READ_CHUNK", 333)  # many chunks, entries of one ms across them
    aggregate = range_aggregate(store=store, name=KEY, low=FIRST_ID, high=LAST_ID, tz=UTC, scan_limit=10**9)
    assert aggregate.bucketing.size_ms == MINUTE_MS
    assert aggregate.read == aggregate.matched == len(rows) == redis_client.xlen(KEY)
    assert aggregate.covered_to is None
    assert_same(as_table(aggregate), brute_force(redis_client, aggregate.bucketing))
    for found in aggregate.measurements:
        assert found.values == sum(bucket.count for bucket in found.buckets)


def test_a_bucket_without_readings_is_a_gap_in_the_line_and_the_band(store, redis_client):
    minutes = [0, 1, 2, 10, 11, 30]  # runs: 0-2, 10-11, 30
    write(
        redis_client, [(START_MS + m * MINUTE_MS + 5, {"temperature": str(20 + m), "humidity": "50"}) for m in minutes]
    )
    chart = range_chart(store=store, name=KEY, request=RangeRequest(), shown=[], tz=UTC)
    assert chart.buckets == 31
    temperature = next(panel for panel in chart.panels if panel.field == "temperature")
    assert temperature.buckets_filled == 6
    assert temperature.mean_path.count("M") == 3
    assert temperature.band_path.count("M") == 3 and temperature.band_path.count("Z") == 3
    starts = [int(found) for found in re.findall(r"M(\d+) ", temperature.mean_path)]
    assert starts == [0, 10, 30]


def test_the_scan_limit_cuts_the_chart_and_the_chart_says_where(store, redis_client):
    rows = [(START_MS + n * 1000, {"temperature": "25", "humidity": "60"}) for n in range(12_000)]
    write(redis_client, rows)
    chart = range_chart(store=store, name=KEY, request=RangeRequest(), shown=[], tz=UTC, scan_limit=7_000)
    last_read = f"{START_MS + 6_999 * 1000}-0"
    assert chart.read == 7_000
    assert chart.covered_to_id == last_read
    assert chart.covered_to == "2026-11-30 01:56:39"
    assert chart.rest_start == f"({last_read}"
    assert chart.unread is not None
    aggregate = range_aggregate(store=store, name=KEY, low=FIRST_ID, high=LAST_ID, tz=UTC, scan_limit=7_000)
    assert_same(as_table(aggregate), brute_force(redis_client, aggregate.bucketing, upto=last_read))

    whole = range_chart(store=store, name=KEY, request=RangeRequest(), shown=[], tz=UTC, scan_limit=12_000)
    assert (whole.read, whole.covered_to, whole.unread) == (12_000, "", None)
    rest = range_chart(store=store, name=KEY, request=RangeRequest(start=chart.rest_start), shown=[], tz=UTC)
    assert rest.read == 5_000


def test_values_that_are_not_numbers_are_left_out_and_counted(store, redis_client):
    odd = ["n/a", "nan", "inf", "1e999", " 21", "21,5", "", "0x10"]
    rows = [(START_MS + n, {"temperature": value, "humidity": "40"}) for n, value in enumerate(odd)]
    rows.append((START_MS + 100, {"temperature": "22.5", "humidity": "41"}))
    write(redis_client, rows)
    redis_client.xadd(KEY, {"temperature": b"\xff\xfe", "humidity": b"42"}, id=f"{START_MS + 200}-0")
    chart = range_chart(store=store, name=KEY, request=RangeRequest(), shown=[], tz=UTC)
    temperature = next(panel for panel in chart.panels if panel.field == "temperature")
    assert (temperature.values, temperature.not_numbers) == (1, len(odd) + 1)
    assert chart.not_numbers == len(odd) + 1
    assert chart.not_numbers_text == f"{len(odd) + 1} temperature values are not numbers: left out."
    humidity = next(panel for panel in chart.panels if panel.field == "humidity")
    assert (humidity.values, humidity.not_numbers) == (len(odd) + 2, 0)


@pytest.mark.parametrize("values", [["1e308", "-1e308"], ["5e-324", "0"], ["1e-300", "2e-300"], ["7", "7"]])
def test_numbers_no_weather_has_still_get_an_axis(store, redis_client, values):
    write(redis_client, [(START_MS + n * MINUTE_MS, {"temperature": value}) for n, value in enumerate(values)])
    chart = range_chart(store=store, name=KEY, request=RangeRequest(), shown=[], tz=UTC)
    [panel] = chart.panels
    labels = [line.label for line in panel.gridlines]
    assert len(labels) == len(set(labels)) >= 2
    assert panel.mean_path.startswith("M0 ")


def test_a_range_without_any_measurement_has_no_panels(store, redis_client):
    redis_client.xadd(KEY, {"note": "storm"}, id=f"{START_MS}-0")
    chart = range_chart(store=store, name=KEY, request=RangeRequest(), shown=[], tz=UTC)
    assert chart.panels == [] and chart.read == 1
    assert range_chart(store=store, name=KEY, request=RangeRequest(start="+"), shown=[], tz=UTC) is None


@pytest.mark.parametrize("text", ["temperature > 30", 'humidity < 40 or note ~ "storm"', "not temperature > 30"])
def test_a_filtered_range_charts_only_the_matching_entries(store, redis_client, text):
    rows = irregular_day(seed=11)[:20_000]
    for index in range(0, len(rows), 97):
        rows[index][1]["note"] = "Storm"
    write(redis_client, rows)
    entry_filter = parse_filter(text)
    aggregate = range_aggregate(
        store=store, name=KEY, low=FIRST_ID, high=LAST_ID, tz=UTC, entry_filter=entry_filter, scan_limit=10**9
    )
    expected = brute_force(redis_client, aggregate.bucketing, keep=entry_filter.matches)
    assert_same(as_table(aggregate), expected)
    matching = sum(
        1
        for _, raw in redis_client.xrange(KEY)
        if entry_filter.matches({k.decode(): v.decode() for k, v in raw.items()})
    )
    assert aggregate.read == len(rows) and aggregate.matched == matching < len(rows)

    chart = range_chart(store=store, name=KEY, request=RangeRequest(filter=text), shown=[], tz=UTC)
    assert chart.filtered and chart.filter_text == text and chart.matched == matching


def test_a_filter_on_a_field_whose_name_is_not_utf8_reads_it_as_pages_show_it(store, redis_client):
    for n, mark in enumerate([b"1", b"0", b"1"]):
        redis_client.xadd(KEY, {b"caf\xe9": mark, b"temperature": str(20 + n).encode()}, id=f"{START_MS + n}-0")
    text = '"caf\\\\xe9" = "1"'  # the name as the page shows it: caf\xe9
    assert parse_filter(text).fields == {"caf\\xe9"}
    chart = range_chart(store=store, name=KEY, request=RangeRequest(filter=text), shown=[], tz=UTC)
    assert (chart.read, chart.matched) == (3, 2)
    [panel] = chart.panels
    assert panel.values == 2 and panel.scale.low <= 20 and panel.scale.high >= 22


def test_the_rows_shown_are_marked_and_typed_bounds_set_the_span(store, redis_client):
    write(
        redis_client,
        [(START_MS + HOUR_MS * 6 + n * 1000, {"temperature": "25", "humidity": "60"}) for n in range(3600)],
    )
    shown = [Entry(f"{START_MS + HOUR_MS * 6 + n * 1000}-0", {}) for n in range(1800, 1850)]
    day = RangeRequest(start="2026-11-30", end="2026-11-30")  # the whole day, though readings fill one hour
    chart = range_chart(store=store, name=KEY, request=day, shown=shown, tz=UTC)
    assert chart.buckets == 1440 and chart.start_text == "2026-11-30 00:00" and chart.end_text == "2026-12-01 00:00"
    left = float(chart.shown.x.rstrip("%"))
    assert left == pytest.approx(1 + 98 * (6.5 / 24), abs=0.01)
    assert float(chart.shown.width.rstrip("%")) >= 0.4  # 50 seconds of a day: still visible
    assert (chart.shown_count, chart.shown_from, chart.shown_to) == (50, "2026-11-30 06:30:00", "2026-11-30 06:30:49")
    assert [tick.label for tick in chart.ticks] == ["00:00", "04:00", "08:00", "12:00", "16:00", "20:00", "00:00"]
    assert chart.ticks[0].context == "30 Nov" and chart.ticks[-1].context == "1 Dec"


# --- the shared axes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "ticks", "labels"),
    [
        (21.3, 33.7, (20, 25, 30, 35), ["20", "25", "30", "35"]),
        (0, 100, (0, 25, 50, 75, 100), ["0", "25", "50", "75", "100"]),
        (-3.2, 4.1, (-5, -2.5, 0, 2.5, 5), ["−5.0", "−2.5", "0.0", "2.5", "5.0"]),
        (0.12, 0.37, (0.1, 0.2, 0.3, 0.4), ["0.1", "0.2", "0.3", "0.4"]),
        (25, 25, (23, 24, 25, 26, 27), ["23", "24", "25", "26", "27"]),
    ],
)
def test_value_scales_have_round_ticks_around_the_values(low, high, ticks, labels):
    scale = value_scale(low, high)
    assert scale.ticks == pytest.approx(ticks)
    assert [scale.label(tick) for tick in scale.ticks] == labels
    assert scale.low <= low and high <= scale.high


def test_time_ticks_follow_the_wall_clock_across_a_daylight_saving_change():
    berlin = ZoneInfo("Europe/Berlin")  # clocks went back at 03:00 on 2026-10-25
    start = datetime(2026, 10, 24, 12, tzinfo=berlin)
    ticks = time_ticks(datetime_to_ms(start), datetime_to_ms(start) + 24 * HOUR_MS, tz=berlin)  # to 11:00
    assert [tick.label for tick in ticks] == ["12:00", "16:00", "20:00", "00:00", "04:00", "08:00"]
    assert ticks[3].context == "25 Oct"
    assert ticks[5].ms - ticks[4].ms == 4 * HOUR_MS and ticks[4].ms - ticks[3].ms == 5 * HOUR_MS  # 03:00 twice
    month = time_ticks(START_MS, START_MS + 31 * DAY_MS, tz=UTC)
    assert [tick.label for tick in month] == ["30 Nov", "7 Dec", "14 Dec", "21 Dec", "28 Dec"]  # Mondays
    assert month[0].context == "2026"
