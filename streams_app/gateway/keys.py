"""Every Redis key the app writes, named in one place.

Two kinds of keys:
- a stream's companions (its dead-letter stream, the last handler errors of its pending
  entries, its per-minute statistics): built by `companion_key`, so that one change of
  scheme can later put them in the stream's hash slot (Redis Cluster);
- the app's own keys (worker heartbeats and their index, name locks, processing reports,
  the job index, the channel layer's prefix), all under `APP_PREFIX`.

Keys (and group and consumer names) travel as `str`: bytes that are not UTF-8 (written by
other programs) are kept as surrogate escapes (`key_bytes`/`key_from_bytes`), so every name
round-trips to Redis exactly.

Which keys are the app's or RQ's own, not user streams, is said here too (`internal_reason`):
everything under `APP_PREFIX` (the channel layer's keys included), everything under
`RQ_PREFIX`, and dead-letter streams (named by the dead-letter template).
This module names keys; it does not talk to Redis.
"""

from __future__ import annotations

import functools
import re

from streams_app.errors import BadInput

APP_PREFIX = "weatherstreams"
CHANNEL_LAYER_PREFIX = f"{APP_PREFIX}:asgi"
RQ_PREFIX = "rq"
STREAM_PLACEHOLDER = "{stream}"


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


# --- the app's own keys -----------------------------------------------------------------


def dead_letter_source(name: str, template: str) -> str | None:
    """The stream whose dead letters `name` holds under `template` (None if it is not such a key)."""
    match = _dead_letter_pattern(template).fullmatch(name)
    return match.group("stream") if match else None


@functools.cache
def _dead_letter_pattern(template: str) -> re.Pattern[str]:
    head, placeholder, tail = template.partition(STREAM_PLACEHOLDER)
    if not placeholder or not (head or tail):
        return re.compile(r"(?!)")  # a template without a fixed part names no key of its own
    later = re.escape(tail).replace(re.escape(STREAM_PLACEHOLDER), "(?P=stream)")
    return re.compile(re.escape(head) + "(?P<stream>.+)" + later, re.DOTALL)


def internal_reason(name: str, dead_letter_template: str) -> str | None:
    """Why `name` is one of the app's or RQ's own keys (not a user stream), or None if it is not."""
    if name.startswith(CHANNEL_LAYER_PREFIX):  # channels_redis adds channel names right after it
        return "a key of the channel layer (the live pages)"
    if name.startswith(APP_PREFIX + ":"):
        return f"one of the app's own keys ({APP_PREFIX}:…)"
    if name.startswith(RQ_PREFIX + ":"):
        return f"one of RQ's keys, the job queue's ({RQ_PREFIX}:…)"
    source = dead_letter_source(name, dead_letter_template)
    if source is not None:
        return f"the dead-letter stream of “{display_name(source)}”"
    return None


def is_internal_key(name: str, dead_letter_template: str) -> bool:
    """Whether `name` is the app's or RQ's own key (see `internal_reason`)."""
    return internal_reason(name, dead_letter_template) is not None


# --- names as bytes and as text -----------------------------------------------------------


def key_bytes(name: str) -> bytes:
    """The exact bytes of a name; BadInput for text no key can hold (a lone surrogate such as \\ud800)."""
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise BadInput(
            f"“{display_name(name)}” holds a lone surrogate, which is not text: no key, group or consumer "
            "can have that name."
        ) from None


def key_from_bytes(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def display_name(name: str) -> str:
    """A name as text anyone can read: undecodable bytes, lone surrogates and control characters as escapes."""
    return "".join(map(_visible, name))


def _visible(ch: str) -> str:
    if ch.isprintable():
        return ch
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # a byte that is not UTF-8, kept as a surrogate escape
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
