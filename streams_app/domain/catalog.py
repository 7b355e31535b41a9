"""Which streams the Redis database holds: found with SCAN by type, a page at a time.

The app's and RQ's own keys (`weatherstreams:*`, `rq:*`, dead-letter streams) are not user
streams: left out unless asked for, and then marked with the reason (`internal_reason`). A
user stream carries the length of its dead-letter stream (`dead_letters`), so its dead
letters appear with it rather than as a city of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from streams_app.conf import app_settings
from streams_app.errors import BadInput, DomainError
from streams_app.gateway import StreamStore, StreamSummary
from streams_app.gateway.keys import dead_letter_key, display_name, internal_reason
from streams_app.gateway.types import ScanCursor


@dataclass(frozen=True, slots=True)
class StreamsPage:
    streams: list[StreamSummary]
    cursor: ScanCursor
    next_cursor: ScanCursor | None
    include_internal: bool = False


def parse_scan_cursor(raw: str | None) -> ScanCursor:
    """A page cursor from a query: a Redis SCAN cursor (an int), or a cluster's `<primary>.<node cursor>`."""
    if raw is None or raw.strip() == "":
        return 0
    refusal = BadInput(f"“{display_name(raw)}” is not a valid page cursor.", field="cursor")
    index, dot, node_cursor = raw.partition(".")
    if not dot:
        try:
            cursor = int(raw)
        except ValueError:
            raise refusal from None
        if cursor < 0 or cursor >= 2**64:
            raise refusal
        return cursor
    # Digits only in a cluster cursor; and a cluster never has more primaries than hash slots.
    parts_ok = all(part.isascii() and part.isdigit() for part in (index, node_cursor))
    if not parts_ok or int(index) >= 16384 or int(node_cursor) >= 2**64:
        raise refusal
    return f"{int(index)}.{int(node_cursor)}"


def parse_include_internal(raw: str | None) -> bool:
    """The "show internal keys" switch as a query gives it (`?internal=1`; absent, empty or 0: off)."""
    return (raw or "").strip().lower() in {"1", "true", "yes", "on"}


def streams_page(
    *, store: StreamStore, cursor: ScanCursor = 0, per_page: int = 50, include_internal: bool = False
) -> StreamsPage:
    """Up to about `per_page` streams from `cursor` on, sorted by name, with their summaries and
    the length of each one's dead-letter stream; the app's and RQ's own keys only when
    `include_internal` (each marked with its `internal_reason`).

    SCAN may return a key twice across pages (Redis's guarantee is "at least once");
    within one page names are unique. Leaving keys out never stalls the walk: a page may
    hold fewer streams than `per_page`, and `next_cursor` still moves on.
    """
    template = app_settings().dead_letter_stream
    keep = None if include_internal else (lambda name: internal_reason(name, template) is None)
    keys = store.scan_stream_keys(cursor=cursor, want=per_page, keep=keep)
    names = sorted(set(keys.names))
    reasons = {name: internal_reason(name, template) for name in names}
    dead_letter_keys = {name: dead_letter_key(name, template) for name in names if reasons[name] is None}
    summaries = store.summaries(names, dead_letter_keys=dead_letter_keys)
    streams = [replace(summary, internal_reason=reasons[summary.name]) for summary in summaries]
    return StreamsPage(streams=streams, cursor=cursor, next_cursor=keys.next_cursor, include_internal=include_internal)


def stream_name_suggestions(*, store: StreamStore, limit: int = 200, max_calls: int = 5) -> list[str]:
    """Up to `limit` user streams (no internal keys, names that can be typed), sorted, for a form's
    stream field to offer: the first found by a bounded SCAN, so a huge keyspace costs at most
    `max_calls` SCAN calls. Empty when Redis cannot say: a suggestion never fails a page."""
    template = app_settings().dead_letter_stream
    try:
        keys = store.scan_stream_keys(
            want=limit,
            max_calls=max_calls,
            keep=lambda name: name.isprintable() and internal_reason(name, template) is None,
        )
    except DomainError:
        return []
    return sorted(list(dict.fromkeys(keys.names))[:limit])
