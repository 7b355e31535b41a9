"""Exporting a range of a stream (all of it, or the entries a filter matches: see
domain/filters.py) as CSV or JSON lines, streamed to disk a page at a time, so a million
entries never sit in memory."""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, tzinfo
from pathlib import Path

from streams_app.domain.filters import parse_filter
from streams_app.domain.ids import StreamId, parse_lower_bound, parse_upper_bound
from streams_app.domain.readings import READING_FIELDS
from streams_app.errors import BadInput
from streams_app.gateway import RangeQuery, StreamStore

FORMATS = {"csv": "CSV", "jsonl": "JSON lines"}
PAGE = 5000
Progress = Callable[[int, float], None]  # (entries written, fraction of the range covered)

# A spreadsheet reads a cell that starts with one of these as a formula (OWASP, "CSV Injection").
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def csv_cell(value: str) -> str:
    """A value as a CSV cell no spreadsheet runs as a formula: one that starts with = + - @, a tab
    or a carriage return gets a leading single quote, as OWASP describes. Plain numbers (-4.5)
    stay as they are: a spreadsheet reads them as numbers, and readings are full of them."""
    if value.startswith(FORMULA_LEADS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


@dataclass(frozen=True, slots=True)
class ExportPlan:
    stream: str
    start: str
    end: str
    low: StreamId | None
    high: StreamId | None
    fmt: str
    filter_text: str = ""  # only the entries this filter matches ("" for every entry)


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    entries: int
    fmt: str
    scanned: int = 0  # entries of the range read (more than `entries` when filtered)


def export_plan(
    *, store: StreamStore, stream: str, start: str, end: str, fmt: str, tz: tzinfo, filter_text: str = ""
) -> ExportPlan:
    """Validate what to export; BadInput names the field (for a filter, with the position)."""
    store.require_stream(stream)
    fmt = (fmt or "csv").strip().lower()
    if fmt not in FORMATS:
        raise BadInput("The format must be csv or jsonl.", field="format")
    start, end = (start or "-").strip(), (end or "+").strip()
    low = parse_lower_bound(start, tz, field="start")
    high = parse_upper_bound(end, tz, field="end")
    filter_text = filter_text if parse_filter(filter_text) is not None else ""
    return ExportPlan(stream, start, end, low, high, fmt, filter_text)


def export_write(*, store: StreamStore, plan: ExportPlan, path: Path, progress: Progress | None = None) -> ExportResult:
    """Write the range (its matching entries, with a filter) to `path` (via a temporary file,
    renamed when complete)."""
    entry_filter = parse_filter(plan.filter_text)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".part")
    written = scanned = 0
    with partial.open("w", newline="", encoding="utf-8") as out:
        writer = _Writer(out, plan.fmt)
        low, high = plan.low, plan.high
        span_low = low.ms if low else 0
        span = max(1, (high.ms if high else span_low) - span_low)
        while low is not None and high is not None and low <= high:
            query = RangeQuery(low, high, PAGE)
            if entry_filter is None:
                [rows] = store.ranges(plan.stream, [query])
                read, last = len(rows), rows[-1].stream_id if rows else None
            else:
                part = store.range_scan(
                    plan.stream, query, keep=entry_filter.matches, reads=entry_filter.fields, limit=PAGE
                )
                rows, read, last = part.kept, part.read, part.last_tested
            for entry in rows:
                writer.write(entry)
            written += len(rows)
            scanned += read
            if read < PAGE or last is None:
                break
            low = last.successor()
            if progress:
                progress(written, min(1.0, (last.ms - span_low) / span))
    os.replace(partial, path)
    if progress:
        progress(written, 1.0)
    return ExportResult(path=path, entries=written, fmt=plan.fmt, scanned=scanned)


class _Writer:
    def __init__(self, out, fmt: str) -> None:
        self.out, self.fmt = out, fmt
        if fmt == "csv":
            self.csv = csv.writer(out)
            self.csv.writerow(["id", "time_utc", *READING_FIELDS, "other_fields"])

    def write(self, entry) -> None:
        moment = entry.time
        when = moment.astimezone(UTC).isoformat(timespec="milliseconds") if moment else ""
        if self.fmt == "csv":
            others = {k: v for k, v in entry.fields.items() if k not in READING_FIELDS}
            self.csv.writerow(
                [
                    entry.id,
                    when,
                    *(csv_cell(entry.fields.get(name, "")) for name in READING_FIELDS),
                    csv_cell(json.dumps(others, ensure_ascii=False)) if others else "",
                ]
            )
        else:
            self.out.write(json.dumps({"id": entry.id, "time_utc": when, "fields": entry.fields}, ensure_ascii=False))
            self.out.write("\n")
