"""What the live pages are sent: every message a tail, a group page or the dashboard gets,
built by plain functions from what the live reader returned (no Redis in here).

The page's script (static/streams_app/live.js) reads these by their `type`: "snapshot" and
"entries" (a tail), "group_snapshot", "group" and "processed" (a group page), "dashboard",
"status" (Redis is away), "resync" (reload the picture from Redis) and "error" (what was
wrong: a refused socket, sent just before its close code, or a frame the server cannot use).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from streams_app.domain.ids import StreamId
from streams_app.domain.names import display_name, url_token
from streams_app.errors import BadInput, Conflict, DomainError, NotFound
from streams_app.gateway.heartbeats import WorkerHeartbeat
from streams_app.gateway.live_io import GroupSnapshot, StreamCounts, processed_entries
from streams_app.gateway.types import Entry

Message = dict[str, Any]

# A group page keeps its newest 100 processed rows (data-max-rows in group_detail.html):
# more in one message would only be dropped by the page.
PROCESSED_ENTRIES_PER_MESSAGE = 100
# The dashboard draws a sparkline of the last minute of rates (one figure a refresh).
RATE_HISTORY = 60
# A worker that stopped within the last hour still shows on the dashboard, as gone.
GONE_WORKER_SHOWN_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A feed message, JSON-encoded once for every tab (with its first and last entry IDs when it
    carries entries), and the ASGI `websocket.send` event that carries it, built once too: per-tab
    work is what limits how many tabs a process can serve, so a tab only hands `frame` to the server."""

    data: Message
    text: str
    first: StreamId | None = None
    last: StreamId | None = None
    type: str = ""
    frame: dict = field(default_factory=dict)

    @classmethod
    def of(cls, data: Message, *, first: str | None = None, last: str | None = None) -> Outgoing:
        """`data` encoded once, with the IDs of the first and last entries it carries, if any."""
        text = json.dumps(data)
        return cls(
            data,
            text,
            StreamId.parse(first) if first else None,
            StreamId.parse(last) if last else None,
            data["type"],
            # Servers only read an event (uvicorn, daphne, hypercorn): one serves every tab.
            {"type": "websocket.send", "text": text},
        )


RESYNC = Outgoing.of({"type": "resync"})


def entry_json(entry: Entry) -> Message:
    """One stream entry as the pages show it: its ID and its fields."""
    return {"id": entry.id, "fields": entry.fields}


def redis_unavailable(reason: str) -> Message:
    """Tells a page that Redis is away (the page shows `reason` and keeps what it has)."""
    return {"type": "status", "redis": "unavailable", "message": reason}


# --- refusals and errors ----------------------------------------------------------------

# Close codes a page is closed with, each just after an error message saying why. The 44xx
# codes mirror the HTTP status a page would get; live.js stops reconnecting on them.
CLOSE_UNAUTHENTICATED = 4401  # not logged in (or no longer)
CLOSE_FORBIDDEN = 4403  # a job that is someone else's
CLOSE_NOT_FOUND = 4404  # no such stream, job or live address
CLOSE_NOT_A_STREAM = 4409  # the key holds something else
CLOSE_TOO_MANY_SOCKETS = 4429  # the user's live sockets in this process are at the cap
# Standard codes, and 4408: the page reconnects after these (socket.js stops only on REFUSAL_CODES).
CLOSE_SERVER_ERROR = 1011  # the consumer failed; it has let go of its feed
CLOSE_TRY_AGAIN_LATER = 1013  # Redis is away and the socket cannot be checked yet
# The page stopped reading: what it was sent had not left the server after
# WEATHERSTREAMS_LIVE_SEND_TIMEOUT_SECONDS (a 408 of sorts). It has let go of its feed; the page,
# when it reads again, gets this close and reconnects to a fresh snapshot.
CLOSE_TOO_SLOW = 4408
REFUSAL_CODES = frozenset(
    {CLOSE_UNAUTHENTICATED, CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, CLOSE_NOT_A_STREAM, CLOSE_TOO_MANY_SOCKETS}
)


def error_message(reason: str) -> Message:
    """Tells a page what went wrong: why its socket is being closed, or what was wrong with a frame it sent."""
    return {"type": "error", "message": reason}


def close_code_for(error: DomainError) -> int:
    """The close code of a socket refused for `error`, as the HTTP page would answer it (a bad address is a 404)."""
    if isinstance(error, Conflict):
        return CLOSE_NOT_A_STREAM
    if isinstance(error, NotFound | BadInput):
        return CLOSE_NOT_FOUND
    return CLOSE_TRY_AGAIN_LATER


def not_signed_in() -> Message:
    return error_message("You are not logged in (any more): log in again to see live data.")


def too_many_sockets(limit: int) -> Message:
    return error_message(
        f"Too many live pages open: at most {limit} at once per user. Close some, then reload this page."
    )


def not_your_job() -> Message:
    return error_message("This job was started by someone else: only they and staff can follow it.")


def not_a_job_address(job_id: str) -> Message:
    return error_message(f"“{display_name(job_id)[:100]}” is not a job ID.")


def no_live_feed(path: str) -> Message:
    return error_message(f"There is no live feed at {display_name(path)[:200]}.")


def too_slow(seconds: float) -> Message:
    return error_message(f"This page stopped reading its live feed for over {seconds:g} s; reconnecting to catch up.")


def server_failed() -> Message:
    return error_message("The live feed failed on the server; reconnecting.")


def binary_frame_refused() -> Message:
    return error_message('Binary frames are not understood: send JSON text, such as {"action": "resync"}.')


def frame_too_long(length: int, limit: int) -> Message:
    return error_message(f"A frame of {length:,} characters is too long: at most {limit:,}.")


def frame_not_json(detail: str) -> Message:
    return error_message(f"The frame is not JSON ({detail}).")


def frame_too_deep() -> Message:
    return error_message("The frame's JSON is nested too deeply.")


def unknown_request(actions: list[str]) -> Message:
    understood = ", ".join(f'{{"action": "{action}"}}' for action in actions) or "nothing"
    return error_message(f"Unknown request: this socket understands {understood}.")


# --- a stream's tail --------------------------------------------------------------------


def tail_snapshot(entries: list[Entry]) -> Message:
    """The newest entries of a stream, oldest first: what a tail starts from."""
    return {"type": "snapshot", "entries": [entry_json(entry) for entry in entries]}


def tail_entries(entries: list[Entry]) -> Outgoing:
    """Entries new to a stream (at least one), oldest first, for every tab tailing it."""
    return Outgoing.of(
        {"type": "entries", "entries": [entry_json(entry) for entry in entries]},
        first=entries[0].id,
        last=entries[-1].id,
    )


# --- a consumer group -------------------------------------------------------------------


def processed_message(reports: list[Entry], *, stream: str | None) -> Message:
    """Workers' processing reports, merged into one message (entries of `stream` only)."""
    entries = []
    processed = failed = 0
    for report in reports:
        consumer = report.fields.get("consumer", "")
        for item in processed_entries(report):
            if stream is None or item.get("stream") == stream:
                entries.append({**item, "consumer": consumer, "reported": report.id})
        processed += _count(report.fields.get("processed"))
        failed += _count(report.fields.get("failed"))
    return {
        "type": "processed",
        "entries": entries[-PROCESSED_ENTRIES_PER_MESSAGE:],
        "processed": processed,
        "failed": failed,
    }


def _count(raw: str | None) -> int:
    """A count another program may have written: junk, negative or absurd reads as 0."""
    try:
        value = int(raw or 0)
    except ValueError:
        return 0
    return value if 0 <= value < 2**53 else 0  # 2**53: the largest count a page's JavaScript holds exactly


def _seconds_ago(moment: float, now: float) -> float | None:
    """Seconds from `moment` to `now`, never negative; None when a heartbeat's time is not a time
    (an index score of -inf, say), since JSON has no infinity and the page would drop the message."""
    ago = now - moment
    return round(max(0.0, ago), 1) if math.isfinite(ago) else None


def group_counts(snapshot: GroupSnapshot | None, workers: list[WorkerHeartbeat], *, now: float) -> Message:
    """Pending counts per consumer, the group's lag and its workers, as the group page shows them
    (`snapshot` None: the stream or the group is not there; `now` in seconds since the epoch)."""
    summary = snapshot.group if snapshot else None
    return {
        "type": "group",
        "exists": snapshot is not None,
        "pending": summary.pending if summary else 0,
        "lag": summary.lag if summary else None,
        "last_delivered_id": summary.last_delivered_id if summary else None,
        "consumers": [
            {"name": consumer.name, "pending": consumer.pending, "idle_ms": consumer.idle_ms}
            for consumer in sorted(snapshot.consumers if snapshot else [], key=lambda consumer: consumer.name)
        ],
        "workers": [
            {
                "name": worker.name,
                "alive": worker.alive,
                "host": worker.host,
                "pid": worker.pid or "",
                "processed": worker.processed,
                "failed": worker.failed,
                "rate": worker.rate,
                "seen_seconds_ago": _seconds_ago(worker.last_seen, now),
            }
            for worker in workers
        ],
    }


def group_snapshot(counts: Message, recent_reports: list[Entry], *, stream: str) -> Message:
    """What a group page starts from: the group's counts and the entries processed lately."""
    return {**counts, "type": "group_snapshot", "processed": processed_message(recent_reports, stream=stream)}


# --- the dashboard ----------------------------------------------------------------------


@dataclass
class StreamRates:
    """Entries a second of each stream, from its length at one dashboard refresh to the next."""

    history_length: int = RATE_HISTORY
    _previous: dict[str, tuple[float, int]] = field(default_factory=dict)
    _history: dict[str, list[float]] = field(default_factory=dict)

    def observe(self, stream: str, length: int, *, now: float) -> list[float]:
        """Record `stream`'s length at `now` (monotonic seconds); returns its rates so far, newest last."""
        before = self._previous.get(stream)
        rate = 0.0
        if before is not None and now > before[0]:
            rate = max(0.0, (length - before[1]) / (now - before[0]))
        self._previous[stream] = (now, length)
        history = self._history.setdefault(stream, [])
        history.append(round(rate, 1))
        del history[: -self.history_length]
        return list(history)


def dashboard_message(
    counts: list[StreamCounts], workers: list[WorkerHeartbeat], *, rates: dict[str, list[float]], now: float
) -> Message:
    """Streams with length, rate (from `rates`, newest last) and groups; workers alive or
    lately gone (`now` in seconds since the epoch)."""
    streams = [
        {
            "name": display_name(counted.stream.name),
            "token": url_token(counted.stream.name),
            "length": counted.stream.length,
            "last_id": counted.stream.last_id,
            "rate": rates[counted.stream.name][-1],
            "rates": rates[counted.stream.name],
            "groups": [
                {
                    "name": display_name(group.name),
                    "token": url_token(group.name),
                    "pending": group.pending,
                    "lag": group.lag,
                }
                for group in counted.groups
            ],
        }
        for counted in counts
    ]
    return {
        "type": "dashboard",
        "streams": streams,
        "workers": [
            {
                "group": worker.group,
                "name": worker.name,
                "alive": worker.alive,
                "rate": worker.rate,
                "processed": worker.processed,
                "host": worker.host,
                "seen_seconds_ago": _seconds_ago(worker.last_seen, now),
            }
            for worker in workers
            if worker.alive or now - worker.last_seen < GONE_WORKER_SHOWN_SECONDS
        ],
    }
