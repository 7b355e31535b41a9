"""The whole-range chart in a real headless Chromium, on a phone (390 px) and a desktop: its tick
labels are drawn at 11 px or more (the size on screen, after any scaling of the SVG), stay inside
the screen, and the page needs nothing the CSP refuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams_app.domain.producer import produce_plan, produce_run

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
TIME_LABELS = {  # the day's ticks every 4 hours; on a phone every 8
    390: ["00:0030 Nov", "08:00", "16:00", "00:001 Dec"],
    1280: ["00:0030 Nov", "04:00", "08:00", "12:00", "16:00", "20:00", "00:001 Dec"],
}

# Each label's font size as drawn: its computed size times the scale from its user units to the
# screen (1 in an SVG without a viewBox; less when a viewBox shrinks the picture to fit). Labels
# a narrow screen leaves out (every other time tick) are not drawn, so not measured.
RENDERED = """els => els.filter(el => getComputedStyle(el).display !== "none").map(el => {
  const m = el.getScreenCTM();
  const box = el.getBoundingClientRect();
  return {text: el.textContent.trim(), size: parseFloat(getComputedStyle(el).fontSize) * Math.hypot(m.a, m.b),
          left: box.left, right: box.right, height: box.height};
})"""


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_tick_labels_are_readable_on_a_phone_and_a_desktop(page, redis_client, viewport):
    from streams_app.gateway.stores import stream_store

    plan = produce_plan(city="chennai", count=86_400, start=datetime(2026, 11, 30, tzinfo=UTC), seed=5)
    produce_run(store=stream_store(), plan=plan)
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.set_viewport_size(viewport)
    page.goto("/streams/chennai/")
    page.wait_for_selector("[data-range-chart] svg")
    assert page.get_attribute("[data-range-chart]", "data-buckets") == "1440"

    labels = page.eval_on_selector_all("[data-range-chart] text.tick", RENDERED)
    time_labels = [label["text"] for label in page.eval_on_selector_all("[data-range-chart] text.time-tick", RENDERED)]
    assert time_labels == TIME_LABELS[viewport["width"]]  # a tick where the day starts carries the day
    assert len(labels) > 10
    for label in labels:
        assert label["size"] >= 11, label
        assert label["height"] >= 11, label
        assert label["left"] >= 0 and label["right"] <= viewport["width"], label
    shown = page.locator("[data-range-chart] rect.shown").first.bounding_box()
    assert shown is not None and shown["width"] >= 1  # the rows shown: a visible mark
    assert problems == []  # no CSP refusals, no script errors
