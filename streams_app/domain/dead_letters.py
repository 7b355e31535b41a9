"""Dead letters: the entries workers gave up on, kept in `{<stream>}:dead` (see
WEATHERSTREAMS_DEAD_LETTER_STREAM and gateway.keys.dead_letter_key) with the original stream,
ID and fields, the group and consumer, how often it was delivered and the last error; and
re-driving them back.

Re-drive adds each selected dead letter to its stream again (a new ID, so groups deliver
it again) and removes it from the dead-letter stream, all in one atomic step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from streams_app.conf import app_settings
from streams_app.domain.browsing import RangeRequest, entries_page, parse_count
from streams_app.domain.groups import parse_ids
from streams_app.domain.ids import StreamId, parse_stream_id
from streams_app.domain.names import display_name
from streams_app.errors import BadInput, Conflict, NotFound
from streams_app.gateway import Entry, RangeQuery, StreamStore
from streams_app.gateway.groups import GroupStore, dead_letter_fields
from streams_app.gateway.keys import dead_letter_key


@dataclass(frozen=True, slots=True)
class DeadLetterEntry:
    dead_id: str  # the entry's ID in the dead-letter stream
    stream: str
    id: str  # the original entry's ID
    group: str
    consumer: str
    deliveries: int | None
    error: str
    fields: dict[str, str]
    redrivable: bool  # a dead letter of this stream, with its original fields

    @property
    def error_summary(self) -> str:
        """One line saying what went wrong: for a Python traceback the exception itself (the
        first line after its last frame, also when its message runs over several lines), else
        the last line of the error."""
        return error_summary(self.error)

    @property
    def error_is_traceback(self) -> bool:
        """Whether the error is a Python traceback (what a worker records for a handler's exception)."""
        return self.error.lstrip().startswith(TRACEBACK_HEADER)


@dataclass(frozen=True, slots=True)
class DeadLettersPage:
    stream: str
    dead_stream: str
    request: RangeRequest
    letters: list[DeadLetterEntry]
    next_request: RangeRequest | None
    previous_request: RangeRequest | None


@dataclass(frozen=True, slots=True)
class RedriveResult:
    moved: list[tuple[str, str]]  # (dead-letter ID, new ID in the stream)
    missing: list[str] = field(default_factory=list)  # not in the dead-letter stream (any more)


TRACEBACK_HEADER = "Traceback (most recent call last):"


def error_summary(error: str) -> str:
    """The line of `error` a page shows first (see DeadLetterEntry.error_summary)."""
    lines = [line.rstrip() for line in error.strip().splitlines() if line.strip() and not _left_out(line)]
    if not lines:
        return ""
    if lines[0].startswith(TRACEBACK_HEADER):
        frames = [index for index, line in enumerate(lines) if line.startswith("  File ")]
        after_frames = lines[frames[-1] + 1 :] if frames else []
        # The frame's source line and its ^^^ markers are indented; the exception is not.
        exception = next((line for line in after_frames if not line[:1].isspace()), None)
        if exception is not None:
            return exception.strip()
    return lines[-1].strip()


def _left_out(line: str) -> bool:
    """The line a worker puts where it cut a long error short (gateway.worker_io.bounded_error)."""
    return line.startswith("… ") and line.endswith(" left out …")


def dead_letter_stream(stream: str) -> str:
    """The dead-letter stream of `stream`, as the workers name it."""
    return dead_letter_key(stream, app_settings().dead_letter_stream)


def dead_letter_entry(entry: Entry, *, stream: str) -> DeadLetterEntry:
    fields = entry.fields
    try:
        deliveries: int | None = int(fields.get("deliveries", ""))
    except ValueError:
        deliveries = None
    original = dead_letter_fields(entry)
    return DeadLetterEntry(
        dead_id=entry.id,
        stream=fields.get("stream", ""),
        id=fields.get("id", ""),
        group=fields.get("group", ""),
        consumer=fields.get("consumer", ""),
        deliveries=deliveries,
        error=fields.get("error", ""),
        fields=original,
        redrivable=bool(original) and fields.get("stream") == stream,
    )


def parse_dead_letters_request(params: Mapping[str, Any]) -> RangeRequest:
    """Newest first, `count` a page, continuing after (or before) a dead-letter ID."""
    settings = app_settings()
    after, before = (params.get("after") or "").strip(), (params.get("before") or "").strip()
    if after and before:
        raise BadInput("Give either after or before, not both.", field="after")
    return RangeRequest(
        order="desc",
        count=parse_count(params.get("count"), default=settings.page_size, maximum=settings.max_page_size),
        after=str(parse_stream_id(after, field="after")) if after else None,
        before=str(parse_stream_id(before, field="before")) if before else None,
    )


def _check_streams(store: StreamStore, stream: str, dead_stream: str) -> bool:
    """Whether the dead-letter stream exists; NotFound when neither key does, Conflict for other types."""
    kind, dead_kind = store.key_type(stream), store.key_type(dead_stream)
    if kind not in {"stream", "none"}:
        raise Conflict(f"The key “{display_name(stream)}” holds a {kind}, not a stream.")
    if dead_kind not in {"stream", "none"}:
        raise Conflict(f"The dead-letter key “{display_name(dead_stream)}” holds a {dead_kind}, not a stream.")
    if kind == "none" and dead_kind == "none":
        raise NotFound(f"There is no stream called “{display_name(stream)}”.")
    return dead_kind == "stream"


def dead_letters_page(
    *, store: StreamStore, stream: str, request: RangeRequest, tz: tzinfo, dead_stream: str | None = None
) -> DeadLettersPage:
    """One page of the stream's dead letters, newest first."""
    dead_stream = dead_stream or dead_letter_stream(stream)
    if not _check_streams(store, stream, dead_stream):
        return DeadLettersPage(stream, dead_stream, request, [], None, None)
    page = entries_page(store=store, name=dead_stream, request=request, tz=tz)
    return DeadLettersPage(
        stream=stream,
        dead_stream=dead_stream,
        request=request,
        letters=[dead_letter_entry(entry, stream=stream) for entry in page.entries],
        next_request=page.next_request,
        previous_request=page.previous_request,
    )


def dead_letters_redrive(
    *, streams: StreamStore, groups: GroupStore, stream: str, ids: Any, dead_stream: str | None = None
) -> RedriveResult:
    """Move the selected dead letters back to `stream`, atomically; nothing moves if one of them
    is not a dead letter of this stream. IDs no longer in the dead-letter stream are reported."""
    parsed = parse_ids(ids)
    if not parsed:
        raise BadInput("Select at least one dead letter to re-drive.", field="ids")
    dead_stream = dead_stream or dead_letter_stream(stream)
    if not _check_streams(streams, stream, dead_stream):
        return RedriveResult(moved=[], missing=parsed)
    # Checked before the move: the move itself cannot undo entries it already moved.
    found = streams.ranges(dead_stream, [RangeQuery(StreamId.parse(i), StreamId.parse(i), 1) for i in parsed])
    present = []
    for dead_id, rows in zip(parsed, found, strict=True):
        if not rows:
            continue
        if not dead_letter_entry(rows[0], stream=stream).redrivable:
            raise Conflict(
                f"Nothing was moved: entry {dead_id} of “{display_name(dead_stream)}” is not a dead letter "
                f"of “{display_name(stream)}” (or has no original fields)."
            )
        present.append(dead_id)
    moved = groups.redrive(dead_stream, stream, present) if present else []
    moved_ids = {dead_id for dead_id, _ in moved}
    return RedriveResult(moved=moved, missing=[i for i in parsed if i not in moved_ids])
