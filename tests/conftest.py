"""Fixtures: a real redis-server started for the run (flushed before each test), users,
logged-in clients and API tokens."""

from __future__ import annotations

import os

import pytest
import redis as redis_py

from tests.redis_server import RedisServer

_server: RedisServer | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Start the suite's own redis-server and point every setting (and child process) at it."""
    global _server
    if hasattr(config, "workerinput"):  # pragma: no cover - xdist workers share nothing
        pass
    _server = RedisServer().start()
    os.environ["REDIS_URL"] = _server.url
    from django.conf import settings

    from weatherstreams.redis_settings import redis_dependent_settings

    for name, value in redis_dependent_settings(_server.url).items():
        setattr(settings, name, value)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.stop()


@pytest.fixture(scope="session")
def redis_server() -> RedisServer:
    assert _server is not None
    return _server


@pytest.fixture
def redis_client(redis_server: RedisServer):
    """A plain redis-py client on the test server, which is empty at the start of each test."""
    redis_server.wait_ready()
    client = redis_py.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def store(redis_client):
    from streams_app.stores import stream_store

    return stream_store()


@pytest.fixture
def user(db, django_user_model):
    return django_user_model.objects.create_user(username="ana", password="a-long-test-password")


@pytest.fixture
def staff_user(db, django_user_model):
    return django_user_model.objects.create_superuser(username="root", password="a-long-test-password")


@pytest.fixture
def web(client, user, redis_client):
    """A browser-like test client, logged in, with CSRF checks on."""
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    return browser


@pytest.fixture
def api_token(user) -> str:
    from streams_app.models import ApiToken

    _, key = ApiToken.objects.issue(user=user, name="tests")
    return key


@pytest.fixture
def api(client, api_token, redis_client):
    """A test client that authenticates as a script does, with a token header."""
    from django.test import Client

    return Client(HTTP_AUTHORIZATION=f"Token {api_token}")
