"""The live pages in a real headless Chromium, against the app served by a real daphne with
the real channel layer, while other programs (redis-py, workers, the job worker) change Redis."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import quote

import pytest

from streams_app.jobs.progress import job_start
from tests.support.live_server import USERNAME
from tests.support.redis_server import free_port
from tests.support.workers import WorkerProcess, pending_count

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)>"


def wait_live(page) -> None:
    page.wait_for_selector("[data-live-status][data-kind=ok]")


def test_live_tail_shows_entries_added_by_another_program_in_order(page, redis_client):
    redis_client.xadd("chennai", {"temperature": "26", "humidity": "10"})
    page.goto("/streams/chennai/live/")
    wait_live(page)

    added = [redis_client.xadd("chennai", {"temperature": str(20 + n), "humidity": "10"}).decode() for n in range(5)]
    page.wait_for_selector(f"tr[data-id='{added[-1]}']", timeout=5000)

    shown = page.eval_on_selector_all("[data-live=tail] tbody tr", "rows => rows.map(r => r.dataset.id)")
    assert shown[:5] == list(reversed(added)), "newest first, every one of them, in order"
    assert len(shown) == 6
    row = page.inner_text(f"tr[data-id='{added[2]}']")
    assert "temperature=22" in row


def test_pause_holds_new_rows_and_resume_catches_up(page, redis_client):
    redis_client.xadd("chennai", {"temperature": "26", "humidity": "10"})
    page.goto("/streams/chennai/live/")
    wait_live(page)
    page.click("[data-pause]")
    added = [redis_client.xadd("chennai", {"temperature": "30", "humidity": "5"}).decode() for _ in range(3)]
    page.wait_for_selector("[data-missed]:has-text('3 new entries while paused')")
    assert page.locator(f"tr[data-id='{added[0]}']").count() == 0
    page.click("[data-pause]")
    page.wait_for_selector(f"tr[data-id='{added[-1]}']")
    assert page.locator("[data-live=tail] tbody tr").count() == 4


def test_two_workers_processed_rows_appear_and_pending_drops_to_zero(page, redis_client, live_app):
    redis_client.xgroup_create("chennai", "mygroup", id="$", mkstream=True)
    workers = [
        WorkerProcess(
            name,
            "--stream",
            "chennai",
            "--work-seconds",
            "0.05",
            "--count",
            "2",
            redis_url=live_app.env["REDIS_URL"],
            handler="streams_app.worker.handlers.noop",
        )
        for name in ("alice", "bob")
    ]
    try:
        for worker in workers:
            worker.wait_for_output("is consuming")
        page.goto("/streams/chennai/groups/mygroup/")
        wait_live(page)
        added = [redis_client.xadd("chennai", {"temperature": "21", "humidity": str(n)}).decode() for n in range(20)]

        page.wait_for_function(
            "ids => ids.every(id => document.querySelector(`[data-processed] tr[data-processed-id='${id}']`))",
            arg=added,
            timeout=20_000,
        )
        consumers = page.eval_on_selector_all(
            "[data-processed] tbody tr", "rows => rows.map(r => r.cells[0].textContent)"
        )
        assert set(consumers) == {"alice", "bob"}, "both workers' names appear"
        page.wait_for_selector("[data-pending]:text-is('0')")
        for name in ("alice", "bob"):
            page.wait_for_selector(f"[data-consumer-pending='{name}']:text-is('0')")
        assert pending_count(redis_client, "chennai") == 0
        assert page.locator("[data-group-workers] tbody tr").count() == 2
    finally:
        for worker in workers:
            worker.stop()


def test_simulate_a_day_progress_reaches_100_and_stream_grows_by_86400(page, redis_client, job_worker):
    page.goto("/jobs/")
    page.fill("form[action='/jobs/simulate/'] [name=city]", "madurai")
    page.click("form[action='/jobs/simulate/'] button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]+/$"))
    page.wait_for_selector("[data-job-state]:text-is('finished')", timeout=60_000)
    assert page.get_attribute("[data-job-progress]", "value") == "100"
    assert page.inner_text("[data-job-percent]") == "100"
    assert redis_client.xlen("madurai") == 86_400
    assert "86,400" in page.inner_text("[data-job-message]")


def test_a_job_that_fails_says_why_on_its_page(page, redis_client, live_app):
    redis_client.xadd("madurai", {"temperature": "30", "humidity": "40"})
    page.goto("/jobs/?stream=madurai")
    page.click("form[action='/jobs/export/'] button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]+/$"))
    # The stream goes away before the job worker gets to it.
    redis_client.delete("madurai")
    worker = live_app.start_job_worker()
    try:
        page.wait_for_selector("[data-job-state]:text-is('failed')", timeout=30_000)
        assert "There is no stream called “madurai”" in page.inner_text("[data-job-error]")
    finally:
        worker.terminate()
        worker.wait(timeout=10)


def test_trimming_pending_entries_needs_confirmation(page, redis_client):
    for n in range(10):
        redis_client.xadd("chennai", {"temperature": "20", "humidity": str(n)})
    redis_client.xgroup_create("chennai", "mygroup", id="0")
    redis_client.xreadgroup("mygroup", "alice", {"chennai": ">"}, count=3)
    page.goto("/jobs/?stream=chennai")
    page.fill("form[action='/jobs/trim/'] [name=threshold]", "2")
    page.uncheck("form[action='/jobs/trim/'] [name=approximate]")
    page.click("form[action='/jobs/trim/'] button[type=submit]")
    assert "still pending in mygroup" in page.inner_text("form[action='/jobs/trim/']")
    assert redis_client.xlen("chennai") == 10


def test_html_in_a_field_shows_as_text_and_runs_nothing(page, redis_client):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    first = redis_client.xadd("chennai", {"temperature": "26", "note": XSS}).decode()

    page.goto("/streams/chennai/")
    assert XSS in page.inner_text("table.entries")
    assert page.locator("table.entries img").count() == 0

    page.goto("/streams/chennai/live/")
    wait_live(page)
    second = redis_client.xadd("chennai", {"temperature": "27", "note": XSS}).decode()
    page.wait_for_selector(f"tr[data-id='{second}']")
    assert XSS in page.inner_text(f"tr[data-id='{second}']")
    assert XSS in page.inner_text(f"tr[data-id='{first}']")
    assert page.locator("[data-live=tail] img").count() == 0

    page.goto(f"/streams/chennai/entries/{first}/")
    assert XSS in page.inner_text("dl.entry-fields")
    page.wait_for_timeout(300)
    assert dialogs == []


def test_an_anonymous_browser_gets_no_live_data(anonymous_page, redis_client, live_app):
    redis_client.xadd("chennai", {"temperature": "26", "humidity": "10"})
    anonymous_page.goto("/streams/chennai/live/")
    assert "/accounts/login/" in anonymous_page.url

    outcome = anonymous_page.evaluate(
        """url => new Promise(resolve => {
            const messages = [];
            const socket = new WebSocket(url);
            socket.onmessage = event => messages.push(event.data);
            socket.onclose = event => resolve({code: event.code, messages});
            setTimeout(() => resolve({code: 'still open', messages}), 5000);
        })""",
        live_app.url.replace("http", "ws") + "/ws/streams/chennai/tail/",
    )
    # Told to log in, then closed: no live data.
    assert [json.loads(message) for message in outcome["messages"]] == [
        {"type": "error", "message": "You are not logged in (any more): log in again to see live data."}
    ]
    assert outcome["code"] == 4401


def test_dashboard_lists_streams_groups_and_workers_live(page, redis_client):
    page.goto("/")
    wait_live(page)
    redis_client.xadd("coimbatore", {"temperature": "21", "humidity": "10"})
    redis_client.xgroup_create("coimbatore", "mygroup", id="0")
    page.wait_for_selector("[data-streams] td:text-is('coimbatore'), [data-streams] a:text-is('coimbatore')")
    page.wait_for_selector("[data-groups] a:text-is('mygroup')")


def test_tails_and_the_dashboard_follow_chennai_and_coimbatore_at_once(page, redis_client):
    # In a cluster run the two streams sit on different primaries: two blocking reads, two nodes.
    for name in ("chennai", "coimbatore"):
        redis_client.xadd(name, {"temperature": "26", "humidity": "10"})
        redis_client.xgroup_create(name, "mygroup", id="0")
    other = page.context.new_page()
    page.goto("/streams/chennai/live/")
    other.goto("/streams/coimbatore/live/")
    wait_live(page)
    wait_live(other)

    # IDs are per stream: two XADD * in one millisecond give both streams the same ID, so
    # coimbatore's is made one chennai cannot have (sequence 7 in chennai's millisecond).
    chennai_id = redis_client.xadd("chennai", {"temperature": "30", "humidity": "5"}).decode()
    coimbatore_id = f"{chennai_id.split('-')[0]}-7"
    redis_client.xadd("coimbatore", {"temperature": "30", "humidity": "5"}, id=coimbatore_id)
    added = {"chennai": chennai_id, "coimbatore": coimbatore_id}
    page.wait_for_selector(f"tr[data-id='{added['chennai']}']")
    other.wait_for_selector(f"tr[data-id='{added['coimbatore']}']")
    assert page.locator(f"tr[data-id='{added['coimbatore']}']").count() == 0, "each tail shows its own stream"

    other.goto("/")
    wait_live(other)
    for name in ("chennai", "coimbatore"):
        other.wait_for_selector(f"[data-streams] a:text-is('{name}')")
    other.close()


def test_live_tail_rows_link_to_their_own_entry(page, redis_client):
    redis_client.xadd("chennai", {"temperature": "26", "humidity": "10"})
    page.goto("/streams/chennai/live/")
    wait_live(page)
    added = redis_client.xadd("chennai", {"temperature": "31", "humidity": "12"}).decode()

    link = page.locator(f"tr[data-id='{added}'] a")
    assert link.get_attribute("href") == f"/streams/chennai/entries/{added}/"
    link.click()
    page.wait_for_url(f"**/streams/chennai/entries/{added}/")
    assert added in page.inner_text("main")
    assert "31" in page.inner_text("dl.entry-fields")


@pytest.mark.parametrize("name", ["rain?today", "bay#2", "a?b#c%d"])
def test_the_live_page_of_a_stream_whose_name_holds_url_characters_connects(page, redis_client, name):
    first = redis_client.xadd(name, {"temperature": "26", "humidity": "10"}).decode()
    page.goto(f"/streams/{quote(name, safe='')}/live/")
    assert name in page.inner_text("h1")
    wait_live(page)
    page.wait_for_selector(f"tr[data-id='{first}']")

    added = redis_client.xadd(name, {"temperature": "27", "humidity": "11"}).decode()
    page.wait_for_selector(f"tr[data-id='{added}']")
    page.click(f"tr[data-id='{added}'] a")
    page.wait_for_url(f"**/entries/{added}/")
    assert "27" in page.inner_text("dl.entry-fields")


# Runs before the page's own script: its WebSockets go to `target` instead (the page cannot tell),
# counted in window.socketAttempts.
REDIRECT_SOCKETS = """target => {
    const Real = window.WebSocket;
    window.socketAttempts = 0;
    function Redirected(url, protocols) {
        window.socketAttempts += 1;
        const to = target.startsWith("ws") ? target : url.replace(/^(wss?:\\/\\/[^/]+).*$/, "$1" + target);
        return new Real(to, protocols);
    }
    Redirected.prototype = Real.prototype;
    for (const name of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Redirected[name] = Real[name];
    window.WebSocket = Redirected;
}"""


def point_sockets_at(page, target: str) -> Callable[[], int]:
    """Send the page's WebSockets to `target` (a path on the same server, or a ws:// URL); returns
    how to ask how many sockets the page has opened so far."""
    page.add_init_script(f"({REDIRECT_SOCKETS})({json.dumps(target)})")
    return lambda: page.evaluate("window.socketAttempts")


def test_a_page_whose_socket_cannot_connect_says_it_is_not_connected_and_keeps_trying(page, redis_client):
    redis_client.xadd("chennai", {"temperature": "26", "humidity": "10"})
    attempts = point_sockets_at(page, f"ws://127.0.0.1:{free_port()}/ws/streams/chennai/tail/")  # nothing listens
    page.goto("/streams/chennai/live/")

    status = page.locator("[data-live-status]")
    page.wait_for_selector("[data-live-status][data-state='not-connected']")
    assert status.is_visible()
    assert re.fullmatch(
        r"not connected: the server does not answer this page's WebSocket; reconnecting in [0-9.]+ s…",
        status.inner_text(),
    )
    assert status.get_attribute("data-kind") == "error"
    page.wait_for_function("() => document.querySelector('[data-live-status]').textContent.includes('in 1 s')")
    assert attempts() >= 2, "it tries again"
    assert page.locator("[data-live=tail] tbody tr").count() == 0


def test_a_page_whose_socket_is_refused_says_why_and_stops_trying(page, redis_client):
    redis_client.xadd("chennai", {"temperature": "26", "humidity": "10"})
    attempts = point_sockets_at(page, "/ws/streams/nowhere/tail/")
    page.goto("/streams/chennai/live/")

    page.wait_for_selector("[data-live-status][data-state='refused']")
    status = page.locator("[data-live-status]")
    assert status.is_visible()
    assert status.inner_text() == "There is no stream called “nowhere”."
    page.wait_for_timeout(1500)  # longer than the first reconnection delay
    assert attempts() == 1, "a refused socket is not retried"


def test_a_job_page_socket_stays_open_for_20_seconds(page, redis_client, live_app):
    tester = live_app.manage(
        "shell",
        "-v",
        "0",
        "-c",
        f"from django.contrib.auth.models import User; print(User.objects.get(username={USERNAME!r}).pk)",
    )
    # No job worker runs: the job stays queued, and the page re-reads it every 3 s.
    job_id = job_start(
        kind="test", func=json.dumps, kwargs={"obj": []}, title="A waiting job", user_id=int(tester.stdout)
    )
    sockets = []
    page.on("websocket", lambda opened: sockets.append(opened))
    page.goto(f"/jobs/{job_id}/")
    wait_live(page)
    [socket] = [opened for opened in sockets if "/ws/jobs/" in opened.url]
    frames: list[str] = []
    socket.on("framereceived", lambda frame: frames.append(frame))

    page.wait_for_timeout(20_000)  # channels_redis waits 5 s per read: the old 5 s socket timeout closed it by now
    assert not socket.is_closed()
    assert len([opened for opened in sockets if "/ws/jobs/" in opened.url]) == 1, "never reconnected"
    assert page.get_attribute("[data-live-status]", "data-kind") == "ok"
    assert page.inner_text("[data-live-status]") == "live"
    assert page.inner_text("[data-job-state]") == "queued"
    assert len(frames) >= 5, "the job was re-read every 3 s all along"
