"""Reading a stream page by page, oldest-first or newest-first, between bounds given as IDs
or date-times.

Pages continue from a cursor (the last entry shown, exclusive), never from an offset, so
following the pages returns every entry of the range exactly once, however many entries
share a millisecond, and a page costs the same at the head of a stream of ten million
entries as anywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import Literal

from streams_app.domain.ids import StreamId, parse_lower_bound, parse_stream_id, parse_upper_bound
from streams_app.errors import BadInput
from streams_app.gateway import Entry, RangeQuery, StreamStore
from streams_app.gateway.keys import display_name

Order = Literal["asc", "desc"]
ORDERS: dict[str, str] = {"asc": "oldest first (XRANGE)", "desc": "newest first (XREVRANGE)"}


@dataclass(frozen=True, slots=True)
class RangeRequest:
    """A page request as the user gave it: bounds as typed, plus an optional cursor."""

    start: str = "-"
    end: str = "+"
    order: Order = "asc"
    count: int = 50
    after: str | None = None
    before: str | None = None

    def query_params(self) -> dict[str, str]:
        params = {"start": self.start, "end": self.end, "order": self.order, "count": str(self.count)}
        if self.after:
            params["after"] = self.after
        if self.before:
            params["before"] = self.before
        return params

    def next_page(self, cursor: str) -> RangeRequest:
        return replace(self, after=cursor, before=None)

    def previous_page(self, cursor: str) -> RangeRequest:
        return replace(self, after=None, before=cursor)


@dataclass(frozen=True, slots=True)
class EntriesPage:
    request: RangeRequest
    entries: list[Entry]
    next_request: RangeRequest | None
    previous_request: RangeRequest | None


def parse_count(raw: str | None, *, default: int, maximum: int) -> int:
    """Page size: default when absent; at least 1; clamped to `maximum`."""
    if raw is None or str(raw).strip() == "":
        return default
    try:
        count = int(str(raw).strip())
    except ValueError:
        raise BadInput(
            f"The page size must be a whole number, like {default}; got “{display_name(str(raw))}”.", field="count"
        ) from None
    if count < 1:
        raise BadInput(f"The page size must be at least 1; got {count}.", field="count")
    return min(count, maximum)


def parse_range_request(params: Mapping[str, str], *, tz: tzinfo, default_count: int, max_count: int) -> RangeRequest:
    """Validate page parameters (start, end, order, count, after, before); BadInput names the field."""
    order = (params.get("order") or "asc").strip().lower()
    if order not in ORDERS:
        raise BadInput(f"The order must be asc (oldest first) or desc (newest first); got “{order}”.", field="order")
    request = RangeRequest(
        start=(params.get("start") or "-").strip(),
        end=(params.get("end") or "+").strip(),
        order=order,  # type: ignore[arg-type]
        count=parse_count(params.get("count"), default=default_count, maximum=max_count),
        after=_cursor(params.get("after"), "after"),
        before=_cursor(params.get("before"), "before"),
    )
    if request.after and request.before:
        raise BadInput("Give either after or before, not both.", field="after")
    # Validate the bounds now, so a bad bound is reported before anything is read.
    parse_lower_bound(request.start, tz, field="start")
    parse_upper_bound(request.end, tz, field="end")
    return request


def _cursor(raw: str | None, field: str) -> str | None:
    if raw is None or raw.strip() == "":
        return None
    return str(parse_stream_id(raw, field=field))


def entries_page(*, store: StreamStore, name: str, request: RangeRequest, tz: tzinfo) -> EntriesPage:
    """One page of a stream's entries in display order, with the requests for the pages around it."""
    low = parse_lower_bound(request.start, tz, field="start")
    high = parse_upper_bound(request.end, tz, field="end")
    descending = request.order == "desc"
    after = StreamId.parse(request.after) if request.after else None
    before = StreamId.parse(request.before) if request.before else None

    # In display terms, "after X" is the side further from the start of the listing.
    page_low, page_high = low, high
    if after is not None:
        if descending:
            page_high = _min(page_high, after.predecessor())
        else:
            page_low = _max(page_low, after.successor())
    if before is not None:
        if descending:
            page_low = _max(page_low, before.successor())
        else:
            page_high = _min(page_high, before.predecessor())

    if page_low is None or page_high is None or page_low > page_high:
        store.require_stream(name)
        return EntriesPage(request, [], None, _previous_of_empty(request, after))

    # Read towards the cursor's far side; with `before`, read backwards from it and flip.
    fetch_reverse = descending != (before is not None)
    queries = [RangeQuery(page_low, page_high, request.count + 1, reverse=fetch_reverse)]
    # One probe tells whether anything lies on the cursor's own side of this page.
    probe = _probe_behind_cursor(low, high, after=after, before=before, descending=descending)
    if probe is not None:
        queries.append(probe)
    results = store.ranges(name, queries)
    rows = results[0]
    more = len(rows) > request.count
    entries = rows[: request.count]
    if before is not None:
        entries.reverse()
    behind = bool(results[1]) if probe is not None else False

    has_next, has_previous = (behind, more) if before is not None else (more, behind)
    return EntriesPage(
        request=request,
        entries=entries,
        next_request=request.next_page(entries[-1].id) if has_next and entries else None,
        previous_request=request.previous_page(entries[0].id) if has_previous and entries else None,
    )


def _probe_behind_cursor(
    low: StreamId | None,
    high: StreamId | None,
    *,
    after: StreamId | None,
    before: StreamId | None,
    descending: bool,
) -> RangeQuery | None:
    """A one-entry read of the range on the cursor's side (the cursor entry included)."""
    if low is None or high is None:
        return None
    if after is not None:
        # Entries shown before this page: at or before `after` in display order.
        return RangeQuery(after, high, 1) if descending else RangeQuery(low, after, 1, reverse=True)
    if before is not None:
        return RangeQuery(low, before, 1, reverse=True) if descending else RangeQuery(before, high, 1)
    return None


def _previous_of_empty(request: RangeRequest, after: StreamId | None) -> RangeRequest | None:
    """An empty page reached by "next" still leads back: to the page that ends at its cursor."""
    if after is None:
        return None
    step = after.predecessor() if request.order == "desc" else after.successor()
    return request.previous_page(str(step)) if step is not None else None


def _max(a: StreamId | None, b: StreamId | None) -> StreamId | None:
    return None if a is None or b is None else max(a, b)


def _min(a: StreamId | None, b: StreamId | None) -> StreamId | None:
    return None if a is None or b is None else min(a, b)
