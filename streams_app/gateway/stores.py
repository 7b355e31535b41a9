"""The gateway objects of this Django process, on settings.REDIS_URL (one client pool per URL)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from django.conf import settings

from streams_app.gateway import StreamStore, connect
from streams_app.gateway.groups import GroupStore
from streams_app.gateway.heartbeats import HeartbeatStore
from streams_app.gateway.stats import StatsStore

if TYPE_CHECKING:
    from redis import Redis


@functools.cache
def _client_for(url: str) -> Redis:
    return connect(url)


def redis_client() -> Redis:
    return _client_for(settings.REDIS_URL)


def stream_store() -> StreamStore:
    return StreamStore(redis_client())


def group_store() -> GroupStore:
    return GroupStore(redis_client())


def stats_store() -> StatsStore:
    return StatsStore(redis_client())


def heartbeat_store() -> HeartbeatStore:
    return HeartbeatStore(redis_client())
