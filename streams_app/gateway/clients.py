"""Every Redis client the app uses, built here and nowhere else: sync and asyncio, on the
app's Redis (`REDIS_URL`, read through conf), and the connection RQ's jobs use."""

from __future__ import annotations

import functools

import redis
import redis.asyncio as aioredis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from streams_app.conf import app_settings

# Web requests wait this long for a reply; a worker's blocking read waits longer (see worker_client).
REQUEST_TIMEOUT_SECONDS = 5.0
LIVE_TIMEOUT_SECONDS = 10.0


def client_options(*, socket_timeout: float | None, retries: int) -> dict:
    """What every client of ours (sync or asyncio) is built with.

    Replies stay bytes: values written by other programs need not be UTF-8.
    """
    return {
        "decode_responses": False,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": 2.0,
        "socket_keepalive": True,
        "health_check_interval": 15,
        "retry": Retry(ExponentialBackoff(cap=0.25, base=0.02), retries),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
    }


def connect(url: str, *, socket_timeout: float | None = REQUEST_TIMEOUT_SECONDS, retries: int = 2) -> redis.Redis:
    """A client for `url` (redis://, rediss://, unix://; passwords in the URL work)."""
    return redis.Redis.from_url(url, **client_options(socket_timeout=socket_timeout, retries=retries))


def connect_async(url: str, *, socket_timeout: float = LIVE_TIMEOUT_SECONDS) -> aioredis.Redis:
    """An asyncio client for `url`, for the live pages."""
    return aioredis.Redis.from_url(url, **client_options(socket_timeout=socket_timeout, retries=1))


@functools.cache
def _shared_client(url: str) -> redis.Redis:
    return connect(url)


def app_client() -> redis.Redis:
    """This process's client on the app's Redis (one connection pool per URL)."""
    return _shared_client(app_settings().redis_url)


def worker_client(*, block_ms: int) -> redis.Redis:
    """A worker's own client: its socket timeout outlasts its longest blocking read."""
    return connect(app_settings().redis_url, socket_timeout=block_ms / 1000 + 5)


def live_client() -> aioredis.Redis:
    """An asyncio client on the app's Redis (one per event loop: the live feeds build it)."""
    return connect_async(app_settings().redis_url)
