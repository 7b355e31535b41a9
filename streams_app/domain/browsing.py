"""Reading a stream page by page, oldest-first or newest-first, between bounds given as IDs
or date-times.

Pages continue from a cursor (the last entry shown, exclusive), never from an offset, so
following the pages returns every entry of the range exactly once, however many entries
share a millisecond, and a page costs the same at the head of a stream of ten million
entries as anywhere else.

With a filter (domain/filters.py) the same promise holds for the matching entries: following
`next` until it is None returns every matching entry of the range exactly once, in order. A
filtered page reads the range in chunks and stops at `count` matches or after `scan_budget`
entries, whichever comes first, so a filter that matches nothing never holds a request long;
it then says where its scan stopped (`scanned_to`), and its `next` continues from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import Literal

from streams_app.conf import app_settings
from streams_app.domain.filters import EntryFilter, parse_filter
from streams_app.domain.ids import StreamId, parse_lower_bound, parse_stream_id, parse_upper_bound
from streams_app.errors import BadInput
from streams_app.gateway import Entry, RangeQuery, StreamStore
from streams_app.gateway.keys import display_name

Order = Literal["asc", "desc"]
ORDERS: dict[str, str] = {"asc": "oldest first (XRANGE)", "desc": "newest first (XREVRANGE)"}
# A filtered page reads its range in chunks: small at first (a filter that matches often is
# done after one), growing to SCAN_CHUNK entries a read while nothing matches (see _next_chunk).
FIRST_SCAN_CHUNK = 100
SCAN_CHUNK = 1000
MIN_SCAN_CHUNK = 16


@dataclass(frozen=True, slots=True)
class RangeRequest:
    """A page request as the user gave it: bounds as typed, plus an optional cursor."""

    start: str = "-"
    end: str = "+"
    order: Order = "asc"
    count: int = 50
    after: str | None = None
    before: str | None = None
    filter: str = ""  # a filter's text as given (see domain/filters.py); "" shows every entry

    def query_params(self) -> dict[str, str]:
        params = {"start": self.start, "end": self.end, "order": self.order, "count": str(self.count)}
        if self.filter:
            params["filter"] = self.filter
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
    # Filtered pages only: entries the page read, and the ID its scan stopped at, which the page
    # that continues the scan (`next`, or `previous` on a page reached by `before`) starts after;
    # None when the scan reached the end of the range.
    scanned: int | None = None
    scanned_to: str | None = None
    stopped_at_budget: bool = False  # the scan stopped at its budget, not at `count` matches

    @property
    def filtered(self) -> bool:
        return bool(self.request.filter)

    @property
    def continue_request(self) -> RangeRequest | None:
        """The request that goes on scanning where a page stopped at its budget."""
        if not self.stopped_at_budget:
            return None
        return self.previous_request if self.request.before else self.next_request


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
    """Validate page parameters (start, end, order, count, after, before, filter); BadInput names
    the field (and, for a filter, the position of the problem)."""
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
        filter=_filter_text(params.get("filter")),
    )
    if request.after and request.before:
        raise BadInput("Give either after or before, not both.", field="after")
    # Validate the bounds now, so a bad bound is reported before anything is read.
    parse_lower_bound(request.start, tz, field="start")
    parse_upper_bound(request.end, tz, field="end")
    return request


def _filter_text(raw: str | None) -> str:
    """The filter as given ("" for none), once it is known to parse."""
    if raw is None or parse_filter(raw) is None:
        return ""
    return raw


def _cursor(raw: str | None, field: str) -> str | None:
    if raw is None or raw.strip() == "":
        return None
    return str(parse_stream_id(raw, field=field))


def entries_page(
    *, store: StreamStore, name: str, request: RangeRequest, tz: tzinfo, scan_budget: int | None = None
) -> EntriesPage:
    """One page of a stream's entries in display order (only those its filter matches, reading at
    most `scan_budget` entries: WEATHERSTREAMS_FILTER_SCAN_BUDGET by default), with the requests
    for the pages around it."""
    entry_filter = parse_filter(request.filter)
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
        scanned = 0 if entry_filter else None
        return EntriesPage(request, [], None, _previous_of_empty(request, after), scanned=scanned)

    # Read towards the cursor's far side; with `before`, read backwards from it and flip.
    fetch_reverse = descending != (before is not None)
    # One probe tells whether anything lies on the cursor's own side of this page.
    probe = _probe_behind_cursor(low, high, after=after, before=before, descending=descending)
    if entry_filter is not None:
        budget = app_settings().filter_scan_budget if scan_budget is None else scan_budget
        scan = _scan(
            store,
            name,
            RangeQuery(page_low, page_high, budget, reverse=fetch_reverse),
            entry_filter=entry_filter,
            want=request.count + 1,
            probe=probe,
        )
        return _filtered_page(request, scan, after=after, before=before)

    queries = [RangeQuery(page_low, page_high, request.count + 1, reverse=fetch_reverse)]
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


@dataclass(frozen=True, slots=True)
class _Scan:
    matches: list[Entry]  # in the order read, at most `want`
    scanned: int
    last: StreamId | None  # the last entry read (the last match when `want` were found)
    exhausted: bool  # nothing of the range lies beyond `last`
    behind: bool  # the probe found an entry on the cursor's side


def _scan(
    store: StreamStore, name: str, query: RangeQuery, *, entry_filter: EntryFilter, want: int, probe: RangeQuery | None
) -> _Scan:
    """Read `query`'s range in its direction, in growing chunks, testing each entry, until `want`
    entries match or `query.count` entries have been read."""
    low, high, budget, reverse = query.low, query.high, query.count, query.reverse
    behind = False
    found: list[Entry] = []
    scanned = 0
    chunk = max(FIRST_SCAN_CHUNK, want)
    while True:
        take = min(chunk, budget - scanned, SCAN_CHUNK)
        part = store.range_scan(
            name,
            RangeQuery(low, high, take, reverse=reverse),
            keep=entry_filter.matches,
            reads=entry_filter.fields,
            limit=want - len(found),
            also=[probe] if probe is not None and scanned == 0 else [],  # the probe rides along the first read
        )
        if part.also:
            behind = bool(part.also[0])
        found.extend(part.kept)
        scanned += part.tested
        last = part.last_tested
        if len(found) >= want:
            return _Scan(found, scanned, last, exhausted=False, behind=behind)
        if part.read < take or last is None:
            return _Scan(found, scanned, last, exhausted=True, behind=behind)
        step = last.predecessor() if reverse else last.successor()
        if step is None:
            return _Scan(found, scanned, last, exhausted=True, behind=behind)
        if reverse:
            high = step
        else:
            low = step
        if scanned >= budget:
            # Out of budget: one more entry read tells whether the range goes on (else no `next`).
            [beyond] = store.ranges(name, [RangeQuery(low, high, 1, reverse=reverse)])
            return _Scan(found, scanned, last, exhausted=not beyond, behind=behind)
        chunk = _next_chunk(chunk, scanned=scanned, found=len(found), want=want)


def _next_chunk(chunk: int, *, scanned: int, found: int, want: int) -> int:
    """How many entries the next read of a scan asks for: four times more while nothing matched;
    else about what the matches so far say the missing ones need (a read past the last match
    needed is wasted: Redis sends and the client parses every entry it asks for)."""
    if found == 0:
        return chunk * 4
    guess = (want - found) * scanned // found + 1
    return max(MIN_SCAN_CHUNK, guess + guess // 4)


def _filtered_page(
    request: RangeRequest, scan: _Scan, *, after: StreamId | None, before: StreamId | None
) -> EntriesPage:
    """The page a scan found: `count` matches (the scan also found one more, so the range goes on
    after the last), or fewer when the scan stopped at its budget or at the end of the range."""
    entries = scan.matches[: request.count]
    if len(scan.matches) > request.count:
        resume: str | None = entries[-1].id
    elif not scan.exhausted and scan.last is not None:
        resume = str(scan.last)
    else:
        resume = None
    stopped_at_budget = resume is not None and len(scan.matches) <= request.count
    if before is None:
        next_request = request.next_page(resume) if resume else None
        previous_request = None
        if scan.behind:
            previous_request = request.previous_page(entries[0].id) if entries else _previous_of_empty(request, after)
    else:
        entries.reverse()
        previous_request = request.previous_page(resume) if resume else None
        next_request = None
        if scan.behind:
            next_request = request.next_page(entries[-1].id) if entries else _next_of_empty(request, before)
    return EntriesPage(
        request=request,
        entries=entries,
        next_request=next_request,
        previous_request=previous_request,
        scanned=scan.scanned,
        scanned_to=resume,
        stopped_at_budget=stopped_at_budget,
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


def _next_of_empty(request: RangeRequest, before: StreamId) -> RangeRequest | None:
    """An empty page reached by "previous" still leads on: to the page that starts at its cursor."""
    step = before.successor() if request.order == "desc" else before.predecessor()
    return request.next_page(str(step)) if step is not None else None


def _max(a: StreamId | None, b: StreamId | None) -> StreamId | None:
    return None if a is None or b is None else max(a, b)


def _min(a: StreamId | None, b: StreamId | None) -> StreamId | None:
    return None if a is None or b is None else min(a, b)
