"""Consumer groups as an operator runs them: create, move and destroy groups, look at their
consumers and pending entries, ack or claim entries, delete idle consumers, and see the
workers' heartbeats. The same rules for the pages and the JSON API.

New group names, and the consumer names entries are claimed for, follow the city-name
rules (1–64 letters, digits, `_ - . :`); groups and consumers that already exist are found
by whatever name they have, so ones made by other programs stay reachable (a name that is
neither valid nor existing is bad input, 400; a valid one that does not exist, 404).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import Any

from streams_app.conf import app_settings
from streams_app.domain.browsing import parse_count
from streams_app.domain.ids import StreamId, datetime_ms, parse_stream_id
from streams_app.domain.names import display_name, refuse_internal_key, validate_city
from streams_app.errors import BadInput, NotFound
from streams_app.gateway.groups import GroupStore, PendingEntry
from streams_app.gateway.heartbeats import HeartbeatStore, WorkerHeartbeat
from streams_app.gateway.types import ConsumerSummary, GroupSummary

MAX_IDS = 1000  # IDs one ack, claim or re-drive may name
MAX_IDLE_MS = 10**15  # about 31,000 years; keeps XPENDING's and XCLAIM's integers in range
_ID_TEXT = re.compile(r"\d+(?:-\d+)?")
START_HELP = "$ (new entries only), 0 (the whole stream), an ID (deliver what follows it) or a date-time"


# --- names, IDs and numbers -------------------------------------------------------


def validate_name(name: Any, *, label: str, field: str) -> str:
    """A group or consumer name under the city-name rules, with messages that say which name."""
    if name is not None and not isinstance(name, str):
        raise BadInput(f"The {label} must be text.", field=field)
    return validate_city(name, field=field, label=label)


def validate_group_name(name: Any, *, field: str = "name") -> str:
    return validate_name(name, label="group name", field=field)


def validate_consumer_name(name: Any, *, field: str = "consumer") -> str:
    return validate_name(name, label="consumer name", field=field)


def parse_group_start(raw: Any, *, tz: tzinfo, field: str = "start", default: str | None = "$") -> str:
    """The last-delivered ID a group should have, from `$`, `0`, an ID or a date-time.

    An ID is taken as Redis takes it: the group delivers the entries after it. A date-time
    T means "deliver the entries from T on", so the group starts just before T's first ID:
    at (T_ms - 1)-18446744073709551615, the ID right before T_ms-0.
    """
    if raw is not None and not isinstance(raw, str):
        raise BadInput(f"The start must be text: {START_HELP}.", field=field)
    text = (raw or "").strip()
    if text == "":
        if default is None:
            raise BadInput(f"Give where the group should be: {START_HELP}.", field=field)
        return default
    if text == "$":
        return "$"
    if _ID_TEXT.fullmatch(text):
        return str(parse_stream_id(text, field=field))
    ms = datetime_ms(text, tz, field=field)
    before = StreamId(ms, 0).predecessor()
    return str(before) if before is not None else "0-0"


def parse_ids(raw: Any, *, field: str = "ids") -> list[str]:
    """Entry IDs (`ms` or `ms-seq`) as a list of `ms-seq`, in the order given, without repeats."""
    if raw is None:
        raise BadInput('Give the entry IDs as a list, like ["1534866436902-0"].', field=field)
    if isinstance(raw, str) or not isinstance(raw, list | tuple):
        raise BadInput('The entry IDs must be a list of IDs, like ["1534866436902-0"].', field=field)
    if len(raw) > MAX_IDS:
        raise BadInput(f"At most {MAX_IDS} IDs at a time; got {len(raw)}.", field=field)
    found: dict[str, None] = {}
    for value in raw:
        if not isinstance(value, str):
            raise BadInput(f'Each ID must be text, like "1534866436902-0"; got {value!r}.', field=field)
        found[str(parse_stream_id(value, field=field))] = None
    return list(found)


def parse_min_idle(raw: Any, *, field: str = "min_idle") -> int:
    """Milliseconds of idle time, 0 when absent."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return 0
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise BadInput("The minimum idle time must be a whole number of milliseconds.", field=field)
    try:
        value = int(raw.strip()) if isinstance(raw, str) else raw
    except ValueError:
        raise BadInput(
            f"The minimum idle time must be a whole number of milliseconds; got “{display_name(raw)}”.", field=field
        ) from None
    if not 0 <= value <= MAX_IDLE_MS:
        raise BadInput(f"The minimum idle time must be between 0 and {MAX_IDLE_MS} ms; got {value}.", field=field)
    return value


# --- groups -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreatedGroup:
    info: GroupSummary
    start_id: str  # the last-delivered ID the group was created with ("$" resolved by Redis)


def group_overview(*, store: GroupStore, stream: str) -> list[GroupSummary]:
    """The stream's groups with consumers, pending count, last delivered ID and lag, by name."""
    return sorted(store.groups(stream), key=lambda info: info.name)


def group_find(*, store: GroupStore, stream: str, group: str) -> GroupSummary:
    """An existing group; NotFound for a missing stream or group, BadInput for a name no group may have."""
    for info in store.groups(stream):
        if info.name == group:
            return info
    validate_group_name(group, field="group")
    raise NotFound(f"There is no group “{display_name(group)}” on “{display_name(stream)}”.")


def group_create(*, store: GroupStore, stream: str, name: Any, start: Any, tz: tzinfo) -> CreatedGroup:
    """XGROUP CREATE, creating the stream if needed (as XGROUP CREATE … MKSTREAM does; then the
    stream must have a valid city name); Conflict if the group exists or the key is not a stream;
    BadInput on the app's or RQ's own keys."""
    refuse_internal_key(stream, refused="groups cannot be created on it", field="stream")
    name = validate_group_name(name)
    start_id = parse_group_start(start, tz=tz)
    try:
        store.create_group(stream, name, start_id=start_id, make_stream=False)
    except NotFound:
        validate_city(stream, field="stream")
        store.create_group(stream, name, start_id=start_id, make_stream=True)
    info = group_find(store=store, stream=stream, group=name)
    return CreatedGroup(info=info, start_id=info.last_delivered_id if start_id == "$" else start_id)


def group_setid(*, store: GroupStore, stream: str, group: str, last_id: Any, tz: tzinfo) -> str:
    """XGROUP SETID to `$`, `0`, an ID or a date-time (as for a new group); returns the new last-delivered ID."""
    target = parse_group_start(last_id, tz=tz, field="id", default=None)
    group_find(store=store, stream=stream, group=group)
    store.set_group_id(stream, group, target)
    return group_find(store=store, stream=stream, group=group).last_delivered_id


def group_destroy(*, store: GroupStore, stream: str, group: str) -> None:
    """XGROUP DESTROY: the group and all its pending entries are gone."""
    group_find(store=store, stream=stream, group=group)
    if not store.destroy_group(stream, group):
        raise NotFound(f"There is no group “{display_name(group)}” on “{display_name(stream)}”.")


# --- consumers --------------------------------------------------------------------


def group_consumers(*, store: GroupStore, stream: str, group: str) -> list[ConsumerSummary]:
    group_find(store=store, stream=stream, group=group)
    return sorted(store.consumers(stream, group), key=lambda consumer: consumer.name)


def consumer_delete(*, store: GroupStore, stream: str, group: str, consumer: Any) -> None:
    """Delete a consumer that has no pending entries; Conflict (saying why) while it has some."""
    if not isinstance(consumer, str) or consumer == "":
        validate_consumer_name(consumer)
    names = {info.name for info in group_consumers(store=store, stream=stream, group=group)}
    if consumer not in names:
        validate_consumer_name(consumer)
        raise NotFound(f"The group “{display_name(group)}” has no consumer “{display_name(consumer)}”.")
    store.delete_consumer(stream, group, consumer)


# --- pending entries --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """Filters and a cursor: the page starts after `after` (the last ID of the page before)."""

    count: int
    consumer: str | None = None
    min_idle_ms: int = 0
    after: str | None = None

    def query_params(self) -> dict[str, str]:
        params = {"count": str(self.count)}
        if self.consumer:
            params["consumer"] = self.consumer
        if self.min_idle_ms:
            params["min_idle"] = str(self.min_idle_ms)
        if self.after:
            params["after"] = self.after
        return params

    def next_page(self, cursor: str) -> PendingRequest:
        return replace(self, after=cursor)


@dataclass(frozen=True, slots=True)
class PendingPage:
    request: PendingRequest
    entries: list[PendingEntry]
    next_request: PendingRequest | None


def parse_pending_request(params: Mapping[str, Any]) -> PendingRequest:
    """Validate consumer, min_idle, count and after; BadInput names the field."""
    settings = app_settings()
    consumer = params.get("consumer")
    if consumer is not None and not isinstance(consumer, str):
        raise BadInput("The consumer must be text.", field="consumer")
    after = (params.get("after") or "").strip()
    return PendingRequest(
        consumer=(consumer or "").strip() or None,
        min_idle_ms=parse_min_idle(params.get("min_idle")),
        count=parse_count(params.get("count"), default=settings.page_size, maximum=settings.max_page_size),
        after=str(parse_stream_id(after, field="after")) if after else None,
    )


def pending_page(*, store: GroupStore, stream: str, group: str, request: PendingRequest) -> PendingPage:
    """One page of XPENDING's extended form, oldest ID first, with the request for the next page."""
    group_find(store=store, stream=stream, group=group)
    if request.consumer is not None:
        _check_consumer_filter(store=store, stream=stream, group=group, consumer=request.consumer)
    low = StreamId.parse(request.after).successor() if request.after else StreamId(0, 0)
    if low is None:
        return PendingPage(request, [], None)
    rows = store.pending_entries(
        stream,
        group,
        low=low,
        count=request.count + 1,
        consumer=request.consumer,
        min_idle_ms=request.min_idle_ms or None,
    )
    entries = rows[: request.count]
    more = len(rows) > request.count
    return PendingPage(request, entries, request.next_page(entries[-1].id) if more and entries else None)


def _check_consumer_filter(*, store: GroupStore, stream: str, group: str, consumer: str) -> None:
    """A filter may name any existing consumer, or a valid name (which then has nothing pending)."""
    try:
        validate_consumer_name(consumer)
    except BadInput:
        if consumer not in {info.name for info in store.consumers(stream, group)}:
            raise


def pending_ack(*, store: GroupStore, stream: str, group: str, ids: Any) -> int:
    """XACK; returns how many were pending (IDs that are not pending count 0, not an error)."""
    parsed = parse_ids(ids)
    group_find(store=store, stream=stream, group=group)
    return store.ack(stream, group, parsed)


def pending_claim(
    *, store: GroupStore, stream: str, group: str, ids: Any, consumer: Any, min_idle: Any = 0
) -> list[str]:
    """XCLAIM the entries for `consumer` (created if new); returns the IDs it now owns."""
    consumer = validate_consumer_name(consumer)
    parsed = parse_ids(ids)
    min_idle_ms = parse_min_idle(min_idle)
    group_find(store=store, stream=stream, group=group)
    return store.claim(stream, group, consumer=consumer, ids=parsed, min_idle_ms=min_idle_ms)


# --- workers ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkersOverview:
    live: list[WorkerHeartbeat]  # heartbeat hash still there (running, reconnecting, just stopped ...)
    gone: list[WorkerHeartbeat]  # heartbeat stopped: the hash expired; last seen from the index


def workers_overview(*, store: HeartbeatStore, limit: int = 500) -> WorkersOverview:
    workers = store.workers(limit=limit)
    live = sorted((w for w in workers if w.alive), key=lambda w: (w.group, w.name))
    gone = sorted((w for w in workers if not w.alive), key=lambda w: -w.last_seen)
    return WorkersOverview(live=live, gone=gone)
