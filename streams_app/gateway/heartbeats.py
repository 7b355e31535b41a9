"""Worker heartbeats as the workers page sees them: the index of known workers and each
one's heartbeat hash (written by WorkerIO.beat; it expires when a worker stops beating)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis

from streams_app.gateway.errors import redis_call
from streams_app.gateway.keys import heartbeat_key, workers_index_key
from streams_app.gateway.types import text

GONE = "gone"  # the heartbeat hash expired
STOPPED = "stopped"  # the worker said so as it stopped cleanly


@dataclass(frozen=True, slots=True)
class WorkerHeartbeat:
    """One worker as its last heartbeat left it (see `worker_heartbeat` for when it is alive)."""

    group: str
    name: str
    alive: bool
    state: str  # the worker's own state while its hash lives ("running", "stopped", ...), else "gone"
    last_seen: float  # seconds since the epoch
    host: str = ""
    pid: int | None = None
    streams: list[str] = field(default_factory=list)
    started: float | None = None
    processed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    rate: float = 0.0

    @property
    def last_seen_time(self) -> datetime | None:
        return _moment(self.last_seen)

    @property
    def started_time(self) -> datetime | None:
        return _moment(self.started)


def _moment(seconds: float | None) -> datetime | None:
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _number(raw: str | None, kind: type, default):
    try:
        value = kind(raw) if raw not in (None, "") else default
    except (TypeError, ValueError, OverflowError):
        return default
    return value if not isinstance(value, float) or math.isfinite(value) else default


def _streams(raw: str | None) -> list[str]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return [raw] if raw else []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


class HeartbeatStore:
    """Read-only access to the workers index and heartbeat hashes."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @redis_call
    def workers(self, *, limit: int = 500) -> list[WorkerHeartbeat]:
        """The `limit` most recently seen workers, newest first, each live or gone."""
        members = index_members(self.client.zrevrange(workers_index_key(), 0, limit - 1, withscores=True))
        pipe = self.client.pipeline(transaction=False)
        for group, name, _ in members:
            pipe.hgetall(heartbeat_key(group, name))
        hashes = pipe.execute() if members else []
        return [worker_heartbeat(*member, raw) for member, raw in zip(members, hashes, strict=True)]


def index_members(rows) -> list[tuple[str, str, float]]:
    """(group, name, last seen) of each member of the workers index."""
    members = []
    for raw_member, score in rows:
        group, _, name = text(raw_member).partition("\t")
        members.append((group, name, float(score)))
    return members


def worker_heartbeat(group: str, name: str, score: float, raw: dict | None) -> WorkerHeartbeat:
    """A worker from its index entry and its heartbeat hash (None or empty once it expired).

    The one rule for "alive": the heartbeat hash is there and does not say the worker stopped.
    Values another program wrote into the hash read as their defaults, never as an error.
    """
    status = {text(key): text(value) for key, value in (raw or {}).items()}
    if not status:
        return WorkerHeartbeat(group=group, name=name, alive=False, state=GONE, last_seen=score)
    state = status.get("state") or "running"
    return WorkerHeartbeat(
        group=group,
        name=name,
        alive=state != STOPPED,
        state=state,
        last_seen=_number(status.get("last_seen"), float, score),
        host=status.get("host", ""),
        pid=_number(status.get("pid"), int, None),
        streams=_streams(status.get("streams")),
        started=_number(status.get("started"), float, None),
        processed=_number(status.get("processed"), int, 0),
        failed=_number(status.get("failed"), int, 0),
        dead_lettered=_number(status.get("dead_lettered"), int, 0),
        rate=_number(status.get("rate"), float, 0.0),
    )
