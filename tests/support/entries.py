"""Entries and pending entries made with redis-py directly, as other programs and workers would."""

from __future__ import annotations

STREAM = "chennai"


def add(r, stream=STREAM, count=5, start_ms=1000):
    """`count` entries with IDs start_ms-0, start_ms+1-0, ...; returns their IDs."""
    ids = []
    for index in range(count):
        entry_id = f"{start_ms + index}-0"
        r.xadd(stream, {"temperature": str(20 + index), "humidity": "50"}, id=entry_id)
        ids.append(entry_id)
    return ids


def read(r, consumer, count, group="g", stream=STREAM):
    """Deliver up to `count` new entries to `consumer` (they become its pending entries)."""
    reply = r.xreadgroup(group, consumer, {stream: ">"}, count=count)
    return [raw_id.decode() for _, rows in reply for raw_id, _ in rows]
