"""Background jobs as the pages see them: starting one, its status, and its progress (kept in
the job's meta and pushed to open pages over the channel layer)."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from streams_app.gateway.job_queue import (
    JobRecord,
    RunningJob,
    is_job_id,
    job_enqueue,
    job_record,
    recent_job_records,
)
from streams_app.templatetags.group_tags import duration_ms

logger = logging.getLogger("streams_app.jobs")

PUSH_EVERY_SECONDS = 0.2
# What a finished job of each kind returns its count under, and what the count is of.
PROCESSED = {"simulate": ("written", "written"), "export": ("entries", "exported"), "trim": ("removed", "removed")}


def job_group(job_id: str) -> str:
    """The channel-layer group of a job's page (ASCII letters, digits, hyphens and periods only,
    under 100 characters, as Channels requires); an ID no job can have gets a group no job uses."""
    if is_job_id(job_id) and len(job_id) <= 90:
        return f"job.{job_id}"
    return "job.invalid-" + hashlib.sha256(str(job_id).encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class JobStatus:
    id: str
    kind: str
    title: str
    state: str  # queued, started, finished, failed, stopped, canceled, deferred, scheduled
    done: int
    total: int | None
    fraction: float
    message: str
    error: str
    user_id: int | None
    download: str | None
    arguments: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    processed: int | None = None  # entries written, exported or removed (so far, while it runs)
    size: int | None = None  # bytes of the download, once there is one

    @property
    def percent(self) -> int:
        return round(self.fraction * 100)

    @property
    def finished(self) -> bool:
        return self.state in {"finished", "failed", "stopped", "canceled"}

    @property
    def duration(self) -> timedelta | None:
        """How long it ran (so far, while it runs); None before it starts."""
        if self.started_at is None:
            return None
        end = self.ended_at or (None if self.finished else datetime.now(UTC))
        return None if end is None else max(timedelta(0), end - self.started_at)

    @property
    def started_text(self) -> str:
        return _moment_text(self.started_at)

    @property
    def finished_text(self) -> str:
        return _moment_text(self.ended_at)

    @property
    def duration_text(self) -> str:
        return "" if self.duration is None else duration_ms(self.duration / timedelta(milliseconds=1))

    @property
    def size_text(self) -> str:
        """The download's size and the entries in it, or the entries the job went through."""
        parts = [filesizeformat(self.size).replace("\xa0", " ")] if self.size is not None else []
        if self.processed is not None:
            parts.append(f"{self.processed:,} entries {PROCESSED.get(self.kind, ('', 'processed'))[1]}")
        return ", ".join(parts)

    def as_message(self) -> dict[str, Any]:
        return {
            "type": "job",
            "id": self.id,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "percent": self.percent,
            "message": self.message,
            "error": self.error,
            "download": self.download,
            "started": self.started_text,
            "finished": self.finished_text,
            "duration": self.duration_text,
            "size": self.size_text,
        }

    @classmethod
    def of(cls, record: JobRecord) -> JobStatus:
        meta = record.meta
        error = meta.get("error") or ""
        if record.state == "failed" and not error:
            error = record.failure or "The job failed."
        return cls(
            id=record.id,
            kind=meta.get("kind", ""),
            title=meta.get("title", record.description),
            state=record.state,
            done=int(meta.get("done") or 0),
            total=meta.get("total"),
            fraction=1.0 if record.state == "finished" else float(meta.get("fraction") or 0.0),
            message=meta.get("message", ""),
            error=error,
            user_id=meta.get("user_id"),
            download=meta.get("download"),
            arguments=record.arguments,
            started_at=record.started_at,
            ended_at=record.ended_at,
            processed=_processed(record),
            size=_download_size(meta.get("download")),
        )


def _processed(record: JobRecord) -> int | None:
    """The count a finished job returned; while it runs (or in a list, where results are not
    read), the progress it last saved; None when neither says."""
    key = PROCESSED.get(record.meta.get("kind", ""), ("",))[0]
    if record.result is not None and isinstance(record.result.get(key), int):
        return record.result[key]
    done = record.meta.get("done")
    return done if isinstance(done, int) and done > 0 else None


EXPORT_DIR_NAME = "exports"


def export_dir() -> Path:
    """Where export jobs write their files (and downloads are served from)."""
    return Path(settings.VAR_DIR) / EXPORT_DIR_NAME


def _download_size(download: str | None) -> int | None:
    if not download:
        return None
    try:
        return (export_dir() / Path(download).name).stat().st_size
    except OSError:
        return None


def _moment_text(moment: datetime | None) -> str:
    """A job's time as the pages show times: in the site's time zone, to the second."""
    return "" if moment is None else timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


def job_start(*, kind: str, func: Callable[..., Any], kwargs: dict[str, Any], title: str, user_id: int | None) -> str:
    """Enqueue a job and remember it for the jobs page; returns its ID."""
    return job_enqueue(
        func,
        kwargs=kwargs,
        description=title,
        meta={
            "kind": kind,
            "title": title,
            "user_id": user_id,
            "done": 0,
            "total": None,
            "fraction": 0.0,
            "message": "waiting for the job worker",
            "error": "",
        },
    )


def job_status(job_id: str) -> JobStatus:
    """A job's status; NotFound when it is gone."""
    return JobStatus.of(job_record(job_id))


def recent_jobs(limit: int, *, user_id: int | None = None) -> list[JobStatus]:
    """The newest `limit` jobs (of the user `user_id` only, when given), newest first."""
    if user_id is None:
        return [JobStatus.of(record) for record in recent_job_records(limit)]
    # The index is shared: look further back for the user's own, within a bound.
    mine = [JobStatus.of(record) for record in recent_job_records(limit * 10) if record.meta.get("user_id") == user_id]
    return mine[:limit]


class JobProgress:
    """Progress of the running job: saved in its meta (what a page reads on connect)
    and pushed to open pages at most five times a second."""

    def __init__(self, job: RunningJob | None) -> None:
        self.job = job
        self.last_push = 0.0
        self.layer = get_channel_layer()

    def update(self, *, done: int, total: int | None, fraction: float, message: str, force: bool = False) -> None:
        if self.job is None:
            return
        now = time.monotonic()
        if not force and now - self.last_push < PUSH_EVERY_SECONDS:
            return
        self.last_push = now
        self.job.save_meta({"done": done, "total": total, "fraction": max(0.0, min(1.0, fraction)), "message": message})
        self.push()

    def fail(self, message: str) -> None:
        if self.job is None:
            return
        self.job.save_meta({"error": message, "message": "failed"})
        self.push(state="failed")

    def finish(self, *, message: str, download: str | None = None) -> None:
        if self.job is None:
            return
        self.job.save_meta({"fraction": 1.0, "message": message, "download": download})
        self.push(state="finished")

    def push(self, state: str | None = None) -> None:
        if self.layer is None or self.job is None:
            return
        current = JobStatus.of(self.job.record())
        if state:
            # Said from inside the job, before RQ records its end: the end is now.
            ended = current.ended_at or datetime.now(UTC)
            current = replace(current, state=state, ended_at=ended)
            if state == "finished":
                current = replace(current, fraction=1.0)
        status = current.as_message()
        try:
            async_to_sync(self.layer.group_send)(job_group(self.job.id), {"type": "job.progress", "status": status})
        except Exception:
            logger.warning("could not push progress of job %s", self.job.id, exc_info=True)
