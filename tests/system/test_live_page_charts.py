"""The stream page's charts beside its following table, in a real headless Chromium on a phone
(390 px) and a desktop: the chart of the rows shown draws its labels at 11 CSS px or more (its
plot stretches, its text does not), inside the screen; both charts say they are as of the page's
loading while the table follows new entries."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

# Each label's size as drawn: its computed font size times the scale from its user units to the
# screen (1 in an SVG without a viewBox).
RENDERED = """els => els.map(el => {
  const m = el.getScreenCTM();
  const box = el.getBoundingClientRect();
  return {text: el.textContent.trim(), size: parseFloat(getComputedStyle(el).fontSize) * Math.hypot(m.a, m.b),
          left: box.left, right: box.right, height: box.height};
})"""


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_rows_chart_labels_read_at_11_px_or_more_and_the_charts_say_they_are_as_of_load(
    page, redis_client, viewport, tmp_path
):
    start = 1_800_000_000_000
    for n in range(60):
        redis_client.xadd(
            "chennai", {"temperature": f"{20 + n % 10}.5", "humidity": str(40 + n)}, id=f"{start + n * 1000}-0"
        )
    page.set_viewport_size(viewport)
    page.goto("/streams/chennai/?order=desc")
    page.wait_for_selector(".follow-bar [data-live-status][data-kind=ok]")

    labels = page.eval_on_selector_all("figure.chart text", RENDERED)
    assert len(labels) == 6  # two scales of two series, and the two ends of the time axis
    for label in labels:
        assert label["size"] >= 11, label
        assert label["height"] >= 11, label
        assert label["left"] >= 0 and label["right"] <= viewport["width"], label
    assert "when the page loaded" in page.inner_text("figure.chart figcaption")
    assert "As of loading the page" in page.inner_text("[data-range-chart] figcaption")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.eval_on_selector("figure.chart", "chart => chart.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(tmp_path / f"rows-chart-{viewport['width']}.png"))  # to look at: pytest --basetemp


def test_a_page_that_does_not_follow_says_nothing_about_its_charts_being_old(page, redis_client):
    ids = [redis_client.xadd("chennai", {"temperature": "21", "humidity": "40"}).decode() for _ in range(60)]
    page.goto(f"/streams/chennai/?order=desc&count=20&after={ids[-21]}")  # page 2: not the newest
    assert page.locator("[data-follow]").count() == 0
    assert "when the page loaded" not in page.inner_text("figure.chart figcaption")
    assert page.locator("[data-chart-as-of]").count() == 0
