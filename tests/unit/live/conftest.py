"""Every live test starts with no feeds and no channel layer of an earlier test's event loop."""

from __future__ import annotations

import pytest
import redis
from channels.layers import channel_layers

from streams_app.live import registry


@pytest.fixture(autouse=True)
def no_feeds_across_tests():
    """Each test runs its own event loop: feeds, their Redis clients and the channel layer's
    connections belong to it and must not be found by the next test."""
    registry._registries.clear()
    channel_layers.backends.clear()
    yield
    leftover = list(registry._registries.values())
    registry._registries.clear()
    channel_layers.backends.clear()
    assert not leftover, "a test left feeds running: run its scenario with sockets.run_live"


@pytest.fixture
def owner(django_user_model):
    """A logged-in user of the live pages (in no role group: live pages are for every user)."""
    return django_user_model.objects.create_user(username="ana", password="a-long-test-password")


@pytest.fixture
def someone_else(django_user_model):
    return django_user_model.objects.create_user(username="bea", password="a-long-test-password")


@pytest.fixture
def staff_member(django_user_model):
    return django_user_model.objects.create_user(username="root", password="a-long-test-password", is_staff=True)


@pytest.fixture
def queue_client(redis_client, redis_server):
    """The queue's Redis (RQ's jobs, the channel layer): the suite's redis-server, in a cluster run
    too, where `redis_client` is the cluster of the streams. Empty at the start, as `redis_client` is."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()
