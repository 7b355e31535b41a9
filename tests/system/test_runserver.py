"""`python manage.py runserver`, as every Django developer starts an app: it is daphne's
(daphne is first in INSTALLED_APPS), so it serves the live pages' WebSockets as well as HTTP."""

from __future__ import annotations

import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.live_server import PASSWORD, ROOT, USERNAME, LiveApp

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def runserver(redis_server) -> Iterator[LiveApp]:
    """`manage.py runserver --noreload` on a free port, with its own SQLite database and var dir."""
    app = LiveApp(redis_server.url)
    app.env["DJANGO_DEBUG"] = "1"  # as a developer runs it
    app.manage("migrate", "--noinput")
    app.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user(username={USERNAME!r}, password={PASSWORD!r})",
    )
    server = app.spawn(
        "runserver", [sys.executable, str(ROOT / "manage.py"), "runserver", "--noreload", f"127.0.0.1:{app.port}"]
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(app.url + "/accounts/login/", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"runserver did not start:\n{app.log('runserver')}")
        time.sleep(0.1)
    yield app
    app.stop()


def test_runserver_serves_a_live_page_whose_socket_gets_a_new_entry(browser, runserver, redis_client):
    assert "ASGI/Daphne" in runserver.log("runserver"), "runserver is daphne's"
    redis_client.xadd("chennai", {"temperature": "26", "humidity": "10"})
    context = browser.new_context(base_url=runserver.url)
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto("/accounts/login/")
        page.fill("#id_username", USERNAME)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/accounts/login" not in url)

        page.goto("/streams/chennai/live/")
        page.wait_for_selector("[data-live-status][data-kind=ok]")
        assert page.inner_text("[data-live-status]") == "live"
        added = redis_client.xadd("chennai", {"temperature": "29", "humidity": "12"}).decode()
        page.wait_for_selector(f"tr[data-id='{added}']")
        assert "temperature=29" in page.inner_text(f"tr[data-id='{added}']")
    finally:
        context.close()
