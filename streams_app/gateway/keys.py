"""Every Redis key the app writes, named in one place.

Two kinds of keys:
- a stream's companions (its dead-letter stream, the last handler errors of its pending
  entries, its per-minute statistics): built by `companion_key`, so that one change of
  scheme can later put them in the stream's hash slot (Redis Cluster);
- the app's own keys (worker heartbeats and their index, name locks, processing reports,
  the job index, the channel layer's prefix), all under `APP_PREFIX`.

Keys travel as `str`: bytes that are not UTF-8 (written by other programs) are kept as
surrogate escapes (`key_bytes`/`key_from_bytes`), so every key round-trips to Redis exactly.
This module names keys; it does not talk to Redis.
"""

from __future__ import annotations

APP_PREFIX = "weatherstreams"
CHANNEL_LAYER_PREFIX = f"{APP_PREFIX}:asgi"


def companion_key(stream: str, kind: str, *parts: str | int) -> str:
    """A key that belongs to `stream`: `weatherstreams:<kind>:<parts…>:<stream>`, or with the
    stream first for the kinds whose keys have always been read that way (statistics)."""
    if kind == "stats":
        return ":".join([APP_PREFIX, kind, stream, *map(str, parts)])
    return ":".join([APP_PREFIX, kind, *map(str, parts), stream])


def dead_letter_key(stream: str, template: str) -> str:
    """The dead-letter stream of `stream`: the template (conf's WEATHERSTREAMS_DEAD_LETTER_STREAM,
    or a worker's --dead-letter) with `{stream}` replaced."""
    return template.format(stream=stream)


def errors_key(stream: str, group: str) -> str:
    """The last handler error per pending entry of `stream` in `group`, so whoever
    dead-letters an entry can say why."""
    return companion_key(stream, "errors", group)


def stats_key(stream: str, minute: int) -> str:
    """One minute of the weather processor's statistics of `stream`."""
    return companion_key(stream, "stats", minute)


def stats_index_key(stream: str) -> str:
    """The minutes of `stream` that have statistics (a sorted set)."""
    return companion_key(stream, "stats")


def heartbeat_key(group: str, name: str) -> str:
    return f"{APP_PREFIX}:worker:{group}:{name}"


def workers_index_key() -> str:
    """Every worker seen in the last day, scored by when it was last seen."""
    return f"{APP_PREFIX}:workers"


def name_lock_key(group: str, name: str) -> str:
    """Held by the one process that runs under `name` in `group`."""
    return f"{APP_PREFIX}:lock:{group}:{name}"


def processed_events_key(group: str) -> str:
    """A capped stream of what the group's workers processed, for the live pages."""
    return f"{APP_PREFIX}:processed:{group}"


def jobs_index_key() -> str:
    """The background jobs started from the app, newest last (a sorted set)."""
    return f"{APP_PREFIX}:jobs"


def key_bytes(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def key_from_bytes(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def display_name(name: str) -> str:
    """A key as text anyone can read: undecodable bytes and control characters shown as escapes."""
    text = key_bytes(name).decode("utf-8", "backslashreplace")
    return "".join(_visible(ch) for ch in text)


def _visible(ch: str) -> str:
    if ch.isprintable():
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
