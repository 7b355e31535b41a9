"""Stream entry IDs and range bounds: parsing, ordering and conversion to and from time.

Every bound a user gives (`-`, `+`, `ms`, `ms-seq`, `(ms-seq`, or a date-time) is turned
into the inclusive ID it stands for, so that paging can compare and step bounds exactly.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from streams_app.errors import BadInput
from streams_app.gateway.keys import display_name
from streams_app.gateway.types import MAX_PART, StreamId

_ID_PATTERN = re.compile(r"^([0-9]{1,20})(?:-([0-9]{1,20}))?$")
EXAMPLE_ID = "1534866436902-0"
EXAMPLE_DATETIME = "2024-05-01 13:30"


FIRST_ID = StreamId(0, 0)
LAST_ID = StreamId(MAX_PART, MAX_PART)


def _parse_id_parts(text: str, *, field: str | None = None) -> tuple[int, int | None] | None:
    match = _ID_PATTERN.match(text)
    if not match:
        return None
    ms = int(match.group(1))
    seq = None if match.group(2) is None else int(match.group(2))
    if ms > MAX_PART or (seq is not None and seq > MAX_PART):
        raise BadInput(f"“{text}” is out of range: both parts of an ID must be at most {MAX_PART}.", field=field)
    return ms, seq


def parse_new_entry_id(text: str, *, field: str = "id") -> str:
    """Validate an explicit ID for a new entry (`ms` or `ms-seq`); returns it as Redis expects.

    Empty or `*` means "let Redis choose". Whether the ID is above the stream's last one
    is Redis's to say, atomically, when the entry is added.
    """
    text = (text or "").strip()
    if text in {"", "*"}:
        return "*"
    parts = _parse_id_parts(text, field=field)
    if parts is None:
        raise BadInput(
            f"“{_shorten(text)}” is not a valid entry ID: use milliseconds or milliseconds-sequence, "
            f"like {EXAMPLE_ID}, or leave it empty for an automatic ID.",
            field=field,
        )
    ms, seq = parts
    if ms == 0 and not seq:
        raise BadInput("The ID must be greater than 0-0.", field=field)
    return str(StreamId(ms, seq or 0))


def parse_stream_id(text: str, *, field: str = "id") -> StreamId:
    """Parse a complete or partial ID typed by a user (`ms` means `ms-0`)."""
    parts = _parse_id_parts((text or "").strip(), field=field)
    if parts is None:
        raise BadInput(f"“{_shorten(text)}” is not a valid entry ID (like {EXAMPLE_ID}).", field=field)
    return StreamId(parts[0], parts[1] or 0)


def parse_lower_bound(text: str | None, tz: tzinfo, *, field: str = "start") -> StreamId | None:
    """The smallest ID a range starting at `text` includes; None when nothing can follow it."""
    text = (text or "").strip()
    if text in {"", "-"}:
        return FIRST_ID
    if text == "+":
        return LAST_ID
    if text.startswith("("):
        return parse_stream_id(text[1:], field=field).successor()
    parts = _parse_id_parts(text, field=field)
    if parts is not None:
        return StreamId(parts[0], parts[1] or 0)
    return StreamId(datetime_ms(text, tz, field=field), 0)


def parse_upper_bound(text: str | None, tz: tzinfo, *, field: str = "end") -> StreamId | None:
    """The largest ID a range ending at `text` includes; None when nothing can precede it."""
    text = (text or "").strip()
    if text in {"", "+"}:
        return LAST_ID
    if text == "-":
        return FIRST_ID
    if text.startswith("("):
        # As Redis reads it, a bare `(ms` as an end excludes only ms-<max>.
        parts = _parse_id_parts(text[1:], field=field)
        if parts is None:
            raise BadInput(f"“{_shorten(text)}” is not a valid entry ID (like {EXAMPLE_ID}).", field=field)
        ms, seq = parts
        return StreamId(ms, MAX_PART if seq is None else seq).predecessor()
    parts = _parse_id_parts(text, field=field)
    if parts is not None:
        ms, seq = parts
        return StreamId(ms, MAX_PART if seq is None else seq)
    return StreamId(datetime_ms(text, tz, field=field, end=True), MAX_PART)


def datetime_ms(text: str, tz: tzinfo, *, field: str, end: bool = False) -> int:
    """Milliseconds since the epoch of a typed date-time (a bare date as the `end` of a range
    means the whole day); BadInput before 1970 and beyond what the calendar holds."""
    moment = parse_datetime(text, tz, field=field)
    try:
        ms = datetime_to_ms(moment)
        if end and _is_bare_date(text):
            ms = _end_of_day_ms(moment, ms)
    except OverflowError:
        raise BadInput(f"“{_shorten(text)}” is beyond what the calendar holds (year 9999).", field=field) from None
    if ms < 0:
        raise BadInput(f"“{_shorten(text)}” is before 1970-01-01 00:00 UTC, where stream IDs start.", field=field)
    return ms


def _end_of_day_ms(midnight: datetime, midnight_ms: int) -> int:
    """The last millisecond of the day that starts at `midnight` (23 or 25 hours on a DST change)."""
    try:
        return datetime_to_ms(midnight + timedelta(days=1)) - 1
    except OverflowError:
        return midnight_ms + 86_400_000 - 1  # 9999-12-31: there is no next day to start


def moment_ms(moment: datetime, *, field: str, label: str = "The time") -> int:
    """Milliseconds since the epoch of a date-time a door parsed (a form's date, a command's
    option); BadInput before 1970 and beyond what the calendar holds."""
    try:
        ms = datetime_to_ms(moment)
    except OverflowError:
        raise BadInput(f"{label} is beyond what the calendar holds (year 9999).", field=field) from None
    if ms < 0:
        raise BadInput(f"{label} must be 1970-01-01 00:00 UTC or later: stream IDs start there.", field=field)
    return ms


def _is_bare_date(text: str) -> bool:
    try:
        date.fromisoformat(text.strip())
    except ValueError:
        return False
    return True


def parse_datetime(text: str, tz: tzinfo, *, field: str) -> datetime:
    """Parse an ISO date-time (`2024-05-01 13:30`, `2024-05-01T13:30:05.250+02:00`, `2024-05-01`);
    without an offset it is read in `tz`."""
    cleaned = (text or "").strip()
    try:
        if _is_bare_date(cleaned):
            moment = datetime.combine(date.fromisoformat(cleaned), time())
        else:
            moment = datetime.fromisoformat(cleaned)
    except ValueError:
        moment = None
    if moment is None or not cleaned[:1].isdigit():
        raise BadInput(
            f"“{_shorten(text)}” is neither a stream ID (like {EXAMPLE_ID}, or - and +) "
            f"nor a date-time (like {EXAMPLE_DATETIME}).",
            field=field,
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def datetime_to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, exactly (float timestamps lose a millisecond now and then)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _shorten(text: str, limit: int = 60) -> str:
    """User input as a message may quote it: cut to `limit`, control characters and lone surrogates escaped."""
    text = display_name(str(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"
