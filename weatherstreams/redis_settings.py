"""Settings that follow from the Redis URL, in one place so tests can point them at their own server."""

from typing import Any


def redis_dependent_settings(redis_url: str) -> dict[str, Any]:
    """REDIS_URL and the channel layer and job queues that share it."""
    return {
        "REDIS_URL": redis_url,
        "CHANNEL_LAYERS": {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [redis_url], "prefix": "weatherstreams:asgi"},
            }
        },
        "RQ_QUEUES": {
            "default": {"URL": redis_url, "DEFAULT_TIMEOUT": 3600},
        },
    }
