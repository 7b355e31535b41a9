"""One name, one process: a worker holds a lock on its name in its group while it runs, so
two processes never share one pending list. A holder on this host whose process is gone
(killed) is taken over at once; elsewhere the lock frees when its holder stops renewing it."""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from streams_app.gateway.keys import name_lock_key
from streams_app.gateway.worker_io import WorkerIO

logger = logging.getLogger("streams_app.worker")


class WorkerRefused(Exception):
    """Another live process already runs under this name in this group."""


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds a name lock, as its token says."""

    host: str | None
    pid: int | None


class NameLock:
    """The lock on a worker's name in its group; its token says who holds it."""

    def __init__(
        self, io: WorkerIO, *, group: str, name: str, host: str, pid: int, started: float, ttl_ms: int
    ) -> None:
        self.io = io
        self.group = group
        self.name = name
        self.host = host
        self.ttl_ms = ttl_ms
        self.key = name_lock_key(group, name)
        self.token = json.dumps({"host": host, "pid": pid, "started": started, "token": uuid.uuid4().hex})

    def acquire(self) -> None:
        """Take the name, or take it over from a dead holder on this host; WorkerRefused if a live process has it."""
        if self.io.hold_lock(self.key, self.token, self.ttl_ms):
            return
        holder_token = self.io.lock_holder(self.key)
        holder = parse_holder(holder_token)
        # A holder on this host whose process is gone (killed) cannot renew: take over at once.
        holder_is_dead = holder is not None and holder.host == self.host and not process_alive(holder.pid or 0)
        if holder_is_dead and self.io.take_over_lock(self.key, holder_token or "", self.token, self.ttl_ms):
            logger.info("taking over the name %s from pid %s, which is no longer running", self.name, holder.pid)
            return
        where = f"pid {holder.pid} on {holder.host}" if holder else "another process"
        raise WorkerRefused(
            f"A worker named {self.name} is already running in group {self.group} ({where}). "
            "Two processes with one name would share one pending list: stop that one first, or choose another name."
        )


def parse_holder(token: str | None) -> LockHolder | None:
    """The holder a lock token names, or None if the token is missing or not ours."""
    if not token:
        return None
    try:
        holder = json.loads(token)
    except ValueError:
        return None
    if not isinstance(holder, dict):
        return None
    host, pid = holder.get("host"), holder.get("pid")
    return LockHolder(host=str(host) if host is not None else None, pid=_as_pid(pid))


def process_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host (a zombie does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        # A zombie (killed, not yet reaped) is not running.
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _as_pid(raw: object) -> int | None:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        return None
    try:
        return int(raw)
    except ValueError:
        return None
