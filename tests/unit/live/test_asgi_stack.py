"""The WebSocket side of the production ASGI application (weatherstreams.asgi): the origin is
checked against the site's own scheme, host and port (or CSRF_TRUSTED_ORIGINS), then the
session's user."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from streams_app.live import messages
from tests.unit.live.sockets import handshake_refused, open_socket, refusal, run_live

pytestmark = pytest.mark.django_db(transaction=True)

DASHBOARD = "/ws/dashboard/"
TAIL = "/ws/streams/chennai/tail/"


def headers(host: str | None, origin: str | None, *extra: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    found = [(b"host", host.encode())] if host is not None else []
    found += [(b"origin", origin.encode())] if origin is not None else []
    return [*found, *extra]


class WithScope:
    """ASGI middleware that adds `extra` to the scope (what a TLS-serving server would put there)."""

    def __init__(self, inner: Any, **extra: Any) -> None:
        self.inner, self.extra = inner, extra

    async def __call__(self, scope: dict, receive, send) -> None:
        await self.inner({**scope, **self.extra}, receive, send)


@pytest.fixture
def site(settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://proxy.example", "https://*.corp.example"]
    settings.SECURE_PROXY_SSL_HEADER = None
    return settings


LET_THROUGH = [
    pytest.param("127.0.0.1:8000", "http://127.0.0.1:8000", [], id="same scheme, host and port"),
    pytest.param("localhost", "http://localhost:80", [], id="default port written out"),
    pytest.param("LOCALHOST:8000", "http://localhost:8000", [], id="host case does not matter"),
    pytest.param("[::1]:8000", "http://[::1]:8000", [], id="IPv6"),
    pytest.param("127.0.0.1:8000", "https://proxy.example", [], id="listed in CSRF_TRUSTED_ORIGINS"),
    pytest.param("127.0.0.1:8000", "https://a.b.corp.example", [], id="a subdomain of a trusted *. origin"),
]
TURNED_AWAY = [
    pytest.param("127.0.0.1:8000", "http://127.0.0.1:9999", [], id="another port on the same host"),
    pytest.param("127.0.0.1:8000", "https://127.0.0.1:8000", [], id="https origin on a plain-HTTP site"),
    pytest.param("127.0.0.1:8000", "http://evil.example", [], id="another host"),
    pytest.param("127.0.0.1:8000", None, [], id="no Origin header"),
    pytest.param("127.0.0.1:8000", "null", [], id="opaque origin"),
    pytest.param("127.0.0.1:8000", "http://127.0.0.1:8000/ws/", [], id="not an origin"),
    pytest.param("127.0.0.1:8000", "ws://127.0.0.1:8000", [], id="not a web scheme"),
    pytest.param("evil.example:8000", "http://evil.example:8000", [], id="own origin, but a host not allowed"),
    pytest.param(None, "http://127.0.0.1:8000", [], id="no Host header and no server"),
    pytest.param("127.0.0.1:8000", "https://proxy.example:8443", [], id="trusted host on another port"),
    pytest.param("127.0.0.1:8000", "http://proxy.example", [], id="trusted host with another scheme"),
    pytest.param(
        "example.com",
        "https://example.com",
        [(b"x-forwarded-proto", b"https")],
        id="X-Forwarded-Proto without SECURE_PROXY_SSL_HEADER",
    ),
]


@pytest.mark.parametrize(("host", "origin", "extra"), LET_THROUGH)
def test_an_origin_that_is_the_site_own_or_trusted_is_let_through(redis_client, site, host, origin, extra):
    from weatherstreams.asgi import application

    async def scenario() -> None:
        assert not await handshake_refused(application, DASHBOARD, headers=headers(host, origin, *extra))

    run_live(scenario)


@pytest.mark.parametrize(("host", "origin", "extra"), TURNED_AWAY)
def test_any_other_origin_is_refused_at_the_handshake(redis_client, site, host, origin, extra):
    from weatherstreams.asgi import application

    async def scenario() -> None:
        assert await handshake_refused(application, DASHBOARD, headers=headers(host, origin, *extra))

    run_live(scenario)


def test_tls_counts_from_the_scope_or_from_the_proxy_header_django_trusts(redis_client, site):
    from weatherstreams.asgi import application

    async def scenario() -> None:
        tls = WithScope(application, scheme="wss")
        assert not await handshake_refused(tls, DASHBOARD, headers=headers("example.com", "https://example.com"))
        assert await handshake_refused(tls, DASHBOARD, headers=headers("example.com", "http://example.com"))

        site.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        proxied = headers("example.com", "https://example.com", (b"x-forwarded-proto", b"https"))
        assert not await handshake_refused(application, DASHBOARD, headers=proxied)
        assert await handshake_refused(application, DASHBOARD, headers=headers("example.com", "https://example.com"))

    run_live(scenario)


def test_without_a_host_header_the_server_address_is_the_site_origin(redis_client, site):
    from weatherstreams.asgi import application

    async def scenario() -> None:
        served = WithScope(application, server=("127.0.0.1", 8000))
        assert not await handshake_refused(served, DASHBOARD, headers=headers(None, "http://127.0.0.1:8000"))
        assert await handshake_refused(served, DASHBOARD, headers=headers(None, "http://127.0.0.1:9999"))

    run_live(scenario)


def test_past_the_origin_check_a_socket_needs_a_logged_in_session(redis_client, site, owner):
    from weatherstreams.asgi import application

    redis_client.xadd("chennai", {"temperature": "26"})
    browser = Client()
    browser.force_login(owner)
    cookie = (
        b"cookie",
        f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}".encode(),
    )
    same_origin = headers("localhost:8000", "http://localhost:8000")

    async def scenario() -> None:
        assert await handshake_refused(
            application, TAIL, headers=headers("localhost:8000", "http://evil.example", cookie)
        )
        anonymous = await refusal(application, TAIL, headers=same_origin)
        assert anonymous.code == messages.CLOSE_UNAUTHENTICATED
        async with open_socket(application, TAIL, headers=[*same_origin, cookie]) as socket:
            snapshot = await socket.receive_json_from(timeout=5)
            assert snapshot["type"] == "snapshot"
            assert [entry["fields"] for entry in snapshot["entries"]] == [{"temperature": "26"}]

    run_live(scenario)
