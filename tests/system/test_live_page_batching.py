"""The live pages under load, in a real headless Chromium against a real daphne: thousands of
entries XADDed in one pipeline as fast as Redis takes them (so messages carry many entries and a
frame many messages) and a steady stream. The live tail, the following stream page and the group
page's processed rows end with exactly the rows they keep, the newest, in order, none twice and
none missing, without a reload; frames held back (as a hidden tab's are) change nothing until they
run, and however many messages come meanwhile the page asks for one frame. No clock is read: every
wait is for a state of the page."""

from __future__ import annotations

import json
import threading

import pytest

from streams_app.gateway.keys import processed_events_key

pytestmark = pytest.mark.browser

BURST = 2000
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

# Before the page's scripts: requestAnimationFrame can be held (as in a hidden tab, where frames do
# not run) and released; the last entry ID the socket delivered is kept.
FRAMES_JS = """
(() => {
  const realFrame = window.requestAnimationFrame.bind(window);
  window.__held = null;
  window.requestAnimationFrame = (callback) =>
    window.__held ? (window.__held.push(callback), 0) : realFrame(callback);
  window.__holdFrames = () => { window.__held = []; };
  window.__releaseFrames = () => {
    const held = window.__held;
    window.__held = null;
    held.forEach(realFrame);
  };
  const Native = window.WebSocket;
  function Watched(...args) {
    const socket = new Native(...args);
    socket.addEventListener("message", (event) => {
      const data = JSON.parse(event.data);
      if (data.entries && data.entries.length) window.__lastDelivered = data.entries[data.entries.length - 1].id;
    });
    return socket;
  }
  Watched.prototype = Native.prototype;
  Object.assign(Watched, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = Watched;
})();
"""


def burst(redis_client, count: int, name: str = "chennai") -> list[str]:
    """`count` entries in one pipeline: they reach the page as a few messages of many entries."""
    pipe = redis_client.pipeline(transaction=False)
    for n in range(count):
        pipe.xadd(name, {"temperature": str(20 + n % 10), "humidity": "50", "seq": str(n)})
    return [entry_id.decode() for entry_id in pipe.execute()]


def steady(redis_client, count: int, name: str = "chennai") -> list[str]:
    """`count` entries one XADD at a time from another thread, while the page takes them in."""
    added: list[str] = []

    def produce() -> None:
        for n in range(count):
            added.append(redis_client.xadd(name, {"temperature": "21", "seq": str(n)}).decode())

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join()
    return added


def rows_of(page, table: str, attribute: str = "data-id") -> list[str]:
    return page.eval_on_selector_all(f"{table} tbody tr", f"rows => rows.map(r => r.getAttribute('{attribute}'))")


def wait_for_rows(page, table: str, first: str, count: int, attribute: str = "data-id") -> None:
    """Until the table holds `count` rows and the row `first` is at its top."""
    page.wait_for_function(
        """([table, attribute, first, count]) => {
          const rows = document.querySelectorAll(`${table} tbody tr`);
          return rows.length === count && rows[0].getAttribute(attribute) === first;
        }""",
        arg=[table, attribute, first, count],
        timeout=30_000,
    )


def page_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


TAIL = "[data-live=tail]"


def open_tail(page, redis_client) -> tuple[str, int]:
    first = redis_client.xadd("chennai", {"temperature": "26", "humidity": "10"}).decode()
    page.goto("/streams/chennai/live/")
    page.wait_for_selector("[data-live-status][data-kind=ok]")
    page.wait_for_selector(f"tr[data-id='{first}']")
    return first, int(page.get_attribute(TAIL, "data-max-rows"))


def test_a_burst_leaves_the_live_tail_with_exactly_the_newest_rows_it_keeps(page, redis_client):
    errors = page_errors(page)
    first, max_rows = open_tail(page, redis_client)
    assert page.locator(f"tr[data-id='{first}'].arrived").count() == 0, "a snapshot's rows are not tinted"

    added = burst(redis_client, BURST)
    wait_for_rows(page, TAIL, added[-1], max_rows)

    shown = rows_of(page, TAIL)
    assert shown == list(reversed(added))[:max_rows], "the newest, newest first, none missing"
    assert len(set(shown)) == len(shown)
    assert page.inner_text("[data-count]") == str(max_rows)
    assert "temperature=29" in page.inner_text(f"tr[data-id='{added[-1]}']")
    # New rows are tinted, a batch at a time, and the tint goes (a class taken off, no animation).
    page.wait_for_function("() => !document.querySelector('tr.arrived')")
    assert errors == []


def test_a_steady_stream_leaves_the_live_tail_with_the_newest_rows_in_order(page, redis_client):
    _, max_rows = open_tail(page, redis_client)
    added = steady(redis_client, max_rows + 150)
    wait_for_rows(page, TAIL, added[-1], max_rows)
    assert rows_of(page, TAIL) == list(reversed(added))[:max_rows]


def test_frames_held_back_leave_the_tail_as_it_was_until_they_run_and_one_frame_is_asked_for(page, redis_client):
    page.add_init_script(FRAMES_JS)
    first, max_rows = open_tail(page, redis_client)
    page.evaluate("window.__holdFrames()")

    added = burst(redis_client, BURST)
    # (polled on a timer: Playwright's default polling waits for animation frames)
    page.wait_for_function("last => window.__lastDelivered === last", arg=added[-1], polling=100, timeout=30_000)
    assert rows_of(page, TAIL) == [first], "no frame, no change to the table"
    assert page.evaluate("window.__held.length") == 1, "however many messages, one frame is asked for"

    page.evaluate("window.__releaseFrames()")
    wait_for_rows(page, TAIL, added[-1], max_rows)
    assert rows_of(page, TAIL) == list(reversed(added))[:max_rows]


def test_a_paused_tail_counts_a_burst_and_resumes_with_the_newest_rows(page, redis_client):
    first, max_rows = open_tail(page, redis_client)
    page.click("[data-pause]")
    added = burst(redis_client, BURST)
    page.wait_for_selector(f"[data-missed]:has-text('{BURST} new entries while paused')")
    assert rows_of(page, TAIL) == [first]
    page.click("[data-pause]")  # resync: a snapshot of the newest, then what follows
    page.wait_for_selector(f"tr[data-id='{added[-1]}']")
    shown = rows_of(page, TAIL)
    assert 0 < len(shown) <= max_rows
    assert shown == list(reversed(added))[: len(shown)], "the newest, contiguous"
    assert page.inner_text("[data-missed]") == ""


# --- the stream page that follows ---------------------------------------------------------


def follow_ids(page) -> list[str]:
    return page.eval_on_selector_all("table.entries tbody tr", "rows => rows.map(r => r.cells[0].textContent)")


def test_a_burst_leaves_the_following_page_with_the_newest_rows_and_its_facts_up_to_date(page, redis_client):
    errors = page_errors(page)
    before = burst(redis_client, 5)
    page.goto("/streams/chennai/?order=desc&count=5")
    page.wait_for_selector(".follow-bar [data-live-status][data-kind=ok]")
    keep = int(page.get_attribute("[data-follow]", "data-keep"))
    assert "As of loading the page" in page.inner_text("[data-range-chart]")

    added = burst(redis_client, BURST)
    page.wait_for_function(
        "([last, n]) => document.querySelectorAll('table.entries tbody tr').length === n && "
        "document.querySelector('table.entries tbody tr').cells[0].textContent === last",
        arg=[added[-1], keep],
        timeout=30_000,
    )
    everything = list(reversed(before + added))
    assert follow_ids(page) == everything[:keep]
    assert page.inner_text("[data-follow-count]") == f"{BURST:,}"
    assert page.inner_text("[data-stream-length]") == str(5 + BURST)
    assert page.inner_text("[data-last-id]") == added[-1]
    page.click("a[rel=next]")
    assert follow_ids(page)[0] == everything[keep], "the next page starts right after the last row kept"
    assert errors == []


def test_an_oldest_first_following_page_keeps_the_newest_at_the_bottom_after_a_burst(page, redis_client):
    before = burst(redis_client, 5)
    page.goto("/streams/chennai/?count=5")
    page.wait_for_selector(".follow-bar [data-live-status][data-kind=ok]")
    keep = int(page.get_attribute("[data-follow]", "data-keep"))

    added = steady(redis_client, 50) + burst(redis_client, BURST)
    page.wait_for_function(
        "([last, n]) => { const rows = document.querySelectorAll('table.entries tbody tr');"
        " return rows.length === n && rows[n - 1].cells[0].textContent === last; }",
        arg=[added[-1], keep],
        timeout=30_000,
    )
    everything = before + added
    assert follow_ids(page) == everything[-keep:]
    page.click("a[rel=prev]")
    assert follow_ids(page)[-1] == everything[-keep - 1], "the previous page ends right before the first row kept"


# --- the group page -------------------------------------------------------------------------


def report_processed(redis_client, group: str, batches: list[list[str]]) -> None:
    """Processing reports as a worker writes them (one per batch), in one pipeline."""
    pipe = redis_client.pipeline(transaction=False)
    for ids in batches:
        events = [
            {
                "stream": "chennai",
                "id": entry_id,
                "fields": {"temperature": "21"},
                "ms": 0.2,
                "deliveries": 1,
                "ok": True,
            }
            for entry_id in ids
        ]
        pipe.xadd(
            processed_events_key(group),
            {"consumer": "alice", "processed": str(len(ids)), "failed": "0", "entries": json.dumps(events)},
        )
    pipe.execute()


def test_a_burst_of_processing_reports_leaves_20_rows_and_the_rest_of_the_kept_behind_show_more(page, redis_client):
    errors = page_errors(page)
    redis_client.xgroup_create("chennai", "mygroup", id="$", mkstream=True)
    page.goto("/streams/chennai/groups/mygroup/")
    page.wait_for_selector("[data-live-status][data-kind=ok]")
    max_rows = int(page.get_attribute("[data-live=group]", "data-max-rows"))
    visible_rows = int(page.get_attribute("[data-live=group]", "data-visible-rows"))

    added = burst(redis_client, 600)
    batches = [added[i : i + size] for i, size in _sizes(len(added))]
    report_processed(redis_client, "mygroup", batches)
    wait_for_rows(page, "[data-processed]", added[-1], max_rows, "data-processed-id")
    page.wait_for_function("n => document.querySelector('[data-processed-total]').textContent === String(n)", arg=600)

    shown = rows_of(page, "[data-processed]", "data-processed-id")
    assert shown == list(reversed(added))[:max_rows]
    visible = page.locator("[data-processed] tbody tr:visible")
    assert visible.count() == visible_rows
    assert visible.evaluate_all("rows => rows.map(r => r.dataset.processedId)") == list(reversed(added))[:visible_rows]
    more = page.locator("[data-processed-more]")
    assert more.inner_text() == f"Show more ({max_rows - visible_rows})"
    more.click()
    assert visible.count() == max_rows

    # More arrive while expanded, then folded again: still the newest 20 on show.
    later = burst(redis_client, 30)
    report_processed(redis_client, "mygroup", [later[:10], later[10:]])
    wait_for_rows(page, "[data-processed]", later[-1], max_rows, "data-processed-id")
    assert visible.count() == max_rows
    more.click()
    assert (
        visible.evaluate_all("rows => rows.map(r => r.dataset.processedId)")
        == list(reversed(added + later))[:visible_rows]
    )
    assert errors == []


def _sizes(total: int) -> list[tuple[int, int]]:
    """Batches of 1 to 7 entries covering `total` entries."""
    found, start, size = [], 0, 1
    while start < total:
        found.append((start, size))
        start += size
        size = size % 7 + 1
    return found


# --- how the live tables look ---------------------------------------------------------------


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_live_tables_fit_the_window_and_their_columns_line_up(page, redis_client, viewport, tmp_path):
    redis_client.xgroup_create("chennai", "mygroup", id="$", mkstream=True)
    page.set_viewport_size(viewport)
    pages = {
        "live": ("/streams/chennai/live/", "[data-live=tail] table"),
        "follow": ("/streams/chennai/?order=desc&count=5", "table.entries"),
        "group": ("/streams/chennai/groups/mygroup/", "[data-processed] table"),
    }
    for name, (path, table) in pages.items():
        page.goto(path)
        page.wait_for_selector("[data-live-status][data-kind=ok]")
        added = burst(redis_client, 30)
        added.append(redis_client.xadd("chennai", {"temperature": "31.5", "note": "a long note " * 12}).decode())
        if name == "group":
            report_processed(redis_client, "mygroup", [added])
        attribute = "data-processed-id" if name == "group" else "data-id"
        page.wait_for_selector(f"tr[{attribute}='{added[-1]}']")
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0, name
        if viewport is DESKTOP:
            # Each row lays out on its own (a grid): its cells must still sit under their headings.
            lefts = page.eval_on_selector(
                table,
                "t => [t.tHead.rows[0], t.tBodies[0].rows[0]]"
                ".map(r => [...r.cells].map(c => Math.round(c.getBoundingClientRect().left)))",
            )
            assert lefts[0] == lefts[1], name
        page.eval_on_selector(table, "t => t.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(tmp_path / f"{name}-{viewport['width']}.png"))  # to look at: pytest --basetemp
