"""Which streams the Redis database holds: found with SCAN by type, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass

from streams_app.errors import BadInput
from streams_app.gateway import StreamStore, StreamSummary


@dataclass(frozen=True, slots=True)
class StreamsPage:
    streams: list[StreamSummary]
    cursor: int
    next_cursor: int | None


def parse_scan_cursor(raw: str | None) -> int:
    if raw is None or raw.strip() == "":
        return 0
    try:
        cursor = int(raw)
    except ValueError:
        raise BadInput(f"“{raw}” is not a valid page cursor.", field="cursor") from None
    if cursor < 0 or cursor >= 2**64:
        raise BadInput(f"“{raw}” is not a valid page cursor.", field="cursor")
    return cursor


def streams_page(*, store: StreamStore, cursor: int = 0, per_page: int = 50) -> StreamsPage:
    """Up to about `per_page` streams from `cursor` on, sorted by name, with their summaries.

    SCAN may return a key twice across pages (Redis's guarantee is "at least once");
    within one page names are unique.
    """
    keys = store.scan_stream_keys(cursor=cursor, want=per_page)
    names = sorted(set(keys.names))
    return StreamsPage(streams=store.summaries(names), cursor=cursor, next_cursor=keys.next_cursor)
