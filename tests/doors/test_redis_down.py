"""When Redis cannot be reached, every page and API call says so: 503, a clear message,
no traceback. The suite's own redis-server keeps running: REDIS_URL points at a port
where nothing listens instead."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from tests.support.redis_server import free_port


@pytest.fixture
def redis_down(settings, redis_client):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    return settings.REDIS_URL


@pytest.fixture
def web(web, redis_down):
    return web


@pytest.fixture
def api(api, redis_down):
    return api


@pytest.fixture
def staff(staff_user, redis_down):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff_user)
    return browser


def assert_says_redis_is_down(response) -> str:
    body = response.content.decode()
    assert response.status_code == 503, body[:1000]
    assert "Traceback" not in body
    assert "Redis is unavailable" in body
    return body


@pytest.mark.parametrize(
    "url",
    [
        "/streams/",
        "/streams/chennai/",
        "/streams/chennai/?start=1&end=2&order=desc",
        "/streams/chennai/entries/1-0/",
        "/streams/~Y2Fm6Q/",
    ],
)
def test_pages_say_redis_is_unavailable(web, url):
    body = assert_says_redis_is_down(web.get(url))
    assert "<h1>Redis is unavailable</h1>" in body


def csrf(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200  # the empty form shows even without Redis
    return client.cookies["csrftoken"].value


def test_add_reading_form_says_redis_is_unavailable(web):
    token = csrf(web, "/readings/add/")
    response = web.post(
        "/readings/add/",
        {"csrfmiddlewaretoken": token, "city": "chennai", "temperature": "26", "humidity": "10", "id": ""},
    )
    body = assert_says_redis_is_down(response)
    assert 'value="chennai"' in body  # the form keeps what was typed


def test_admin_add_reading_says_redis_is_unavailable(staff):
    token = csrf(staff, "/admin/streams_app/reading/add/")
    response = staff.post(
        "/admin/streams_app/reading/add/",
        {"csrfmiddlewaretoken": token, "city": "chennai", "temperature": "26", "humidity": "10", "id": ""},
    )
    assert_says_redis_is_down(response)


@pytest.mark.parametrize(
    "url",
    [
        "/api/streams/",
        "/api/streams/chennai/entries",
        "/api/streams/chennai/entries?start=-&end=%2B&count=5&order=desc",
    ],
)
def test_api_reads_say_redis_is_unavailable(api, url):
    response = api.get(url)
    assert_says_redis_is_down(response)
    assert set(response.json()) == {"error"}


def test_api_write_says_redis_is_unavailable(api):
    response = api.post(
        "/api/streams/chennai/readings",
        json.dumps({"temperature": 26, "humidity": 10}),
        content_type="application/json",
    )
    assert_says_redis_is_down(response)
    assert set(response.json()) == {"error"}


def test_api_still_checks_input_first(api):
    # A bad reading is a bad reading, whether Redis is there or not.
    response = api.post(
        "/api/streams/chennai/readings",
        json.dumps({"temperature": 99, "humidity": 10}),
        content_type="application/json",
    )
    assert response.status_code == 400


def test_produce_says_redis_is_unavailable(redis_down, db):
    with pytest.raises(CommandError) as raised:
        call_command("produce", "chennai", "--count", "10", "--quiet")
    assert "Redis is unavailable" in str(raised.value)


def test_the_real_server_was_left_alone(redis_down, redis_client):
    assert redis_client.ping()
