"""Handlers the worker tests run inside real `manage.py run_consumer` processes.

Each processed entry is recorded in Redis (the suite's own server, from REDIS_URL), so the
tests can count what was processed, by whom, and how often.
"""

from __future__ import annotations

import os

import redis

PROCESSED_KEY = "test:processed"
_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ["REDIS_URL"])
    return _client


def record(message) -> None:
    """Refuses entries marked poison; records every other one as processed."""
    if message.fields.get("poison") == "1":
        raise ValueError(f"poison entry {message.id}")
    _redis().rpush(PROCESSED_KEY, f"{message.stream}|{message.id}|{message.consumer}")
