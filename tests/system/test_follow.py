"""Pages that follow, in a real headless Chromium against a real daphne and the real channel
layer, while redis-py adds entries as redis-cli would: the stream page whose window reaches the
newest entry adds new ones (at the top newest first, at the bottom oldest first), once each, as
text; a page that does not reach it stays as it is; the follow switch stops it; the group page
shows 20 processed rows and keeps the rest behind "show more"."""

from __future__ import annotations

import pytest

from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)>"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def fill(redis_client, count: int, name: str = "chennai") -> list[str]:
    return [redis_client.xadd(name, {"temperature": str(20 + n % 10), "humidity": "50"}).decode() for n in range(count)]


def wait_following(page) -> None:
    page.wait_for_selector(".follow-bar [data-live-status][data-kind=ok]")


def shown_ids(page) -> list[str]:
    return page.eval_on_selector_all("table.entries tbody tr", "rows => rows.map(r => r.cells[0].textContent)")


def test_newest_first_page_adds_new_entries_at_the_top_once_each_as_text(page, redis_client):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    before = fill(redis_client, 5)
    page.goto("/streams/chennai/?order=desc")
    assert page.is_checked("[data-follow-switch]"), "on by default"
    wait_following(page)

    added = fill(redis_client, 4)
    added.append(redis_client.xadd("chennai", {"temperature": "27", "note": XSS}).decode())
    page.wait_for_selector(f"tr[data-id='{added[-1]}']")

    assert shown_ids(page) == list(reversed(before + added)), "newest at the top, in order, each once"
    assert XSS in page.inner_text(f"tr[data-id='{added[-1]}']")
    assert page.locator("table.entries img").count() == 0
    assert page.inner_text("[data-follow-count]") == "5"
    assert "temperature=21" in page.inner_text(f"tr[data-id='{added[1]}']")
    page.wait_for_timeout(300)
    assert dialogs == []


def test_oldest_first_page_at_the_end_adds_new_entries_at_the_bottom(page, redis_client):
    before = fill(redis_client, 3)
    page.goto("/streams/chennai/")
    wait_following(page)
    added = fill(redis_client, 3)
    page.wait_for_selector(f"tr[data-id='{added[-1]}']")
    assert shown_ids(page) == before + added


def test_a_page_whose_window_ends_before_the_newest_entry_does_not_follow(page, redis_client):
    ids = fill(redis_client, 60)
    page.goto("/streams/chennai/")  # oldest first, 50 a page: the last 10 are on the next page
    assert page.locator("[data-follow-switch]").count() == 0
    page.goto(f"/streams/chennai/?order=desc&count=20&after={ids[-21]}")  # newest first, page 2
    assert page.locator("[data-follow-switch]").count() == 0
    shown = shown_ids(page)

    added = fill(redis_client, 2)
    page.wait_for_timeout(1000)
    assert shown_ids(page) == shown
    assert page.locator(f"tr[data-id='{added[-1]}']").count() == 0


def test_switching_follow_off_stops_additions_and_on_catches_up_without_duplicates(page, redis_client):
    before = fill(redis_client, 3)
    page.goto("/streams/chennai/?order=desc")
    wait_following(page)
    first = fill(redis_client, 1)
    page.wait_for_selector(f"tr[data-id='{first[0]}']")

    page.uncheck("[data-follow-switch]")
    page.wait_for_selector(".follow-bar [data-live-status][data-state=off]")
    while_off = fill(redis_client, 2)
    page.wait_for_timeout(1000)
    assert page.locator(f"tr[data-id='{while_off[0]}']").count() == 0
    assert shown_ids(page) == list(reversed(before + first))

    page.check("[data-follow-switch]")  # a new socket: its snapshot holds every entry shown
    page.wait_for_selector(f"tr[data-id='{while_off[-1]}']")
    after = fill(redis_client, 1)
    page.wait_for_selector(f"tr[data-id='{after[0]}']")
    assert shown_ids(page) == list(reversed(before + first + while_off + after))


def test_more_new_entries_than_a_snapshot_holds_are_said_to_be_missing(page, redis_client):
    before = fill(redis_client, 2)
    page.goto("/streams/chennai/?order=desc")
    wait_following(page)
    page.uncheck("[data-follow-switch]")
    snapshot_rows = int(page.get_attribute("[data-follow]", "data-snapshot-rows"))
    while_off = fill(redis_client, snapshot_rows + 5)
    page.check("[data-follow-switch]")
    page.wait_for_selector(f"tr[data-id='{while_off[-1]}']")
    # The socket's snapshot brings the newest ones only: no heavy catching up, but a word about the gap.
    assert shown_ids(page) == list(reversed(before + while_off[-snapshot_rows:]))
    note = page.inner_text("[data-follow-gap]")
    assert f"some before {while_off[5]} may be missing here; reload to see every one" in note


def test_followed_rows_are_bounded_and_the_pager_still_reaches_the_dropped_ones(page, redis_client):
    before = fill(redis_client, 5)
    page.goto("/streams/chennai/?order=desc&count=5")
    wait_following(page)
    keep = int(page.get_attribute("[data-follow]", "data-keep"))
    added = fill(redis_client, keep)  # one pipeline would arrive as one message; these come in several
    page.wait_for_selector(f"tr[data-id='{added[-1]}']")
    everything = list(reversed(before + added))
    page.wait_for_function(
        "n => document.querySelectorAll('table.entries tbody tr').length === n && "
        "document.querySelector('[data-follow-count]').textContent.replace(/\\D/g, '') === String(n)",
        arg=keep,
    )
    assert shown_ids(page) == everything[:keep]
    page.click("a[rel=next]")
    assert shown_ids(page) == everything[keep:], "the next page starts right after the last row kept"


def test_the_group_page_shows_20_processed_entries_and_the_rest_behind_show_more(page, redis_client, live_app):
    redis_client.xgroup_create("chennai", "mygroup", id="$", mkstream=True)
    # Each entry takes 60 ms: every batch lasts longer than the sampling interval, so every one is
    # reported to the page (worker/sampling.py).
    worker = WorkerProcess(
        "alice",
        "--stream",
        "chennai",
        "--count",
        "2",
        "--work-seconds",
        "0.06",
        redis_url=live_app.env["REDIS_URL"],
        handler="streams_app.worker.handlers.noop",
    )
    try:
        worker.wait_for_output("is consuming")
        page.goto("/streams/chennai/groups/mygroup/")
        page.wait_for_selector("[data-live-status][data-kind=ok]")
        added = fill(redis_client, 30)
        page.wait_for_function(
            "ids => ids.every(id => document.querySelector(`[data-processed] tr[data-processed-id='${id}']`))",
            arg=added,
            timeout=20_000,
        )
        rows = page.locator("[data-processed] tbody tr")
        assert rows.count() == 30
        visible = page.locator("[data-processed] tbody tr:visible")
        assert visible.count() == 20
        newest_first = visible.evaluate_all("rows => rows.map(r => r.dataset.processedId)")
        assert newest_first == list(reversed(added))[:20]

        more = page.locator("[data-processed-more]")
        assert more.inner_text() == "Show more (10)"
        more.click()
        assert visible.count() == 30
        assert more.inner_text() == "Show fewer"
        more.click()
        assert visible.count() == 20
    finally:
        worker.stop()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_following_page_fits_the_window(page, redis_client, viewport, tmp_path):
    fill(redis_client, 8)
    page.set_viewport_size(viewport)
    page.goto("/streams/chennai/?order=desc&count=8")
    wait_following(page)
    added = [
        redis_client.xadd("chennai", {"temperature": "31.5", "humidity": "12", "note": XSS}).decode(),
        redis_client.xadd("chennai", {"temperature": "32", "humidity": "11"}).decode(),
    ]
    page.wait_for_selector(f"tr[data-id='{added[-1]}']")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert page.locator(".follow-bar").is_visible()
    page.eval_on_selector(".follow-bar", "bar => bar.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(tmp_path / f"follow-{viewport['width']}.png"))  # to look at: pytest --basetemp
