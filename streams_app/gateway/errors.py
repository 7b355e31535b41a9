"""The translation of Redis failures into domain errors, in one place for every store."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import redis

from streams_app.errors import Conflict, DomainError, RedisUnavailable

P = ParamSpec("P")
T = TypeVar("T")

# What Redis says to an XADD with `*` once a stream's last ID is 18446744073709551615-18446744073709551615.
EXHAUSTED_ID = "exhausted the last possible ID"

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


def translate_redis_error(error: BaseException) -> DomainError | None:
    """The domain error a Redis failure stands for, or None if it is a programming error."""
    if isinstance(error, DomainError):
        return error
    if isinstance(error, redis.exceptions.AuthenticationError):
        return RedisUnavailable("Redis refused the credentials in REDIS_URL.")
    if isinstance(error, redis.exceptions.BusyLoadingError):
        return RedisUnavailable("Redis is loading its data set; try again in a moment.")
    if isinstance(error, UNAVAILABLE_ERRORS):
        return RedisUnavailable(f"Redis is unavailable ({error.__class__.__name__}: {error}).")
    # redis-py raises these replies as their own classes, without the reply's code in the text.
    if isinstance(error, redis.exceptions.ClusterDownError | redis.exceptions.TryAgainError):
        return RedisUnavailable(f"The Redis cluster cannot answer right now: {error}")
    if isinstance(error, redis.exceptions.MasterDownError):
        return RedisUnavailable(f"The Redis replica has lost its primary: {error}")
    if isinstance(error, redis.exceptions.ReadOnlyError):
        return RedisUnavailable("Redis is read-only here (REDIS_URL points at a replica?).")
    if isinstance(error, redis.exceptions.OutOfMemoryError):
        return RedisUnavailable("Redis is out of memory (maxmemory reached): nothing was written.")
    if isinstance(error, redis.ResponseError):
        text = str(error)
        if text.startswith("WRONGTYPE"):
            return Conflict("That key holds another kind of value, not a stream.")
        if EXHAUSTED_ID in text:
            return Conflict("The stream has used the last possible ID: nothing more can be added to it.")
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


async def guarded(awaitable: Awaitable[T]) -> T:
    """Await a Redis call of the asyncio client; Redis being away becomes RedisUnavailable."""
    try:
        return await awaitable
    except UNAVAILABLE_ERRORS as error:
        domain_error = translate_redis_error(error)
        assert domain_error is not None
        raise domain_error from error
