"""What an export's download is called: the stream and the dates of its range, in characters
every file system and browser takes (`madurai_2026-11-30.csv`, `chennai_2026-11-30_2026-12-01.jsonl`,
`chennai_all.csv`; `chennai_from_2026-11-30.csv` and `chennai_until_2026-12-01.csv` when only
one end is open)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from streams_app.domain.ids import FIRST_ID, LAST_ID, parse_lower_bound, parse_upper_bound
from streams_app.errors import BadInput
from streams_app.gateway.types import StreamId

MAX_STREAM_PART = 80
_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9._-]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ExportFileName:
    name: str  # may keep the letters and digits of a non-ASCII stream name
    ascii_name: str  # the same in ASCII, for clients that read only `filename=`

    @property
    def is_ascii(self) -> bool:
        return self.name == self.ascii_name


def export_file_name(*, stream: str, start: str, end: str, fmt: str, tz: tzinfo) -> ExportFileName:
    """The download name of an export of `stream` from `start` to `end` (as the export job was
    given them) in `fmt`: `<stream>_<dates>.<fmt>`, the dates being those of the range in `tz`."""
    dates = range_part(start=start, end=end, tz=tz)
    extension = _UNSAFE_ASCII.sub("", fmt or "") or "txt"
    name = stream_part(stream)
    return ExportFileName(
        name=f"{name}_{dates}.{extension}", ascii_name=f"{ascii_stream_part(name)}_{dates}.{extension}"
    )


def stream_part(stream: str) -> str:
    """`stream` with only letters (and their marks), digits, `.`, `_` and `-` (any other run of
    characters becomes one `_`), no leading or trailing `.`, `_` or `-`, at most MAX_STREAM_PART
    characters; `stream` when nothing is left."""
    text = unicodedata.normalize("NFC", stream)
    kept = "".join(char if _is_safe(char) else "_" for char in text)
    return _tidy(re.sub(r"_{2,}", "_", kept))


def ascii_stream_part(name: str) -> str:
    """The ASCII fallback of a stream part: accents dropped (São → Sao), other characters as `_`."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return _tidy(_UNSAFE_ASCII.sub("_", ascii_text))


def range_part(*, start: str, end: str, tz: tzinfo) -> str:
    """`all`, one date, two dates, or `from_<date>` / `until_<date>` for a range open at one end."""
    try:
        low = parse_lower_bound(start, tz, field="start")
        high = parse_upper_bound(end, tz, field="end")
    except BadInput:
        return "range"
    open_start = low is None or low == FIRST_ID
    open_end = high is None or high == LAST_ID
    if open_start and open_end:
        return "all"
    if open_start:
        return f"until_{_day(high, tz)}"
    if open_end:
        return f"from_{_day(low, tz)}"
    first, last = _day(low, tz), _day(high, tz)
    return first if first == last else f"{first}_{last}"


def _day(stream_id: StreamId, tz: tzinfo) -> str:
    """The date of an ID's millisecond in `tz`; the millisecond itself beyond the calendar."""
    try:
        return (_EPOCH + timedelta(milliseconds=stream_id.ms)).astimezone(tz).date().isoformat()
    except OverflowError:
        return str(stream_id.ms)


def _is_safe(char: str) -> bool:
    # Marks too: the vowel signs of Tamil, Hindi and others are marks, and a name needs them.
    return char.isalnum() or char in "._-" or unicodedata.category(char) in {"Mn", "Mc"}


def _tidy(part: str) -> str:
    part = part.strip("._-")[:MAX_STREAM_PART].rstrip("._-")
    return part or "stream"
