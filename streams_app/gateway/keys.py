"""Every Redis key the app writes, named in one place.

Two kinds of keys:
- a stream's companions (its dead-letter stream, the last handler errors of its pending
  entries, its per-minute statistics): each starts with the stream's name as a Redis Cluster
  hash tag (`slot_prefix`), so it lives in the stream's hash slot, as the scripts that touch a
  stream and its companions together need (re-drive: the dead-letter stream and the stream;
  the statistics merge: a minute and its index);
- the app's own keys (worker heartbeats and their index, name locks, processing reports,
  the job index, the channel layer's prefix), all under `APP_PREFIX`; they belong to no
  stream, so they need no particular slot (see each function for why).

    stream          dead letters        errors of group g                  statistics of minute m
    chennai         {chennai}:dead      weatherstreams:{chennai}:errors:g  weatherstreams:{chennai}:stats:m
    {eu}.chennai    {eu}.chennai:dead   weatherstreams:{eu}.chennai:errors:g  (a stream's own tag is kept)

The previous scheme (`chennai:dead`, `weatherstreams:errors:g:chennai`,
`weatherstreams:stats:chennai:m`) is named by the `previous_*` functions, for
`manage.py migrate_keys`; its dead-letter streams are still recognised as internal keys.

Keys (and group and consumer names) travel as `str`: bytes that are not UTF-8 (written by
other programs) are kept as surrogate escapes (`key_bytes`/`key_from_bytes`), so every name
round-trips to Redis exactly.

Which keys are the app's or RQ's own, not user streams, is said here too (`internal_reason`):
everything under `APP_PREFIX` (the channel layer's keys included), everything under
`RQ_PREFIX`, and dead-letter streams (named by the dead-letter template, in either scheme).
This module names keys; it does not talk to Redis.
"""

from __future__ import annotations

import functools
import itertools
import re

from redis.crc import key_slot

from streams_app.errors import BadInput
from streams_app.key_templates import DEAD_LETTER_TEMPLATE, STREAM_PLACEHOLDER

APP_PREFIX = "weatherstreams"
CHANNEL_LAYER_PREFIX = f"{APP_PREFIX}:asgi"
RQ_PREFIX = "rq"
# Marks a tag computed for a stream whose name cannot be its own tag (see slot_prefix).
_COMPUTED_TAG_MARK = "~"

# --- hash slots -------------------------------------------------------------------------------


def hash_tag(name: str) -> str | None:
    """What Redis Cluster hashes instead of the whole name: the text between the first `{` and
    the next `}`, when there is some (None: the whole name is hashed)."""
    start = name.find("{")
    end = name.find("}", start + 1) if start >= 0 else -1
    return name[start + 1 : end] if end > start + 1 else None


def slot_of(name: str) -> int:
    """The hash slot of a key (0–16383), as Redis Cluster computes it."""
    return key_slot(key_bytes(name))


def slot_prefix(stream: str) -> str:
    """How every companion key of `stream` starts, so that it hashes to the stream's slot.

    A stream that holds a tag keeps its whole name (`{eu}.chennai`: same tag, still readable);
    any other is wrapped in braces (`{chennai}`: the tag is the whole name, which is what
    Redis hashes for `chennai`). A name that braces cannot wrap — empty, or holding a `}` — gets
    a computed tag of its slot before it (`{~4711}a}b`).
    """
    if hash_tag(stream) is not None:
        return stream
    if stream and "}" not in stream:
        return "{" + stream + "}"
    return "{" + _computed_tag(slot_of(stream)) + "}" + stream


@functools.cache
def _computed_tag(slot: int) -> str:
    """The first of `~0`, `~1`, … that hashes to `slot` (every slot has one below `~113596`)."""
    return next(tag for n in itertools.count() if key_slot((tag := f"{_COMPUTED_TAG_MARK}{n}").encode()) == slot)


def stream_of_prefix(prefix: str) -> str | None:
    """The stream whose companions start with `prefix` (see `slot_prefix`), or None if none do.

    `{chennai}` is read as the companions of `chennai`, not of a stream named `{chennai}`: the
    two would share their companions, which no name the app accepts can run into (no braces).
    """
    tag = hash_tag(prefix)
    if tag is None:
        return None
    if prefix == "{" + tag + "}":
        return tag
    if prefix.startswith("{" + tag + "}"):
        stream = prefix[len(tag) + 2 :]
        if _slot_or_none(stream) is not None and slot_prefix(stream) == prefix:
            return stream
    return prefix


def _slot_or_none(name: str) -> int | None:
    try:
        return slot_of(name)
    except BadInput:  # a lone surrogate: no key has that name
        return None


# --- a stream's companions --------------------------------------------------------------------


def companion_key(stream: str, kind: str, *parts: str | int) -> str:
    """A key that belongs to `stream`: `weatherstreams:<slot prefix>:<kind>:<parts…>`.

    The stream's tag comes before anything else that is free text (a group name may hold
    braces too), and after the app's prefix, so `weatherstreams:*` still finds every key of
    the app but dead-letter streams."""
    return ":".join([APP_PREFIX, slot_prefix(stream), kind, *map(str, parts)])


def dead_letter_key(stream: str, template: str = DEAD_LETTER_TEMPLATE) -> str:
    """The dead-letter stream of `stream`: the template (conf's WEATHERSTREAMS_DEAD_LETTER_STREAM,
    or a worker's --dead-letter) with `{stream}` replaced by the stream's `slot_prefix`, so the
    dead letters share the stream's slot whatever the template (`{chennai}:dead`)."""
    return template.replace(STREAM_PLACEHOLDER, slot_prefix(stream))


def errors_key(stream: str, group: str) -> str:
    """The last handler error per pending entry of `stream` in `group`, so whoever
    dead-letters an entry can say why (in the stream's slot: written with its acks)."""
    return companion_key(stream, "errors", group)


def history_key(stream: str, group: str) -> str:
    """The last hour of `group` on `stream` (its lag and pending, its workers' counters), one
    sample per worker every 10 s; in the stream's slot, since the worker's script reads the
    group's lag from the stream and writes the sample in one call (gateway/group_history.py)."""
    return companion_key(stream, "history", group)


def stats_key(stream: str, minute: int) -> str:
    """One minute of the weather processor's statistics of `stream`."""
    return companion_key(stream, "stats", minute)


def stats_index_key(stream: str) -> str:
    """The minutes of `stream` that have statistics (a sorted set); the statistics merge script
    writes it with a minute, so both are companions of the stream (one slot)."""
    return companion_key(stream, "stats")


# --- the previous scheme (before hash tags), for migrate_keys -----------------------------------

PREVIOUS_ERRORS_PREFIX = f"{APP_PREFIX}:errors:"  # + <group>:<stream>
PREVIOUS_STATS_PREFIX = f"{APP_PREFIX}:stats:"  # + <stream>:<minute> (hash), <stream> (index)


def previous_dead_letter_key(stream: str, template: str = DEAD_LETTER_TEMPLATE) -> str:
    """The dead-letter stream of `stream` as the previous version named it (`chennai:dead`)."""
    return template.replace(STREAM_PLACEHOLDER, stream)


def previous_errors_key(stream: str, group: str) -> str:
    """The previous version's errors of `stream` in `group`: the group first, so `a:b:c` reads two ways."""
    return f"{PREVIOUS_ERRORS_PREFIX}{group}:{stream}"


def previous_stats_key(stream: str, minute: int) -> str:
    """The previous version's minute of statistics of `stream`."""
    return f"{PREVIOUS_STATS_PREFIX}{stream}:{minute}"


def previous_stats_index_key(stream: str) -> str:
    """The previous version's index of the minutes of `stream`."""
    return f"{PREVIOUS_STATS_PREFIX}{stream}"


# --- the app's own keys -----------------------------------------------------------------------
# None of these is touched together with another key in a script or a transaction: a worker's
# heartbeat, the workers index and its name lock go out in one pipeline, which is not atomic
# (and on a cluster is split per node), so each may live in any slot.


def heartbeat_key(group: str, name: str) -> str:
    """A worker's status, which expires, so pages tell live workers from dead ones."""
    return f"{APP_PREFIX}:worker:{group}:{name}"


def workers_index_key() -> str:
    """Every worker seen in the last day, scored by when it was last seen."""
    return f"{APP_PREFIX}:workers"


def name_lock_key(group: str, name: str) -> str:
    """Held by the one process that runs under `name` in `group` (its scripts take this key alone)."""
    return f"{APP_PREFIX}:lock:{group}:{name}"


def processed_events_key(group: str) -> str:
    """A capped stream of what the group's workers processed, for the live pages (a group spans
    streams in many slots, so it belongs to none; it is read and written alone)."""
    return f"{APP_PREFIX}:processed:{group}"


def jobs_index_key() -> str:
    """The background jobs started from the app, newest last (a sorted set, on the queue's Redis:
    one node, as RQ needs)."""
    return f"{APP_PREFIX}:jobs"


# --- which keys are the app's own ---------------------------------------------------------------


def dead_letter_source(name: str, template: str = DEAD_LETTER_TEMPLATE) -> str | None:
    """The stream whose dead letters `name` holds under `template`, in this scheme or the previous
    one (None if it is not such a key)."""
    match = _dead_letter_pattern(template).fullmatch(name)
    if match is None:
        return None
    current = stream_of_prefix(match.group("stream"))
    return match.group("stream") if current is None else current


def previous_dead_letter_source(name: str, template: str = DEAD_LETTER_TEMPLATE) -> str | None:
    """The stream whose dead letters `name` holds under the previous scheme's reading of `template`."""
    match = _dead_letter_pattern(template).fullmatch(name)
    return match.group("stream") if match else None


@functools.cache
def _dead_letter_pattern(template: str) -> re.Pattern[str]:
    head, placeholder, tail = template.partition(STREAM_PLACEHOLDER)
    if not placeholder or not (head or tail):
        return re.compile(r"(?!)")  # a template without a fixed part names no key of its own
    later = re.escape(tail).replace(re.escape(STREAM_PLACEHOLDER), "(?P=stream)")
    return re.compile(re.escape(head) + "(?P<stream>.+)" + later, re.DOTALL)


def internal_reason(name: str, dead_letter_template: str = DEAD_LETTER_TEMPLATE) -> str | None:
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


def is_internal_key(name: str, dead_letter_template: str = DEAD_LETTER_TEMPLATE) -> bool:
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
