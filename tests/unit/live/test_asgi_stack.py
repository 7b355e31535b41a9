"""The WebSocket side of the production ASGI application: origin checked, then the session's user."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from streams_app.live import consumers
from tests.unit.live.sockets import close_code, open_socket, run_live

TAIL = "/ws/streams/chennai/tail/"
SAME_ORIGIN = (b"origin", b"http://localhost")


@pytest.mark.django_db(transaction=True)
def test_a_socket_needs_an_allowed_origin_and_a_logged_in_session(redis_client, user):
    from weatherstreams.asgi import application

    redis_client.xadd("chennai", {"temperature": "26"})
    browser = Client()
    browser.force_login(user)
    cookie = (
        b"cookie",
        f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}".encode(),
    )

    async def scenario() -> None:
        await close_code(application, TAIL, headers=[(b"origin", b"http://evil.example"), cookie])
        assert await close_code(application, TAIL, headers=[SAME_ORIGIN]) == consumers.CLOSE_UNAUTHENTICATED
        async with open_socket(application, TAIL, headers=[SAME_ORIGIN, cookie]) as socket:
            snapshot = await socket.receive_json_from(timeout=5)
            assert snapshot["type"] == "snapshot"
            assert [entry["fields"] for entry in snapshot["entries"]] == [{"temperature": "26"}]

    run_live(scenario)
