"""Redis clients and the translation of Redis failures into domain errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from streams_app.errors import Conflict, DomainError, RedisUnavailable

P = ParamSpec("P")
T = TypeVar("T")

# Errors that mean "Redis is not there right now", as opposed to "Redis said no".
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.AuthenticationError,
    ConnectionError,
    TimeoutError,
    OSError,
)


def connect(url: str, *, socket_timeout: float | None = 5.0, retries: int = 2) -> redis.Redis:
    """A client for `url` (redis://, rediss://, unix://; passwords in the URL work).

    Replies stay bytes: values written by other programs need not be UTF-8.
    """
    return redis.Redis.from_url(url, **client_options(socket_timeout=socket_timeout, retries=retries))


def client_options(*, socket_timeout: float | None, retries: int) -> dict:
    """What every client of ours (sync or asyncio) is built with."""
    return {
        "decode_responses": False,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": 2.0,
        "socket_keepalive": True,
        "health_check_interval": 15,
        "retry": Retry(ExponentialBackoff(cap=0.25, base=0.02), retries),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
    }


def describe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def translate_redis_error(error: Exception) -> DomainError | None:
    """The domain error a Redis failure stands for, or None if it is a programming error."""
    if isinstance(error, DomainError):
        return error
    if isinstance(error, redis.exceptions.AuthenticationError):
        return RedisUnavailable("Redis refused the credentials in REDIS_URL.")
    if isinstance(error, redis.exceptions.BusyLoadingError):
        return RedisUnavailable("Redis is loading its data set; try again in a moment.")
    if isinstance(error, UNAVAILABLE_ERRORS):
        return RedisUnavailable(f"Redis is unavailable ({error.__class__.__name__}: {error}).")
    if isinstance(error, redis.ResponseError):
        text = str(error)
        if text.startswith("WRONGTYPE"):
            return Conflict("That key holds another kind of value, not a stream.")
        if text.startswith(("BUSY ", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN")):
            return RedisUnavailable(f"Redis cannot answer right now: {text}")
    return None


def redis_call(method: Callable[P, T]) -> Callable[P, T]:
    """Run a gateway method, turning Redis failures into domain errors."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except DomainError:
            raise
        except Exception as error:
            domain_error = translate_redis_error(error)
            if domain_error is None:
                raise
            raise domain_error from error

    return wrapper
