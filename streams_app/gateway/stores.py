"""The stores of this process, on the app's Redis: what doors and jobs reach Redis through."""

from __future__ import annotations

from streams_app.gateway.clients import app_client
from streams_app.gateway.group_history import GroupHistoryStore
from streams_app.gateway.groups import GroupStore
from streams_app.gateway.heartbeats import HeartbeatStore
from streams_app.gateway.metrics_io import MetricsStore
from streams_app.gateway.retention import RetentionStore
from streams_app.gateway.stats import StatsStore
from streams_app.gateway.streams import StreamStore


def stream_store() -> StreamStore:
    return StreamStore(app_client())


def group_store() -> GroupStore:
    return GroupStore(app_client())


def stats_store() -> StatsStore:
    return StatsStore(app_client())


def heartbeat_store() -> HeartbeatStore:
    return HeartbeatStore(app_client())


def retention_store() -> RetentionStore:
    return RetentionStore(app_client())


def metrics_store() -> MetricsStore:
    return MetricsStore(app_client())


def group_history_store() -> GroupHistoryStore:
    return GroupHistoryStore(app_client())
