"""The translation of Redis failures into domain errors, in one place for every store."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import redis
import redis.cluster

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

# What a cluster adds: no node for a slot, redirects without end, a slot map that cannot be read,
# a cluster that is down or re-sharding.
CLUSTER_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ClusterError,
    redis.exceptions.TryAgainError,
    redis.exceptions.RedisClusterException,
)

# How redis-py says it could not learn the cluster's layout (its other RedisClusterExceptions,
# such as a script in a cluster pipeline, are our mistakes).
CLUSTER_LAYOUT_TROUBLE = ("cannot be connected", "not covered", "could not agree")


# What an OpenSSL verification failure says before its reason, e.g. "[SSL: CERTIFICATE_VERIFY_FAILED]
# certificate verify failed: self-signed certificate in certificate chain (_ssl.c:1006)".
_CERTIFICATE_FAILURE = re.compile(r"certificate verify failed: ([^(\]]+)")
# How a TLS-only server answers a client that speaks plain RESP to it: it drops the connection.
_DROPPED = ("Connection reset by peer", "Connection closed by server")


def _untrusted_certificate(error: BaseException) -> RedisUnavailable | None:
    """What a connection refused for a certificate this client does not trust means (on one node, or
    on every node a cluster client tried), with the fix; None for any other failure."""
    if certificate := _CERTIFICATE_FAILURE.search(str(error)):
        return RedisUnavailable(
            f"Redis's TLS certificate is not trusted ({certificate.group(1).strip()}): give REDIS_URL the CA "
            "that signed it (rediss://host:port/0?ssl_ca_certs=/path/ca.pem)."
        )
    return None


def _unavailable_text(error: BaseException) -> str:
    """One line saying why Redis cannot be reached, naming the fix for plain redis:// to a server
    that speaks only TLS."""
    said = str(error)
    if "SSL" not in said and any(words in said for words in _DROPPED):
        return (
            f"Redis is unavailable: it closed the connection at once ({error.__class__.__name__}: {said}). "
            "If that Redis speaks only TLS, its URL starts with rediss://."
        )
    return f"Redis is unavailable ({error.__class__.__name__}: {said})."


def translate_redis_error(error: BaseException) -> DomainError | None:
    """The domain error a Redis failure stands for, or None if it is a programming error."""
    if isinstance(error, DomainError):
        return error
    if isinstance(error, redis.exceptions.AuthenticationError):
        return RedisUnavailable("Redis refused the credentials in REDIS_URL.")
    if isinstance(error, redis.exceptions.BusyLoadingError):
        return RedisUnavailable("Redis is loading its data set; try again in a moment.")
    if isinstance(error, (*UNAVAILABLE_ERRORS, redis.exceptions.RedisClusterException)) and (
        untrusted := _untrusted_certificate(error)
    ):
        return untrusted
    if isinstance(error, UNAVAILABLE_ERRORS):
        return RedisUnavailable(_unavailable_text(error))
    # redis-py raises these replies as their own classes, without the reply's code in the text.
    if isinstance(error, redis.exceptions.ClusterDownError | redis.exceptions.TryAgainError):
        return RedisUnavailable(f"The Redis cluster cannot answer right now: {error}")
    if isinstance(error, redis.exceptions.SlotNotCoveredError):
        return RedisUnavailable(f"No node of the Redis cluster serves that key right now: {error}")
    if isinstance(error, redis.exceptions.RedisClusterException) and (
        isinstance(error.__cause__, UNAVAILABLE_ERRORS) or any(words in str(error) for words in CLUSTER_LAYOUT_TROUBLE)
    ):
        return RedisUnavailable(f"The Redis cluster cannot answer right now: {error}")
    if isinstance(error, redis.exceptions.MasterDownError):
        return RedisUnavailable(f"The Redis replica has lost its primary: {error}")
    if isinstance(error, redis.exceptions.ReadOnlyError):
        return RedisUnavailable("Redis is read-only here (REDIS_URL points at a replica?).")
    if isinstance(error, redis.exceptions.ClusterError) and not isinstance(error, redis.ResponseError):
        # redis-py's own "TTL exhausted": it followed redirects or retried until it gave up.
        return RedisUnavailable(f"The Redis cluster did not settle on an answer: {error}")
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
    """Run a gateway method, turning Redis failures into domain errors. A store on a cluster
    that finds Redis unavailable reads the slot map again, so the next call reaches a replica
    promoted meanwhile."""

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
            if isinstance(domain_error, RedisUnavailable) and args:
                refresh_slot_map(getattr(args[0], "client", None))
            raise domain_error from error

    return wrapper


def refresh_slot_map(client: object) -> None:
    """Ask a cluster client's nodes again who serves each slot. redis-py refreshes after failed
    commands, but not after every failed pipeline (a WATCH transaction builds a new pipeline
    each time and keeps the old map); a cluster that cannot be asked now is asked next time."""
    if isinstance(client, redis.cluster.RedisCluster):
        with contextlib.suppress(redis.RedisError, redis.exceptions.RedisClusterException, OSError):
            client.nodes_manager.initialize()


async def guarded(awaitable: Awaitable[T]) -> T:
    """Await a Redis call of the asyncio client; Redis being away becomes RedisUnavailable."""
    try:
        return await awaitable
    except UNAVAILABLE_ERRORS + CLUSTER_UNAVAILABLE_ERRORS as error:
        domain_error = translate_redis_error(error)
        if domain_error is None:  # a RedisClusterException that is our mistake, not the cluster's state
            raise
        raise domain_error from error
