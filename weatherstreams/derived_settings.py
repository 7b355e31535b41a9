"""Settings that follow from one choice (the Redis URL; HTTPS or not), in one place so tests can re-apply them."""

from typing import Any

from streams_app.gateway.keys import CHANNEL_LAYER_PREFIX

# channels_redis waits for a socket's next message with BZPOPMIN for RedisChannelLayer.brpop_timeout
# (5 s); redis-py's default socket timeout is also 5 s, so an idle socket's wait timed out and
# closed it with 1011. The socket timeout must outlast that wait, with room for a slow Redis.
CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS = 15
CHANNEL_LAYER_CONNECT_TIMEOUT_SECONDS = 5


def redis_dependent_settings(
    redis_url: str, *, queue_url: str | None = None, cluster: bool | None = None
) -> dict[str, Any]:
    """REDIS_URL (the streams; `cluster`: REDIS_CLUSTER, None to detect) and QUEUE_REDIS_URL
    (default REDIS_URL), which the channel layer and the job queue use: RQ and channels_redis
    need a single Redis node (rq/rq#862, rq/rq#1048, django/channels_redis#420)."""
    queue_url = queue_url or redis_url
    return {
        "REDIS_URL": redis_url,
        "REDIS_CLUSTER": cluster,
        "QUEUE_REDIS_URL": queue_url,
        "QUEUE_REDIS_URL_GIVEN": queue_url != redis_url,
        "CHANNEL_LAYERS": {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    # A dict host: channels_redis passes every key but "address" to redis-py's
                    # ConnectionPool.from_url.
                    "hosts": [
                        {
                            "address": queue_url,
                            "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS,
                            "socket_connect_timeout": CHANNEL_LAYER_CONNECT_TIMEOUT_SECONDS,
                        }
                    ],
                    "prefix": CHANNEL_LAYER_PREFIX,
                },
            }
        },
        "RQ_QUEUES": {
            "default": {"URL": queue_url, "DEFAULT_TIMEOUT": 3600},
        },
    }


def transport_security_settings(*, https: bool) -> dict[str, Any]:
    """Secure cookies, HTTPS redirect and HSTS: on in production, off for plain-HTTP local runs."""
    return {
        "HTTPS": https,
        "SESSION_COOKIE_SECURE": https,
        "CSRF_COOKIE_SECURE": https,
        "SECURE_SSL_REDIRECT": https,
        "SECURE_HSTS_SECONDS": 31536000 if https else 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": https,
        "SECURE_HSTS_PRELOAD": https,
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https") if https else None,
    }
