"""Layout in a real headless Chromium, on a desktop (1280 px) and a phone (390 px): no page
scrolls sideways, long stream names wrap between words, the trim choices are fully visible, the
login fields stack, table rows are compact on a phone, and loading a page asks for nothing that
is not there (the favicon included)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# Hyphens are break opportunities; underscores are not (that title must still not overflow).
HYPHENATED = "thiruvananthapuram-international-airport-weather-station"
UNDERSCORED = "thiruvananthapuram_international_airport_weather_station"
MAIN_PAGES = [
    "/",
    "/streams/",
    f"/streams/{HYPHENATED}/",
    f"/streams/{UNDERSCORED}/",
    "/streams/madurai/",
    "/readings/add/",
    "/streams/madurai/groups/",
    "/streams/madurai/groups/mygroup/",
    "/workers/",
    "/jobs/",
]


@pytest.fixture
def streams(redis_client) -> None:
    for name in ("madurai", "chennai", HYPHENATED, UNDERSCORED):
        for n in range(5):
            redis_client.xadd(name, {"temperature": str(20 + n), "humidity": str(40 + n)})
    redis_client.xgroup_create("madurai", "mygroup", id="0")
    redis_client.xreadgroup("mygroup", "alice", {"madurai": ">"}, count=2)


def start_export(page, stream: str = "madurai") -> str:
    """Start an export from the jobs page; the path of its job page."""
    page.goto(f"/jobs/?stream={stream}")
    page.click("form[action='/jobs/export/'] button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]+/$"))
    return re.sub(r"^https?://[^/]+", "", page.url)


def horizontal_overflow(page) -> int:
    """How many pixels the page is wider than the window (0 when it does not scroll sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_no_main_page_scrolls_sideways(page, streams, viewport):
    job_page = start_export(page)
    page.set_viewport_size(viewport)
    for path in [*MAIN_PAGES, job_page]:
        page.goto(path)
        page.wait_for_load_state("load")
        assert horizontal_overflow(page) <= 0, path
        assert page.evaluate("(h1 => h1.scrollWidth <= h1.clientWidth)(document.querySelector('h1'))"), path


def test_the_login_page_does_not_scroll_sideways_and_its_fields_stack(anonymous_page, redis_client):
    page = anonymous_page
    for viewport in (PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        page.goto("/accounts/login/")
        assert horizontal_overflow(page) <= 0
        boxes = {
            name: page.locator(selector).bounding_box()
            for name, selector in {
                "user label": "label[for=id_username]",
                "user": "#id_username",
                "password label": "label[for=id_password]",
                "password": "#id_password",
                "button": "form button[type=submit]",
            }.items()
        }
        lefts = {round(box["x"]) for box in boxes.values()}
        assert len(lefts) == 1, f"every label, field and the button start at the same left edge: {boxes}"
        assert boxes["user"]["width"] == boxes["password"]["width"]
        tops = [boxes[name]["y"] for name in ("user label", "user", "password label", "password", "button")]
        bottoms = [boxes[name]["y"] + boxes[name]["height"] for name in ("user label", "user", "password label")]
        assert all(bottom <= top + 0.5 for bottom, top in zip(bottoms, tops[1:], strict=False)), boxes


WORD_LINES = """
([h1, name]) => {
  // The name may span several text nodes (a <wbr> after each joint): find each word in turn.
  const nodes = [];
  const walker = document.createTreeWalker(h1, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) nodes.push(node);
  const tops = (range) => new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size;
  const lines = {};
  let index = 0, from = 0, first = null, last = null;
  for (const word of name.split("-")) {
    while (index < nodes.length && nodes[index].data.indexOf(word, from) < 0) { index++; from = 0; }
    if (index >= nodes.length) return null;
    const node = nodes[index], at = node.data.indexOf(word, from);
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + word.length);
    lines[word] = tops(range);
    first = first || [node, at];
    last = [node, at + word.length];
    from = at + word.length;
  }
  const all = document.createRange();
  all.setStart(first[0], first[1]);
  all.setEnd(last[0], last[1]);
  lines["(whole name)"] = tops(all);
  return lines;
}
"""


def test_a_long_stream_title_wraps_between_words_on_a_phone(page, streams):
    page.set_viewport_size(PHONE)
    for path in (f"/streams/{HYPHENATED}/", f"/streams/{HYPHENATED}/groups/"):
        page.goto(path)
        h1 = page.locator("h1")
        lines = page.evaluate(WORD_LINES, [h1.element_handle(), HYPHENATED])
        assert lines is not None, path
        assert lines.pop("(whole name)") > 1, "the name is longer than a phone's line: it wraps"
        assert lines == {word: 1 for word in HYPHENATED.split("-")}, f"{path}: a word was split: {lines}"
        size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)")
        assert size <= 20, "titles are set smaller on a phone"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_trim_strategy_choices_are_fully_visible(page, streams, viewport):
    page.set_viewport_size(viewport)
    page.goto("/jobs/")
    form = page.locator("form[action='/jobs/trim/']")
    frame = form.bounding_box()
    choices = form.locator("label.choice")
    assert choices.count() == 2
    for index in range(2):
        choice = choices.nth(index)
        box = choice.bounding_box()
        assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"] + 0.5, box
        assert choice.evaluate("label => label.scrollWidth <= label.clientWidth"), "nothing of it is cut off"
        text_right = choice.evaluate(
            "label => { const range = document.createRange(); range.selectNodeContents(label);"
            " return Math.max(...[...range.getClientRects()].map((rect) => rect.right)); }"
        )
        assert text_right <= frame["x"] + frame["width"] + 0.5
    assert "drop entries older than an ID or date-time (MINID)" in form.inner_text()
    form.locator("label.choice", has_text="MINID").click()
    assert form.locator("input[name=strategy][value=minid]").is_checked()


def test_table_rows_are_compact_on_a_phone(page, streams):
    page.set_viewport_size(PHONE)
    page.goto("/streams/")
    row = page.locator("table tbody tr").first
    cell = row.locator("td[data-label='Length']")
    line_height = cell.evaluate("td => parseFloat(getComputedStyle(td).lineHeight)")
    box = cell.bounding_box()
    assert box["height"] <= 1.5 * line_height, "label and value on one line"
    label_width = cell.evaluate("td => parseFloat(getComputedStyle(td, '::before').width)")
    value_left = cell.evaluate(
        "td => { const range = document.createRange(); range.selectNodeContents(td);"
        " return range.getClientRects()[0].left - td.getBoundingClientRect().left; }"
    )
    assert value_left >= label_width, "the value starts after its label, on the same line"
    assert row.bounding_box()["height"] < 320, "a stream's row fits in well under half a phone screen"


def test_pages_ask_for_nothing_that_is_not_there(page, streams):
    failed: list[str] = []
    page.on("response", lambda response: response.status >= 400 and failed.append(f"{response.status} {response.url}"))
    for viewport in (PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        for path in MAIN_PAGES:
            page.goto(path)
            page.wait_for_load_state("load")
    icon = page.evaluate("document.querySelector('link[rel=icon]').href")
    assert icon.endswith("/static/streams_app/favicon.svg")
    response = page.goto("/favicon.ico")
    assert response.ok and response.headers["content-type"] == "image/svg+xml"
    assert failed == []


def test_a_finished_export_page_shows_size_start_finish_and_duration_live(page, streams, job_worker):
    job_page = start_export(page)
    page.set_viewport_size(PHONE)
    page.goto(job_page)
    page.wait_for_selector("[data-job-state]:text-is('finished')", timeout=30_000)
    page.wait_for_function("document.querySelector('[data-job-size]').textContent.includes('entries exported')")
    assert re.fullmatch(r"[\d.]+ (bytes|KB), 5 entries exported", page.inner_text("[data-job-size]"))
    started, finished = page.inner_text("[data-job-started]"), page.inner_text("[data-job-finished]")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", started) and started <= finished
    assert re.fullmatch(r"\d+(\.\d)? m?s", page.inner_text("[data-job-duration]"))
    assert page.inner_text("[data-job-download]").strip() == "Download madurai_all.csv"
    assert horizontal_overflow(page) <= 0
