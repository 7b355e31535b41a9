"""Every Redis client the app uses, built here and nowhere else: sync and asyncio, on the
app's Redis (`REDIS_URL`, read through conf); and whether that Redis is a cluster, which
decides what may start (`startup_problem`). RQ and the Channels layer use QUEUE_REDIS_URL
(django-rq and channels_redis build those connections from the settings)."""

from __future__ import annotations

import functools
import time
import urllib.parse

import redis
import redis.asyncio as aioredis
import redis.asyncio.cluster
import redis.cluster
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from streams_app.conf import app_settings
from streams_app.errors import RedisUnavailable
from streams_app.gateway.errors import translate_redis_error

# Web requests wait this long for a reply; a worker's blocking read waits longer (see worker_client).
REQUEST_TIMEOUT_SECONDS = 5.0
LIVE_TIMEOUT_SECONDS = 10.0


def client_options(*, socket_timeout: float | None, retries: int, url: str = "") -> dict:
    """What every client of ours (sync or asyncio) for `url` is built with.

    Replies stay bytes: values written by other programs need not be UTF-8. TCP keepalive only
    where there is TCP: redis-py's Unix-socket connections refuse the option.
    """
    if url.startswith("unix://"):
        return {
            key: value
            for key, value in client_options(socket_timeout=socket_timeout, retries=retries).items()
            if key != "socket_keepalive"
        }
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
    return redis.Redis.from_url(url, **client_options(socket_timeout=socket_timeout, retries=retries, url=url))


def connect_async(url: str, *, socket_timeout: float = LIVE_TIMEOUT_SECONDS) -> aioredis.Redis:
    """An asyncio client for `url`, for the live pages."""
    return aioredis.Redis.from_url(url, **client_options(socket_timeout=socket_timeout, retries=1, url=url))


def _cluster_options(*, socket_timeout: float | None, retries: int) -> dict:
    options = client_options(socket_timeout=socket_timeout, retries=retries)
    # RedisCluster keeps its node connections retry-free and retries itself (following MOVED,
    # refreshing the slot map), so the Retry is the cluster's; it has no retry_on_error or
    # health_check_interval (node options it does not know are dropped, so none are passed).
    del options["retry_on_error"], options["health_check_interval"]
    return options


def connect_cluster(
    url: str, *, socket_timeout: float | None = REQUEST_TIMEOUT_SECONDS, retries: int = 2
) -> redis.cluster.RedisCluster:
    """A cluster client that finds every node from the one at `url` (passwords and rediss:// as for `connect`)."""
    return redis.cluster.RedisCluster.from_url(url, **_cluster_options(socket_timeout=socket_timeout, retries=retries))


def connect_cluster_async(
    url: str, *, socket_timeout: float = LIVE_TIMEOUT_SECONDS
) -> redis.asyncio.cluster.RedisCluster:
    """The asyncio cluster client, for the live pages on a cluster."""
    options = _cluster_options(socket_timeout=socket_timeout, retries=1)
    return redis.asyncio.cluster.RedisCluster.from_url(url, **options)


@functools.cache
def _cached_client(url: str, cluster: bool) -> redis.Redis | redis.cluster.RedisCluster:
    return connect_cluster(url) if cluster else connect(url)


def _shared_client(url: str, cluster: bool) -> redis.Redis | redis.cluster.RedisCluster:
    """The process's client for `url`, made once; a cluster client reads the slot map as it is made,
    so no node answering is RedisUnavailable here (and nothing is kept: the next call tries again)."""
    try:
        return _cached_client(url, cluster)
    except Exception as error:
        domain_error = translate_redis_error(error)
        if domain_error is None:
            raise
        raise domain_error from error


def app_client() -> redis.Redis | redis.cluster.RedisCluster:
    """This process's client on the app's Redis (one connection pool per URL): a RedisCluster in cluster mode."""
    return _shared_client(app_settings().redis_url, cluster_mode())


def worker_client(*, block_ms: int) -> redis.Redis | redis.cluster.RedisCluster:
    """A worker's own client: its socket timeout outlasts its longest blocking read.

    RedisUnavailable while Redis cannot say whether it is a cluster (or, in cluster mode, no
    node answers): a worker keeps its client for its whole life, so it must not guess.
    """
    url, timeout = app_settings().redis_url, block_ms / 1000 + 5
    if not _known_cluster_mode(url):
        return connect(url, socket_timeout=timeout)
    try:
        return connect_cluster(url, socket_timeout=timeout)
    except (redis.RedisError, redis.exceptions.RedisClusterException, OSError) as error:
        raise RedisUnavailable(f"No node of the Redis cluster at {redact_url(url)} answers: {_why(error)}") from error


def _known_cluster_mode(url: str) -> bool:
    """Cluster mode for a client kept for a process's life: as forced, or as the server says;
    RedisUnavailable when it cannot be asked (a guess would stay wrong once Redis is back)."""
    forced = app_settings().redis_cluster
    cluster = forced if forced is not None else server_is_cluster(url)
    if cluster is None:
        why = _cluster_unanswered_why.get(url)
        raise RedisUnavailable(
            f"Redis at {redact_url(url)} does not answer (asked whether it is a cluster)" + (f": {why}" if why else ".")
        )
    return cluster


def _why(error: BaseException) -> str:
    """A Redis failure in the words the app uses for it (the translated message), else its own."""
    translated = translate_redis_error(error)
    return translated.message if translated is not None else str(error)


# Query options of a Redis URL whose values are secrets (redis-py reads them as connection options).
SECRET_URL_OPTIONS = {"password", "ssl_password"}


def redact_url(url: str) -> str:
    """`url` without its password (in the credentials or the query), for messages."""
    scheme, sep, rest = url.partition("://")
    rest, question, query = rest.partition("?")
    if question:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        query = "&".join(
            f"{name}=***" if name in SECRET_URL_OPTIONS else urllib.parse.urlencode({name: value}, safe="/:")
            for name, value in pairs
        )
    credentials, at, address = rest.rpartition("@")
    if at:
        user = credentials.partition(":")[0]
        rest = f"{user + ':***' if user else '***'}@{address}"
    return f"{scheme}{sep}{rest}{question}{query}"


def live_client() -> aioredis.Redis | redis.asyncio.cluster.RedisCluster:
    """An asyncio client on the app's Redis (one per event loop: the live feeds build it and
    keep it). RedisUnavailable while Redis cannot say whether it is a cluster, as for a worker."""
    url = app_settings().redis_url
    return connect_cluster_async(url) if _known_cluster_mode(url) else connect_async(url)


# --- cluster mode and the queue's Redis ------------------------------------------------------

QUEUE_NEEDS_ONE_NODE = (
    "REDIS_URL points at a Redis Cluster: set QUEUE_REDIS_URL to a single Redis node for the job queue "
    "and the Channels layer (RQ and channels_redis need one node)."
)


_cluster_answers: dict[str, bool] = {}
_versions: dict[str, str] = {}  # url -> INFO server's redis_version (Valkey: the Redis it matches)
_cluster_unanswered: dict[str, float] = {}  # url -> when asking last failed
_cluster_unanswered_why: dict[str, str] = {}  # url -> what that failure said
# While Redis is away every request builds its stores: ask again only this often, not per request.
ASK_AGAIN_SECONDS = 5.0


def server_is_cluster(url: str) -> bool | None:
    """Whether the Redis at `url` runs in cluster mode (INFO cluster); None when it cannot be asked.
    Answers are remembered per URL; "cannot be asked" only for a few seconds, so a Redis that was
    down is asked again once it may be back."""
    if url in _cluster_answers:
        return _cluster_answers[url]
    if time.monotonic() - _cluster_unanswered.get(url, float("-inf")) < ASK_AGAIN_SECONDS:
        return None
    client = connect(url, socket_timeout=2.0, retries=0)
    try:
        answer = bool(int(client.info("cluster").get("cluster_enabled", 0)))
        _versions[url] = str(client.info("server").get("redis_version", ""))
    except (redis.RedisError, OSError, ValueError) as error:
        _cluster_unanswered[url] = time.monotonic()
        _cluster_unanswered_why[url] = _why(error)
        return None
    finally:
        client.close()
    _cluster_answers[url] = answer
    return answer


# XAUTOCLAIM, XTRIM MINID, XPENDING IDLE and SCAN TYPE came in Redis 6.2; 7.0's ENTRIESREAD
# and XINFO lag are used only where the server reports them.
MINIMUM_VERSION = (6, 2)


def version_too_old(version: str) -> bool:
    """Whether a `redis_version` is below MINIMUM_VERSION (an unreadable one is given the benefit)."""
    try:
        parts = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return bool(parts) and parts < MINIMUM_VERSION


def cluster_mode() -> bool:
    """Cluster mode as REDIS_CLUSTER says (1 forces, 0 forbids) or, unset, as the server says."""
    forced = app_settings().redis_cluster
    return forced if forced is not None else bool(server_is_cluster(app_settings().redis_url))


def startup_problem() -> str | None:
    """The one line that stops a process from starting on this configuration, or None.

    RQ and channels_redis need one Redis node (rq/rq#862, rq/rq#1048, django/channels_redis#420),
    so a cluster REDIS_URL needs QUEUE_REDIS_URL at a single node.
    """
    conf = app_settings()
    server_is_cluster(conf.redis_url)  # asks once: cluster mode and version
    version = _versions.get(conf.redis_url, "")
    if version_too_old(version):
        wanted = ".".join(map(str, MINIMUM_VERSION))
        return f"The Redis at REDIS_URL is version {version}: weatherstreams needs Redis {wanted} or newer."
    if conf.redis_cluster is False or not cluster_mode():
        return None
    if not conf.queue_redis_url_given or server_is_cluster(conf.queue_redis_url):
        return QUEUE_NEEDS_ONE_NODE
    return None
