"""The issue's own story in a real Chromium: a user finds every reading above 40 °C of the last
week from the stream page, then exports exactly those (the job run by a real RQ worker)."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest

pytestmark = pytest.mark.browser

HOUR_MS = 3_600_000


@pytest.fixture
def a_week_and_more(redis_client):
    """Hourly readings of madurai for the last 8 days (some above 40 °C, also before the week):
    the IDs of those of the last 7 days above 40, and where that week starts (ms)."""
    now = int(time.time() * 1000)
    week_start = now - 7 * 24 * HOUR_MS
    hot = []
    for hour in range(8 * 24, 0, -1):
        ms = now - hour * HOUR_MS
        temperature = 30 + hour % 13  # 41 and 42 now and then
        entry_id = redis_client.xadd("madurai", {"temperature": str(temperature), "humidity": "20"}, id=f"{ms}-0")
        if ms >= week_start and temperature > 40:
            hot.append(entry_id.decode())
    return hot, week_start


def test_every_reading_above_40_last_week_is_found_on_the_page_and_exported(page, a_week_and_more, job_worker):
    hot, week_start = a_week_and_more
    page.goto("/streams/madurai/")
    page.fill("#id_start", str(week_start))
    page.fill("#id_filter", "temperature > 40")
    page.click("form.range-form button[type=submit]")
    page.wait_for_url(re.compile(r"filter=temperature"))
    shown = page.eval_on_selector_all("td[data-label=ID] code", "cells => cells.map(cell => cell.textContent)")
    assert shown == hot  # every one of them, oldest first, nothing else (fewer than a page)
    assert len(hot) > 10

    page.click("a:text-is('Export / trim')")
    export = page.locator("form[action='/jobs/export/']")
    assert export.locator("[name=filter]").input_value() == "temperature > 40"
    export.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]+/$"))
    page.wait_for_selector("[data-job-state]:text-is('finished')", timeout=30_000)
    download = page.get_attribute("[data-job-download] a", "href")
    rows = list(csv.DictReader(io.StringIO(page.request.get(download).text())))
    assert [row["id"] for row in rows] == hot
    assert all(float(row["temperature"]) > 40 for row in rows)
