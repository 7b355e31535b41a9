"""Handlers the worker tests run inside real `manage.py run_consumer` processes.

Each processed entry is recorded in a list on the Redis at RECORDS_URL_ENV (the suite's own
redis-server, off the cluster in a cluster run, so a failover loses no record; REDIS_URL when
unset), so the tests can count what was processed, by whom, and how often.
"""

from __future__ import annotations

import os

import redis

PROCESSED_KEY = "test:processed"
RECORDS_URL_ENV = "WEATHERSTREAMS_TEST_RECORDS_URL"
_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ.get(RECORDS_URL_ENV) or os.environ["REDIS_URL"])
    return _client


def record(message) -> None:
    """Refuses entries marked poison; records every other one as processed."""
    if message.fields.get("poison") == "1":
        raise ValueError(f"poison entry {message.id}")
    _redis().rpush(PROCESSED_KEY, f"{message.stream}|{message.id}|{message.consumer}")
